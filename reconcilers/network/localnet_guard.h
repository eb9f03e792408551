// The localnet guard: keeps pods from reaching the host's loopback through their bridge.
//
// With route_localnet=1 on a bridge (hostPort DNAT of 127.0.0.1 needs it, see nat.h) the kernel
// no longer drops packets that arrive there with a 127.0.0.0/8 destination or source as
// martians. A pod with CAP_NET_RAW could then address a frame to the bridge's MAC and to
// 127.0.0.1, and reach services bound to the host's loopback only (the class of Kubernetes
// CVE-2020-8558), or send datagrams that the host's services see as coming from localhost.
// The guard drops both, except for DNAT'd hostPort connections (either direction). It sits in
// boxd's table next to the NAT chains (nat.h), and is written by the veth step whenever it sets
// a bridge up, with or without hostPorts:
//
//   table ip boxd {
//     set bridges {             # every bridge boxd set up with this table; never shrinks
//       type ifname
//       elements = { "boxd0" }
//     }
//     chain localnet {
//       ct status dnat return comment "hostPort connections"
//       ip daddr 127.0.0.0/8 drop comment "pod to host loopback"
//       ip saddr 127.0.0.0/8 drop comment "loopback source from a pod"
//     }
//     chain input {
//       type filter hook input priority filter; policy accept;
//       iifname @bridges jump localnet comment "localnet guard"
//     }
//     chain forward {
//       type filter hook forward priority filter; policy accept;
//       iifname @bridges jump localnet comment "localnet guard"
//     }
//   }
//
// A packet without conntrack state (invalid, untracked) does not match `ct status dnat` and is
// dropped too. The rules' comments are their signatures, as in nat.h: a deleted or edited rule
// makes the guard out of date, and ensuring it rewrites the three chains in one transaction.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers::net {

class Nft;

// The script that (re)creates the set and the three chains, rewrites their rules and adds
// bridge to the set; the NAT chains and map elements are left alone.
std::string localnetGuardScript(const std::string& table, const std::string& bridge);
// True when the listing (listNatTable) holds the guard's chains and rules and bridge in the set.
bool localnetGuardCurrent(const nlohmann::json& listing, const std::string& bridge);

// Creates the table if missing, then the guard for bridge; does nothing when it is current.
Status ensureLocalnetGuard(const std::string& table, const std::string& bridge);
// False when the table, a chain, a rule or the bridge's set element is missing.
Result<bool> localnetGuardPresent(const std::string& table, const std::string& bridge);

}  // namespace boxd::reconcilers::net
