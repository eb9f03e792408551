// Links, addresses and routes through rtnetlink (libnl-route-3), and network namespaces.
//
// A Netlink owns one rtnetlink socket. A netlink socket acts on the network namespace it was
// created in, for its whole life, whichever thread uses it later: Netlink::openIn() enters a
// pinned namespace just long enough to create the socket, so the pod's links are then managed
// from a thread that never leaves the host namespace.
//
// Errors name the operation, the object and, for a foreign namespace, its pinned path:
//   "add address 10.88.0.5/16 to eth0 (netns /run/boxd/netns/x): Object exists".
// libnl codes are translated to the nearest errno in Error::code.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

struct nl_sock;

namespace boxd::reconcilers::net {

// True if name is a valid interface name: 1..15 bytes, no '/', ':' or whitespace, not "."/"..".
bool validIfName(std::string_view name);
// True for "a.b.c.d/len" with len 0..32, and for plain "a.b.c.d" when !requirePrefix.
bool validIPv4(std::string_view text, bool requirePrefix);

// True if path is a pinned namespace (a mount of nsfs); absent = false.
Result<bool> isPinnedNetns(const std::string& path);

// Moves the calling thread into another network namespace until the guard is destroyed, then
// back to the namespace it came from. Only the calling thread moves; the destructor aborts the
// process if the kernel refuses to move it back, since a worker thread silently left in a
// pod's namespace would run later work in the wrong network.
class NetnsGuard {
 public:
  // The namespace pinned at path (a bind mount of /proc/.../ns/net, see NetnsStep).
  static Result<NetnsGuard> enter(const std::string& path);
  static Result<NetnsGuard> enterFd(int netnsFd, const std::string& display);
  // A new, empty network namespace (only a down `lo`); it dies with the guard unless pinned.
  static Result<NetnsGuard> enterNew();

  NetnsGuard(NetnsGuard&&) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;
  NetnsGuard(const NetnsGuard&) = delete;
  ~NetnsGuard();

 private:
  explicit NetnsGuard(Fd original) : original_(std::move(original)) {}
  Fd original_;  // the thread's namespace before; invalid once moved from
};

struct LinkInfo {
  int index = 0;
  std::string type;  // rtnetlink kind: "bridge", "veth"; empty for a physical device or lo
  bool up = false;   // administratively up (IFF_UP)
  int master = 0;    // ifindex of the bridge it is a port of, 0 if none
  int peer = 0;      // IFLA_LINK: a veth's peer ifindex, counted in the peer's namespace
  unsigned mtu = 0;
};

class Netlink {
 public:
  // A socket in the calling thread's network namespace.
  static Result<Netlink> open();
  // A socket in the namespace pinned at netnsPath; the calling thread stays where it is.
  static Result<Netlink> openIn(const std::string& netnsPath);

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  // nullopt when no link has that name.
  Result<std::optional<LinkInfo>> link(const std::string& name);
  Status createBridge(const std::string& name, unsigned mtu);  // mtu 0 = kernel default
  // A veth pair: `name` here, `peerName` created directly inside the namespace peerNetnsFd
  // (IFLA_NET_NS_FD), so the pod side never appears under a temporary name. mtu 0 = default.
  Status createVeth(const std::string& name, const std::string& peerName, int peerNetnsFd,
                    unsigned mtu);
  Status setUp(const std::string& name);
  Status setMtu(const std::string& name, unsigned mtu);
  Status setMaster(const std::string& name, const std::string& bridge);
  Status deleteLink(const std::string& name);  // absent = ok

  // cidr is "10.88.0.5/16"; an address matches on both the address and the prefix length.
  Result<bool> hasAddress(const std::string& name, const std::string& cidr);
  Status addAddress(const std::string& name, const std::string& cidr);     // present = ok
  Status deleteAddress(const std::string& name, const std::string& cidr);  // absent = ok
  // The IPv4 default route of the main table, via gateway on link `name`.
  Result<bool> hasDefaultRoute(const std::string& name, const std::string& gateway);
  Status setDefaultRoute(const std::string& name, const std::string& gateway);  // replaces

 private:
  Netlink(nl_sock* sock, std::string where);
  Result<int> indexOf(const std::string& name, std::string_view op);
  std::string on(std::string_view object) const;  // object + " (netns ...)" when foreign

  nl_sock* sock_ = nullptr;
  std::string where_;  // pinned path of a foreign namespace, empty for the caller's own
};

// The shared pod bridge: created if missing (an existing link of that name must be a bridge),
// gatewayCidr added if missing, MTU set when mtu != 0, IPv6 off, up, and route_localnet set to
// routeLocalnet (on so hostPort DNAT to 127.0.0.1 can be routed to pods; only safe with the
// localnet guard in place, see localnet_guard.h). Call from the host namespace. Never removed
// by a pod's undo: bridges are shared; tests and tools remove them with Netlink::deleteLink().
Status ensureBridge(Netlink& host, const std::string& name, const std::string& gatewayCidr,
                    unsigned mtu = 0, bool routeLocalnet = true);

}  // namespace boxd::reconcilers::net
