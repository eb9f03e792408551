// A pod reaching its pids limit: the kernel refuses the fork (EAGAIN) and counts it in the pod
// cgroup's pids.events; boxd turns each increase of that count into one Warning event, read when
// a container exits (a process that could not fork often makes it fail) and at every resync.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/pod_plan.h"

namespace boxd::agent {

// On the loop thread: one small cgroupfs file, answered from kernel memory without blocking.
void Agent::checkPidsLimit(PodState& pod) {
  if (!pod.created || pod.rec.uid.empty()) return;
  const std::string rel = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid).cgroupRel;
  auto hits = cgroups_->pidsLimitHits(rel);
  if (!hits.ok()) {
    spdlog::debug("pod {}: {}", pod.rec.name, hits.error().message);
    return;
  }
  if (!*hits) return;  // no pids controller
  const int64_t now = **hits;
  const std::optional<int64_t> before = std::exchange(pod.pidsLimitHits, now);
  if (!before || now <= *before) return;  // a baseline after a restart, or nothing new
  event(pod.rec.name, "Warning", "PidsLimitReached",
        "the pod reached its pids limit: " + std::to_string(now - *before) +
            " fork(s) refused since last seen, " + std::to_string(now) +
            " in all (boxd's podPidsLimit sets the limit)");
}

}  // namespace boxd::agent
