// The bench's figures, printed as a table (boxd | podman | ratio) and written as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::bench {

// One way of setting pods up in the one-at-a-time phase (pod network on, off, on with a
// hostPort); the modes' pods alternate, so machine load falls on each alike.
struct ModeFigures {
  std::vector<double> upMs;    // one per pod, spec rename → last Started event
  std::vector<double> downMs;  // one per pod, unlink → Deleted event
  // Per step kind ("all": every step): apply time per pod in µs, summed over the pod's steps of
  // that kind, in upMs's order (from boxd's debug log); count = such steps per pod.
  std::map<std::string, std::vector<double>> stepUs;
  std::map<std::string, int> stepCount;
};

struct Figures {
  int cores = 0;
  std::string kernel;
  int seqPods = 20, burstPods = 50;

  // boxd (milliseconds unless named otherwise; negative = not measured)
  ModeFigures netOn, netOff, hostPort;  // the burst and idle figures are with the network on
  std::string network;                  // the pod network of the bench's boxd
  double burstUpMs = -1, burstGoneMs = -1;
  int64_t boxdRssKb = -1, boxdCpuTicks = -1;
  double idleWindowS = 0;
  long clockTicksPerS = 100;
  int64_t shimsRssKb = -1;
  int shims = 0;
  std::vector<double> statusMs;  // `boxctl status` wall time at burstPods pods
  std::vector<std::string> boxdLeftovers;

  // podman
  std::string podman = "not run";  // "ok", "not installed (...)", "failed: ...", "skipped"
  std::string podmanVersion;
  std::vector<double> podmanUp1Ms, podmanDown1Ms;  // N = 1
  double podmanUpNMs = -1, podmanDownNMs = -1;     // N = burstPods
  std::string podmanNNote;                         // why N = burstPods was skipped
  int64_t conmonRssKb = -1;                        // at N = burstPods
  std::vector<std::string> podmanLeftovers;
};

std::string formatTable(const Figures& f);
nlohmann::json toJson(const Figures& f);

}  // namespace boxd::bench
