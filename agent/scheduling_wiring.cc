// boxd as its node's scheduler, on the loop (agent/scheduling.h has the filters). The pods on the
// node are every pod boxd has admitted that has not terminated, running or not, being torn down
// or not (Kubernetes counts a terminating pod until it is gone).
#include "agent/agent.h"
#include "agent/scheduling.h"

namespace boxd::agent {

std::string Agent::unschedulableReason(const PodState& pod, const specs::PodSpec& spec) {
  std::vector<const specs::PodSpec*> placed;
  for (const auto& [name, other] : pods_) {
    if (other.get() == &pod || !occupiesNode(other->rec.phase, other->rec.reason)) continue;
    placed.push_back(&other->spec);
  }
  return scheduleMismatch(spec, thisNode(cfg_.nodeLabels), placed);
}

// Posted: each pod is looked at again once the current change is complete.
void Agent::rescheduleWaiting() {
  for (const auto& [name, pod] : pods_) {
    if (pod->rec.reason == kUnschedulable && !pod->busy && !pod->created) markDirty(name);
  }
}

}  // namespace boxd::agent
