// The floor under boxd's probing cost: the same checks as the bench's probes (per pod and
// second, an HTTP GET of / on one port and a TCP connect to another, each a new connection in
// the pod's network namespace, closed with FIN, as kubelet's), made by the least code that can
// make them: one thread of the bench, all pods in one burst a second, blocking calls, one visit
// to a pod's namespace for both its sockets, responses read 20 ms after the burst. What it
// costs is nearly all the kernel's work for the connections, so boxd's cost over it is what
// boxd's own way of probing adds (its loop, its timers, checks spread over the second).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace boxd::bench {

struct FloorTarget {
  std::string netns;  // /proc/PID/ns/net of a container of the pod
  std::string ip;     // the pod's IP
  int httpPort = 0, tcpPort = 0;
};

struct FloorResult {
  double cpuPercent = 0;  // the prober thread's CPU time over the window, % of one core
  int64_t checks = 0, failed = 0;
  std::string firstFailure;
};

// Probes every target once a second for `seconds` seconds. Throws BenchError if a namespace
// cannot be opened.
FloorResult runProbeFloor(const std::vector<FloorTarget>& targets, int seconds);

}  // namespace boxd::bench
