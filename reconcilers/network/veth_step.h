// Step "veth": a pod's link to the shared bridge: a veth pair with the host end on the bridge
// and the pod end inside the pod's pinned network namespace, addressed, with a default route.
//   params  {"netns": pinned netns path (NetnsStep), "bridge": "boxd0",
//            "gatewayCidr": the bridge's address "10.88.0.1/16", "hostIf": host end (<= 15
//            chars, unique per pod, chosen by the caller), "podIf": "eth0" (default),
//            "address": the pod's "10.88.0.5/16", "gateway": "10.88.0.1",
//            "mtu": 0 (default) = the bridge's,
//            "nftTable": boxd's nftables table, for the localnet guard ("" or absent: none,
//            as in journals of versions before it), "routeLocalnet": true (default) when
//            hostPorts may DNAT 127.0.0.1 to pods}
//   apply   the localnet guard for the bridge (localnet_guard.h), before the bridge can route
//           anything; ensureBridge; create the pair with the pod end made directly inside the
//           netns under its final name; host end on the bridge and up; pod end up, address,
//           default route. A partial earlier apply is completed; a stale or half pair is
//           re-created.
//   observe the guard is current; host end is a veth, on the bridge and up, and inside the
//           netns podIf is its peer, up, with the address and the default route: anything
//           missing is drift.
//   undo    delete the host end (its peer goes with it), then podIf in the netns if the netns
//           is still pinned; absent = ok. The bridge and its guard are shared and stay.
// The MAC addresses are left to the kernel.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/step.h"

namespace boxd::reconcilers {

struct VethSpec {
  std::string netns;        // pinned netns path
  std::string bridge;       // shared bridge, created if missing
  std::string gatewayCidr;  // the bridge's address, "10.88.0.1/16"
  std::string hostIf;       // host end, <= 15 chars
  std::string podIf = "eth0";
  std::string address;        // the pod's address, "10.88.0.5/16"
  std::string gateway;        // "10.88.0.1"
  unsigned mtu = 0;           // 0 = the bridge's
  std::string nftTable;       // table of the localnet guard; empty = none (older journals)
  bool routeLocalnet = true;  // route_localnet on the bridge (hostPorts on 127.0.0.1)
};

class VethStep : public Step {
 public:
  explicit VethStep(VethSpec spec);
  // Checks names (interface name rules) and addresses (IPv4) up front.
  static Result<std::unique_ptr<VethStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "veth"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;
  // The pinned netns outlives the link, so a deleted veth or address is put back under running
  // containers.
  bool repairableInPlace() const override { return true; }

 private:
  VethSpec spec_;
};

}  // namespace boxd::reconcilers
