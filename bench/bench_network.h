// The pod network a bench boxd runs with: a bridge, a /24 and an nftables table of its own,
// named per run, so that it is never the host's (boxd0, table ip boxd) nor a parallel run's,
// and removed at the end: boxd keeps its bridge and table between pods and past its exit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace boxd::bench {

struct BenchNetwork {
  bool enabled = false;  // false: `network: {enabled: false}`, pods get loopback only
  std::string bridge;    // "bxb" + 8 hex, absent from the host when chosen
  std::string subnet;    // a /24 of 10.224.0.0/12 that no route of the host overlaps
  std::string nftTable;  // "boxdbench_" + 8 hex (family ip), absent when chosen

  static BenchNetwork off() { return {}; }
  // Throws BenchError when no free name or subnet is found.
  static BenchNetwork fresh();

  // boxd's `network:` section. No masquerade: the bench pods never leave the host, and
  // masquerade would switch IPv4 forwarding on host-wide.
  std::string configYaml() const;

  // Deletes the bridge and the table if they exist, after deleting any link still enslaved to
  // the bridge (a pod's veth a forced teardown left). Touches only objects named by this run.
  // Returns what was left by boxd unexpectedly or could not be removed. Never throws.
  std::vector<std::string> remove() const;
};

// A /24 of 10.224.0.0/12 that no route in procNetRoute (the text of /proc/net/route)
// overlaps, tried from a point chosen by seed; nullopt when every one is taken.
std::optional<std::string> freeBenchSubnet(const std::string& procNetRoute, uint32_t seed);

// A TCP port in 40000..49999 that no socket of the host uses (IPv4 or IPv6), for the bench's
// hostPort pods (mapped on 127.0.0.1 only); throws BenchError when none is found.
int freeHostPort();

}  // namespace boxd::bench
