// The bench's figures, printed as a table (boxd | podman | ratio) and written as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::bench {

struct Figures {
  int cores = 0;
  std::string kernel;
  int seqPods = 20, burstPods = 50;

  // boxd (milliseconds unless named otherwise; negative = not measured)
  std::vector<double> specToRunningMs;  // one per pod, spec rename → last Started event
  std::vector<double> deleteToGoneMs;   // one per pod, unlink → Deleted event
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
