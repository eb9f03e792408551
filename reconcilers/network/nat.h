// boxd's nftables table: hostPort DNAT and masquerade for the pods on one bridge.
//
// Layout, as `nft list table ip boxd` shows it (bridge boxd0, subnet 10.88.0.0/16):
//
//   table ip boxd {
//     map hostports {          # (protocol . hostPort) -> (pod ip . containerPort)
//       type inet_proto . inet_service : ipv4_addr . inet_service
//       elements = { tcp . 8080 : 10.88.0.5 . 80, udp . 5353 : 10.88.0.5 . 53 }
//     }
//     map hostip_ports {       # the same for a hostPort bound to one hostIP
//       type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
//       elements = { 127.0.0.1 . tcp . 9090 : 10.88.0.5 . 90 }
//     }
//     chain hostports {        # hostIP mappings first, then wildcard ones
//       meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport
//           map @hostip_ports comment "hostPort bound to a hostIP"
//       meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @hostports
//           comment "hostPort"
//     }
//     chain prerouting {       # from outside, and from pods, to any local address
//       type nat hook prerouting priority dstnat; policy accept;
//       fib daddr type local jump hostports comment "hostPorts from outside and pods"
//     }
//     chain output {           # the host itself connecting to one of its addresses
//       type nat hook output priority -100; policy accept;
//       fib daddr type local jump hostports comment "hostPorts from this host"
//     }
//     chain postrouting {
//       type nat hook postrouting priority srcnat; policy accept;
//       ip saddr 127.0.0.0/8 oifname "boxd0" masquerade comment "localhost to pods on boxd0"
//       oifname "boxd0" ip saddr 10.88.0.0/16 ct status dnat masquerade
//           comment "hairpin on boxd0"                  # a pod to a hostPort on its bridge
//       ip saddr 10.88.0.0/16 ip daddr != 10.88.0.0/16 masquerade
//           comment "pods of 10.88.0.0/16 to outside"   # only with masquerade
//     }
//   }
//
// Each rule carries a comment naming its purpose and the bridge or subnet it serves; the
// comments are how ensureNatTable() recognises an up-to-date table. Pods only add and delete
// map elements (see hostport_step.h); the chains are written when the table is created or
// found out of date (deleted rules, another bridge or subnet), always in one transaction.
//
// The same table holds the localnet guard (set bridges, chains localnet, input, forward; see
// localnet_guard.h), which the veth step writes; this file's chains and checks ignore it.
//
// What the rest of the host must provide (the netlink side does it for boxd's bridge):
// net.ipv4.ip_forward=1, route_localnet=1 on the bridge (localhost:hostPort leaves with source
// 127.0.0.1 until postrouting rewrites it; safe only with the guard), and hairpin mode on each
// pod's bridge port when br_netfilter is loaded (a pod reaching its own hostPort).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

struct nft_ctx;

namespace boxd::reconcilers::net {

// One libnftables context. Not copyable; each call is serialised process-wide because
// libnftables keeps a global interface cache that its contexts share without locking. The
// netfilter socket belongs to the network namespace of the thread that opened the context.
class Nft {
 public:
  static Result<Nft> open();
  Nft(Nft&&) noexcept = default;
  Nft& operator=(Nft&&) noexcept = default;
  ~Nft();

  // Runs an nft script as one transaction: every command or none. Errors carry nft's text.
  Status run(const std::string& script);
  // Runs a list command and returns its JSON output ({"nftables": [...]}).
  Result<nlohmann::json> listJson(const std::string& command);

 private:
  struct Free {
    void operator()(nft_ctx* ctx) const;
  };
  explicit Nft(nft_ctx* ctx) : ctx_(ctx) {}
  std::unique_ptr<nft_ctx, Free> ctx_;
};

struct NatConfig {
  std::string table = "boxd";  // ip family
  std::string bridge;          // e.g. "boxd0"
  std::string subnet;          // IPv4 CIDR of the bridge, e.g. "10.88.0.0/16"
  bool masquerade = true;      // pods reaching outside the subnet leave as the host
};

// "10.88.0.5" for any IPv4 spelling inet_pton accepts; anything else is an error.
Result<std::string> canonicalIpv4(const std::string& s);
// A name fit to be written into an nft script as text: letters, digits, _ - . starting with a
// letter, at most maxLen bytes (64 for a table, 15 for a link).
bool plainNftName(const std::string& s, size_t maxLen);
// Names and addresses go into nft scripts as text, so only plain ones are accepted.
Status validateNatConfig(const NatConfig& cfg);
// The script that (re)creates the table's maps and chains and rewrites the chains' rules;
// map elements are kept. Exposed for the step, which adds its elements to the same transaction.
std::string natTableScript(const NatConfig& cfg);
// The table's JSON listing, or nullopt when there is no such table.
Result<std::optional<nlohmann::json>> listNatTable(Nft& nft, const std::string& table);
// True when the listing has both maps and every chain holds exactly the rules cfg asks for.
bool natTableCurrent(const nlohmann::json& listing, const NatConfig& cfg);

// Creates the table, or brings its rules up to date; does nothing when it is current.
Status ensureNatTable(const NatConfig& cfg);
// Deletes the whole table (tests and tools; boxd itself keeps it). Absent is success.
Status removeNatTable(const std::string& table);

// One map element. hostIp empty = every local address (map hostports), else map hostip_ports.
struct HostPortElement {
  std::string hostIp;
  std::string proto;  // "tcp" or "udp"
  int hostPort = 0;
  std::string podIp;
  int podPort = 0;

  std::string map() const { return hostIp.empty() ? "hostports" : "hostip_ports"; }
  std::string key() const;    // "tcp . 8080" or "127.0.0.1 . tcp . 8080", as nft writes it
  std::string value() const;  // "10.88.0.5 . 80"
  bool operator==(const HostPortElement&) const = default;
};

// Every element of both maps in a listing; elements in a shape boxd does not write are skipped.
std::vector<HostPortElement> hostPortElements(const nlohmann::json& listing);

}  // namespace boxd::reconcilers::net
