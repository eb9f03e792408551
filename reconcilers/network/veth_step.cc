#include "reconcilers/network/veth_step.h"

#include <fcntl.h>

#include <cerrno>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/network/localnet_guard.h"
#include "reconcilers/network/nat.h"
#include "reconcilers/network/netlink.h"

namespace boxd::reconcilers {

namespace {

using net::Netlink;

Status checkSpec(const VethSpec& s) {
  const std::pair<const char*, const std::string*> names[] = {
      {"bridge", &s.bridge}, {"hostIf", &s.hostIf}, {"podIf", &s.podIf}};
  for (const auto& [key, value] : names) {
    if (!net::validIfName(*value))
      return makeError("veth step: \"" + std::string(key) +
                           "\" is not a valid interface name (1-15 " +
                           "chars, no '/', ':' or spaces): \"" + *value + "\"",
                       EINVAL);
  }
  if (s.podIf == "lo") return makeError("veth step: podIf cannot be \"lo\"", EINVAL);
  if (s.netns.empty() || s.netns[0] != '/')
    return makeError("veth step: \"netns\" must be an absolute path: \"" + s.netns + "\"", EINVAL);
  const std::pair<const char*, const std::string*> cidrs[] = {{"gatewayCidr", &s.gatewayCidr},
                                                              {"address", &s.address}};
  for (const auto& [key, value] : cidrs) {
    if (!net::validIPv4(*value, true))
      return makeError(
          "veth step: \"" + std::string(key) + "\" must be an IPv4 a.b.c.d/len: \"" + *value + "\"",
          EINVAL);
  }
  if (!net::validIPv4(s.gateway, false) || s.gateway.find('/') != std::string::npos)
    return makeError("veth step: \"gateway\" must be an IPv4 address: \"" + s.gateway + "\"",
                     EINVAL);
  // Both go into an nft script (the guard's set element and table name).
  if (!s.nftTable.empty() &&
      (!net::plainNftName(s.nftTable, 64) || !net::plainNftName(s.bridge, 15)))
    return makeError("veth step: \"nftTable\" \"" + s.nftTable + "\" and \"bridge\" \"" + s.bridge +
                         "\" must be plain names (letters, digits, _ - .)",
                     EINVAL);
  return {};
}

Result<std::string> stringParam(const nlohmann::json& p, const char* key) {
  if (!p.is_object() || !p.contains(key) || !p[key].is_string())
    return makeError(std::string("veth step: params need a string \"") + key + "\": " + p.dump(),
                     EINVAL);
  return p[key].get<std::string>();
}

Status needPinned(const std::string& netns) {
  auto pinned = net::isPinnedNetns(netns);
  if (!pinned.ok()) return pinned.error();
  if (!*pinned)
    return makeError("netns " + netns + " is not pinned (the netns step comes first)", ENOENT);
  return {};
}

// Leaves exactly one veth pair hostIf <-> podIf (podIf inside the netns). A pair that is
// already right is kept; a half or stale pair is deleted and made again.
Status ensurePair(const VethSpec& s, Netlink& host, Netlink& pod, unsigned mtu) {
  auto h = host.link(s.hostIf);
  if (!h.ok()) return h.error();
  if (*h && (*h)->type != "veth")
    return makeError("link " + s.hostIf + " exists and is not a veth (type \"" + (*h)->type +
                         "\"); refusing to replace it",
                     EEXIST);
  auto p = pod.link(s.podIf);
  if (!p.ok()) return p.error();
  if (*h && *p && (*p)->peer == (*h)->index) return {};
  if (*h) BOXD_TRY(host.deleteLink(s.hostIf));  // its peer, wherever it was, goes with it
  BOXD_TRY(pod.deleteLink(s.podIf));            // a stale podIf that was not its peer
  Fd ns(::open(s.netns.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return sysError("open netns", s.netns);
  return host.createVeth(s.hostIf, s.podIf, ns.get(), mtu);
}

}  // namespace

VethStep::VethStep(VethSpec spec) : spec_(std::move(spec)) {}

Result<std::unique_ptr<VethStep>> VethStep::fromParams(const nlohmann::json& params, Host&) {
  VethSpec s;
  const std::pair<const char*, std::string*> required[] = {
      {"netns", &s.netns},   {"bridge", &s.bridge},   {"gatewayCidr", &s.gatewayCidr},
      {"hostIf", &s.hostIf}, {"address", &s.address}, {"gateway", &s.gateway}};
  for (const auto& [key, out] : required) {
    auto v = stringParam(params, key);
    if (!v.ok()) return v.error();
    *out = *v;
  }
  if (params.contains("podIf")) {
    auto v = stringParam(params, "podIf");
    if (!v.ok()) return v.error();
    s.podIf = *v;
  }
  if (params.contains("mtu")) {
    const auto& m = params["mtu"];
    // A value read back from SQLite or built from an int is a signed JSON integer.
    if (!m.is_number_integer() || m.get<int64_t>() < 0 || m.get<int64_t>() > 65535)
      return makeError("veth step: \"mtu\" must be 0..65535: " + m.dump(), EINVAL);
    s.mtu = m.get<unsigned>();
  }
  if (params.contains("nftTable")) {
    auto v = stringParam(params, "nftTable");
    if (!v.ok()) return v.error();
    s.nftTable = *v;
  }
  if (params.contains("routeLocalnet")) {
    if (!params["routeLocalnet"].is_boolean())
      return makeError(
          "veth step: \"routeLocalnet\" must be true or false: " + params["routeLocalnet"].dump(),
          EINVAL);
    s.routeLocalnet = params["routeLocalnet"].get<bool>();
  }
  BOXD_TRY(checkSpec(s));
  return std::make_unique<VethStep>(std::move(s));
}

std::string VethStep::resource() const {
  return spec_.hostIf + " <-> " + spec_.podIf + " " + spec_.address + " in " + spec_.netns +
         " on " + spec_.bridge;
}

nlohmann::json VethStep::params() const {
  return {{"netns", spec_.netns},
          {"bridge", spec_.bridge},
          {"gatewayCidr", spec_.gatewayCidr},
          {"hostIf", spec_.hostIf},
          {"podIf", spec_.podIf},
          {"address", spec_.address},
          {"gateway", spec_.gateway},
          {"mtu", spec_.mtu},
          {"nftTable", spec_.nftTable},
          {"routeLocalnet", spec_.routeLocalnet}};
}

Result<bool> VethStep::observe() {
  auto pinned = net::isPinnedNetns(spec_.netns);
  if (!pinned.ok() || !*pinned) return pinned;
  if (!spec_.nftTable.empty()) {
    auto guarded = net::localnetGuardPresent(spec_.nftTable, spec_.bridge);
    if (!guarded.ok() || !*guarded) return guarded;
  }
  auto host = Netlink::open();
  if (!host.ok()) return host.error();
  auto h = host->link(spec_.hostIf);
  if (!h.ok()) return h.error();
  if (!*h || (*h)->type != "veth" || !(*h)->up) return false;
  auto b = host->link(spec_.bridge);
  if (!b.ok()) return b.error();
  if (!*b || (*h)->master != (*b)->index) return false;
  auto pod = Netlink::openIn(spec_.netns);
  if (!pod.ok()) return pod.error();
  auto p = pod->link(spec_.podIf);
  if (!p.ok()) return p.error();
  if (!*p || (*p)->peer != (*h)->index || !(*p)->up) return false;
  auto addr = pod->hasAddress(spec_.podIf, spec_.address);
  if (!addr.ok() || !*addr) return addr;
  return pod->hasDefaultRoute(spec_.podIf, spec_.gateway);
}

Status VethStep::apply() {
  BOXD_TRY(checkSpec(spec_));
  BOXD_TRY(needPinned(spec_.netns));
  // The guard first: route_localnet is never on without it.
  if (!spec_.nftTable.empty()) BOXD_TRY(net::ensureLocalnetGuard(spec_.nftTable, spec_.bridge));
  auto host = Netlink::open();
  if (!host.ok()) return host.error();
  BOXD_TRY(
      net::ensureBridge(*host, spec_.bridge, spec_.gatewayCidr, spec_.mtu, spec_.routeLocalnet));
  auto bridge = host->link(spec_.bridge);
  if (!bridge.ok()) return bridge.error();
  if (!*bridge) return makeError("bridge " + spec_.bridge + " vanished", ENODEV);
  auto pod = Netlink::openIn(spec_.netns);
  if (!pod.ok()) return pod.error();
  BOXD_TRY(ensurePair(spec_, *host, *pod, spec_.mtu != 0 ? spec_.mtu : (*bridge)->mtu));

  auto h = host->link(spec_.hostIf);
  if (!h.ok()) return h.error();
  if (!*h) return makeError("veth " + spec_.hostIf + " vanished right after creation", ENODEV);
  if ((*h)->master != (*bridge)->index) BOXD_TRY(host->setMaster(spec_.hostIf, spec_.bridge));
  if (!(*h)->up) BOXD_TRY(host->setUp(spec_.hostIf));
  // Hairpin: a frame may leave through the port it came in on, so a pod reaches its own
  // hostPort through a host address (DNAT sends it back to the same port).
  std::string hairpin = "/sys/class/net/" + spec_.hostIf + "/brport/hairpin_mode";
  auto mode = readFile(hairpin);
  if (!mode.ok() || trim(*mode) != "1") {
    Status st = writeFile(hairpin, "1");
    if (!st.ok()) return st.error().wrap("enable hairpin on " + spec_.hostIf);
  }

  // Up before the address: the kernel adds the subnet route (needed to reach the gateway) only
  // for a link that is up.
  BOXD_TRY(pod->setUp(spec_.podIf));
  auto addr = pod->hasAddress(spec_.podIf, spec_.address);
  if (!addr.ok()) return addr.error();
  if (!*addr) BOXD_TRY(pod->addAddress(spec_.podIf, spec_.address));
  auto route = pod->hasDefaultRoute(spec_.podIf, spec_.gateway);
  if (!route.ok()) return route.error();
  if (!*route) BOXD_TRY(pod->setDefaultRoute(spec_.podIf, spec_.gateway));
  return {};
}

Status VethStep::undo() {
  auto host = Netlink::open();
  if (!host.ok()) return host.error();
  auto h = host->link(spec_.hostIf);
  if (!h.ok()) return h.error();
  if (*h && (*h)->type != "veth")
    return makeError(
        "link " + spec_.hostIf + " is not a veth (type \"" + (*h)->type + "\"); not deleting it",
        EEXIST);
  if (*h) BOXD_TRY(host->deleteLink(spec_.hostIf));
  // After a reboot (or once the pod's netns is gone) there is nothing inside to remove.
  auto pinned = net::isPinnedNetns(spec_.netns);
  if (!pinned.ok()) return pinned.error();
  if (!*pinned) return {};
  auto pod = Netlink::openIn(spec_.netns);
  if (!pod.ok()) return pod.error();
  return pod->deleteLink(spec_.podIf);
}

}  // namespace boxd::reconcilers
