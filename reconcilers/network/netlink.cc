#include "reconcilers/network/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/util.h"
#include "reconcilers/network/sysctl.h"

namespace boxd::reconcilers::net {

namespace {

// ---- libnl handles ----

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RtAddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, RtAddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

// libnl reports its own codes (NLE_*), negated; Error::code carries the nearest errno.
int nlToErrno(int nlerr) {
  switch (nlerr < 0 ? -nlerr : nlerr) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
      return ENOENT;
    case NLE_NODEV:
      return ENODEV;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_BUSY:
      return EBUSY;
    case NLE_INVAL:
      return EINVAL;
    case NLE_RANGE:
      return ERANGE;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_INTR:
      return EINTR;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_NOADDR:
      return EADDRNOTAVAIL;
    default:
      return EIO;
  }
}

Error nlError(std::string_view op, std::string_view object, int nlerr) {
  return makeError(std::string(op) + " " + std::string(object) + ": " + nl_geterror(nlerr),
                   nlToErrno(nlerr));
}

bool isAbsent(int nlerr) { return nlerr == -NLE_OBJ_NOTFOUND || nlerr == -NLE_NODEV; }

Result<AddrPtr> parseAddr(const std::string& text, bool requirePrefix) {
  if (!validIPv4(text, requirePrefix))
    return makeError("\"" + text + "\" is not an IPv4 address" + (requirePrefix ? "/prefix" : ""),
                     EINVAL);
  nl_addr* a = nullptr;
  int err = nl_addr_parse(text.c_str(), AF_INET, &a);
  if (err < 0) return nlError("parse address", text, err);
  return AddrPtr(a);
}

bool sameAddr(nl_addr* a, nl_addr* b) {
  return a != nullptr && b != nullptr && nl_addr_get_family(a) == nl_addr_get_family(b) &&
         nl_addr_get_len(a) == nl_addr_get_len(b) &&
         std::memcmp(nl_addr_get_binary_addr(a), nl_addr_get_binary_addr(b), nl_addr_get_len(a)) ==
             0;
}

// The directed broadcast of an IPv4 prefix, as `ip addr add ... brd +` sets it; null for /31, /32.
AddrPtr broadcastOf(nl_addr* local) {
  unsigned len = nl_addr_get_prefixlen(local);
  if (len >= 31) return nullptr;
  uint32_t ip = 0;
  std::memcpy(&ip, nl_addr_get_binary_addr(local), sizeof ip);
  uint32_t host = len == 0 ? 0xffffffffu : (0xffffffffu >> len);
  ip = htonl(ntohl(ip) | host);
  return AddrPtr(nl_addr_build(AF_INET, &ip, sizeof ip));
}

}  // namespace

// ---- validation ----

bool validIfName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

bool validIPv4(std::string_view text, bool requirePrefix) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos && requirePrefix) return false;
  std::string ip(text.substr(0, slash));
  in_addr a{};
  if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
  if (slash == std::string_view::npos) return true;
  std::string_view len = text.substr(slash + 1);
  if (len.empty() || len.size() > 2) return false;
  int n = 0;
  for (char c : len) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n <= 32;
}

Result<bool> isPinnedNetns(const std::string& path) {
  struct statfs sfs {};
  if (::statfs(path.c_str(), &sfs) != 0) {
    if (errno == ENOENT) return false;
    return sysError("statfs", path);
  }
  return static_cast<unsigned long>(sfs.f_type) == NSFS_MAGIC;
}

// ---- NetnsGuard ----

namespace {
Result<Fd> currentNetns() {
  Fd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self) return sysError("open", "/proc/thread-self/ns/net");
  return self;
}
}  // namespace

Result<NetnsGuard> NetnsGuard::enterFd(int netnsFd, const std::string& display) {
  auto original = currentNetns();
  if (!original.ok()) return original.error();
  if (::setns(netnsFd, CLONE_NEWNET) != 0) {
    if (errno == EINVAL)
      return makeError("enter netns " + display + ": not a network namespace", EINVAL);
    return sysError("enter netns", display);
  }
  return NetnsGuard(std::move(*original));
}

Result<NetnsGuard> NetnsGuard::enter(const std::string& path) {
  Fd ns(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return sysError("open netns", path);
  return enterFd(ns.get(), path);
}

Result<NetnsGuard> NetnsGuard::enterNew() {
  auto original = currentNetns();
  if (!original.ok()) return original.error();
  if (::unshare(CLONE_NEWNET) != 0) return sysError("unshare", "network namespace");
  return NetnsGuard(std::move(*original));
}

NetnsGuard::~NetnsGuard() {
  if (!original_) return;
  if (::setns(original_.get(), CLONE_NEWNET) != 0) {
    static const char msg[] = "boxd: cannot return a thread to its network namespace; aborting\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    std::abort();
  }
}

// ---- Netlink ----

Netlink::Netlink(nl_sock* sock, std::string where) : sock_(sock), where_(std::move(where)) {}

Netlink::Netlink(Netlink&& other) noexcept
    : sock_(std::exchange(other.sock_, nullptr)), where_(std::move(other.where_)) {}

Netlink& Netlink::operator=(Netlink&& other) noexcept {
  if (this != &other) {
    if (sock_ != nullptr) nl_socket_free(sock_);
    sock_ = std::exchange(other.sock_, nullptr);
    where_ = std::move(other.where_);
  }
  return *this;
}

Netlink::~Netlink() {
  if (sock_ != nullptr) nl_socket_free(sock_);  // closes the fd too
}

Result<Netlink> Netlink::open() {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return makeError("allocate netlink socket", ENOMEM);
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err < 0) {
    nl_socket_free(sock);
    return nlError("connect", "rtnetlink socket", err);
  }
  // libnl opens it with SOCK_CLOEXEC; say so again in case an older libnl did not.
  (void)::fcntl(nl_socket_get_fd(sock), F_SETFD, FD_CLOEXEC);
  return Netlink(sock, "");
}

Result<Netlink> Netlink::openIn(const std::string& netnsPath) {
  auto guard = NetnsGuard::enter(netnsPath);
  if (!guard.ok()) return guard.error();
  auto nl = open();
  if (!nl.ok()) return nl.error().wrap("netns " + netnsPath);
  nl->where_ = netnsPath;
  return nl;
}

std::string Netlink::on(std::string_view object) const {
  if (where_.empty()) return std::string(object);
  return std::string(object) + " (netns " + where_ + ")";
}

Result<std::optional<LinkInfo>> Netlink::link(const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
  if (isAbsent(err)) return std::optional<LinkInfo>{};
  if (err < 0) return nlError("get link", on(name), err);
  LinkPtr l(raw);
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(l.get());
  const char* type = rtnl_link_get_type(l.get());
  info.type = type != nullptr ? type : "";
  info.up = (rtnl_link_get_flags(l.get()) & IFF_UP) != 0;
  info.master = rtnl_link_get_master(l.get());
  info.peer = rtnl_link_get_link(l.get());
  info.mtu = rtnl_link_get_mtu(l.get());
  return std::optional<LinkInfo>(info);
}

Result<int> Netlink::indexOf(const std::string& name, std::string_view op) {
  auto l = link(name);
  if (!l.ok()) return l.error();
  if (!*l) return makeError(std::string(op) + " " + on(name) + ": no such link", ENODEV);
  return (*l)->index;
}

Status Netlink::createBridge(const std::string& name, unsigned mtu) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) return makeError("allocate link", ENOMEM);
  int err = rtnl_link_set_type(l.get(), "bridge");
  if (err < 0) return nlError("create bridge", on(name), err);
  rtnl_link_set_name(l.get(), name.c_str());
  if (mtu != 0) rtnl_link_set_mtu(l.get(), mtu);
  err = rtnl_link_add(sock_, l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nlError("create bridge", on(name), err);
  return {};
}

Status Netlink::createVeth(const std::string& name, const std::string& peerName, int peerNetnsFd,
                           unsigned mtu) {
  LinkPtr l(rtnl_link_veth_alloc());
  if (!l) return makeError("allocate veth", ENOMEM);
  LinkPtr peer(rtnl_link_veth_get_peer(l.get()));  // takes a reference of its own
  rtnl_link_set_name(l.get(), name.c_str());
  rtnl_link_set_name(peer.get(), peerName.c_str());
  rtnl_link_set_ns_fd(peer.get(), peerNetnsFd);
  if (mtu != 0) {
    rtnl_link_set_mtu(l.get(), mtu);
    rtnl_link_set_mtu(peer.get(), mtu);
  }
  int err = rtnl_link_add(sock_, l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nlError("create veth", on(name) + " with peer " + peerName, err);
  return {};
}

namespace {
// Applies `change` to the link `name` (RTM_NEWLINK, falling back to RTM_SETLINK in libnl).
int changeLink(nl_sock* sock, const std::string& name, rtnl_link* change) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
  if (err < 0) return err;
  LinkPtr orig(raw);
  return rtnl_link_change(sock, orig.get(), change, 0);
}
}  // namespace

Status Netlink::setUp(const std::string& name) {
  LinkPtr change(rtnl_link_alloc());
  if (!change) return makeError("allocate link", ENOMEM);
  rtnl_link_set_flags(change.get(), IFF_UP);
  int err = changeLink(sock_, name, change.get());
  if (err < 0) return nlError("set up", on(name), err);
  return {};
}

Status Netlink::setMtu(const std::string& name, unsigned mtu) {
  LinkPtr change(rtnl_link_alloc());
  if (!change) return makeError("allocate link", ENOMEM);
  rtnl_link_set_mtu(change.get(), mtu);
  int err = changeLink(sock_, name, change.get());
  if (err < 0) return nlError("set mtu " + std::to_string(mtu) + " on", on(name), err);
  return {};
}

Status Netlink::setMaster(const std::string& name, const std::string& bridge) {
  auto master = indexOf(bridge, "attach " + name + " to");
  if (!master.ok()) return master.error();
  LinkPtr change(rtnl_link_alloc());
  if (!change) return makeError("allocate link", ENOMEM);
  rtnl_link_set_master(change.get(), *master);
  int err = changeLink(sock_, name, change.get());
  if (err < 0) return nlError("attach to bridge " + bridge + ":", on(name), err);
  return {};
}

Status Netlink::deleteLink(const std::string& name) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) return makeError("allocate link", ENOMEM);
  rtnl_link_set_name(l.get(), name.c_str());
  int err = rtnl_link_delete(sock_, l.get());
  if (err < 0 && !isAbsent(err)) return nlError("delete link", on(name), err);
  return {};
}

Result<bool> Netlink::hasAddress(const std::string& name, const std::string& cidr) {
  auto want = parseAddr(cidr, true);
  if (!want.ok()) return want.error();
  auto index = indexOf(name, "list addresses of");
  if (!index.ok()) return index.error();
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock_, &raw);
  if (err < 0) return nlError("list addresses of", on(name), err);
  CachePtr cache(raw);
  for (nl_object* o = nl_cache_get_first(raw); o != nullptr; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != *index || rtnl_addr_get_family(a) != AF_INET) continue;
    if (static_cast<unsigned>(rtnl_addr_get_prefixlen(a)) != nl_addr_get_prefixlen(want->get()))
      continue;
    if (sameAddr(rtnl_addr_get_local(a), want->get())) return true;
  }
  return false;
}

Status Netlink::addAddress(const std::string& name, const std::string& cidr) {
  auto local = parseAddr(cidr, true);
  if (!local.ok()) return local.error();
  auto index = indexOf(name, "add address " + cidr + " to");
  if (!index.ok()) return index.error();
  RtAddrPtr a(rtnl_addr_alloc());
  if (!a) return makeError("allocate address", ENOMEM);
  rtnl_addr_set_ifindex(a.get(), *index);
  int err = rtnl_addr_set_local(a.get(), local->get());
  if (err >= 0)
    rtnl_addr_set_prefixlen(a.get(), static_cast<int>(nl_addr_get_prefixlen(local->get())));
  AddrPtr brd = broadcastOf(local->get());
  if (err >= 0 && brd) err = rtnl_addr_set_broadcast(a.get(), brd.get());
  if (err >= 0) err = rtnl_addr_add(sock_, a.get(), 0);
  if (err < 0 && err != -NLE_EXIST) return nlError("add address " + cidr + " to", on(name), err);
  return {};
}

Status Netlink::deleteAddress(const std::string& name, const std::string& cidr) {
  auto local = parseAddr(cidr, true);
  if (!local.ok()) return local.error();
  auto l = link(name);
  if (!l.ok()) return l.error();
  if (!*l) return {};
  RtAddrPtr a(rtnl_addr_alloc());
  if (!a) return makeError("allocate address", ENOMEM);
  rtnl_addr_set_ifindex(a.get(), (*l)->index);
  int err = rtnl_addr_set_local(a.get(), local->get());
  if (err >= 0)
    rtnl_addr_set_prefixlen(a.get(), static_cast<int>(nl_addr_get_prefixlen(local->get())));
  if (err >= 0) err = rtnl_addr_delete(sock_, a.get(), 0);
  if (err < 0 && err != -NLE_NOADDR && !isAbsent(err))
    return nlError("delete address " + cidr + " from", on(name), err);
  return {};
}

namespace {
bool isDefaultVia(rtnl_route* r, int index, nl_addr* gateway) {
  if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST)
    return false;
  nl_addr* dst = rtnl_route_get_dst(r);
  if (dst != nullptr && nl_addr_get_prefixlen(dst) != 0) return false;
  if (rtnl_route_get_nnexthops(r) != 1) return false;
  rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
  return rtnl_route_nh_get_ifindex(nh) == index && sameAddr(rtnl_route_nh_get_gateway(nh), gateway);
}
}  // namespace

Result<bool> Netlink::hasDefaultRoute(const std::string& name, const std::string& gateway) {
  auto gw = parseAddr(gateway, false);
  if (!gw.ok()) return gw.error();
  auto index = indexOf(name, "list routes of");
  if (!index.ok()) return index.error();
  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw);
  if (err < 0) return nlError("list routes of", on(name), err);
  CachePtr cache(raw);
  for (nl_object* o = nl_cache_get_first(raw); o != nullptr; o = nl_cache_get_next(o)) {
    if (isDefaultVia(reinterpret_cast<rtnl_route*>(o), *index, gw->get())) return true;
  }
  return false;
}

Status Netlink::setDefaultRoute(const std::string& name, const std::string& gateway) {
  const std::string what = "set default route via " + gateway + " on";
  auto gw = parseAddr(gateway, false);
  if (!gw.ok()) return gw.error();
  auto dst = parseAddr("0.0.0.0/0", true);
  if (!dst.ok()) return dst.error();
  auto index = indexOf(name, what);
  if (!index.ok()) return index.error();
  RoutePtr r(rtnl_route_alloc());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!r || nh == nullptr) {
    if (nh != nullptr) rtnl_route_nh_free(nh);
    return makeError("allocate route", ENOMEM);
  }
  rtnl_route_nh_set_ifindex(nh, *index);
  rtnl_route_nh_set_gateway(nh, gw->get());
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns it now
  int err = rtnl_route_set_family(r.get(), AF_INET);
  if (err >= 0) err = rtnl_route_set_dst(r.get(), dst->get());
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(r.get(), RTPROT_BOOT);
  if (err >= 0) err = rtnl_route_set_type(r.get(), RTN_UNICAST);
  if (err >= 0) err = rtnl_route_add(sock_, r.get(), NLM_F_REPLACE);
  if (err < 0) return nlError(what, on(name), err);
  return {};
}

// ---- the shared bridge ----

Status ensureBridge(Netlink& host, const std::string& name, const std::string& gatewayCidr,
                    unsigned mtu, bool routeLocalnet) {
  if (!validIfName(name)) return makeError("invalid bridge name \"" + name + "\"", EINVAL);
  auto l = host.link(name);
  if (!l.ok()) return l.error();
  if (!*l) {
    Status st = host.createBridge(name, mtu);
    // Another pod's step may have created it in the meantime: the bridge is shared.
    if (!st.ok() && st.error().code != EEXIST) return st;
    l = host.link(name);
    if (!l.ok()) return l.error();
    if (!*l) return makeError("create bridge " + name + ": gone right after creation", ENODEV);
  }
  if ((*l)->type != "bridge")
    return makeError("link " + name + " exists and is not a bridge (type \"" + (*l)->type + "\")",
                     EEXIST);
  if (mtu != 0 && (*l)->mtu != mtu) BOXD_TRY(host.setMtu(name, mtu));
  auto has = host.hasAddress(name, gatewayCidr);
  if (!has.ok()) return has.error();
  if (!*has) BOXD_TRY(host.addAddress(name, gatewayCidr));
  // Lets DNAT to 127.0.0.1 (hostPort on loopback) leave through the bridge; off when nothing
  // needs it. Either way the localnet guard (localnet_guard.h) drops what pods send to 127/8.
  Status st = writeSysctl(sysctlPath({"net", "ipv4", "conf", name, "route_localnet"}),
                          routeLocalnet ? "1" : "0");
  if (!st.ok()) return st.error().wrap("bridge " + name);
  // Pods are IPv4 only: the host takes no IPv6 from them (no link-local address on the bridge,
  // nothing that the IPv4 guard and NAT rules do not see). Before the link goes up, so no
  // address is ever configured. A kernel without IPv6 has no such file.
  const std::string v6 = sysctlPath({"net", "ipv6", "conf", name, "disable_ipv6"});
  if (::access(v6.c_str(), F_OK) == 0) {
    st = writeSysctl(v6, "1");
    if (!st.ok()) return st.error().wrap("bridge " + name);
  }
  if (!(*l)->up) BOXD_TRY(host.setUp(name));
  return {};
}

}  // namespace boxd::reconcilers::net
