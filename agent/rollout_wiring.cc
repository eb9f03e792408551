// Workload rollouts in the agent: the pods of the specs, paced by agent/rollout.h. Each pass
// recomputes the paced pods from what runs now; a pod of a workload that changes phase or
// readiness asks for a pass (coalesced on the loop).
#include "agent/agent.h"
#include "agent/rollout.h"
#include "specs/workload.h"

namespace boxd::agent {

bool Agent::podReady(const PodState& pod) const {
  if (pod.rec.phase != "Running" || pod.busy || pod.needsTeardown || !pod.created) return false;
  for (const specs::Container* spec : longRunningContainers(pod.spec)) {
    auto c = pod.containers.find(spec->name);
    if (c == pod.containers.end() || c->second.rec.state != "Running") return false;
  }
  return true;
}

void Agent::pacePods() {
  std::map<std::string, CurrentPod> current;
  for (const auto& [name, pod] : pods_) {
    if (specs::ownerOf(pod->spec).empty()) continue;
    current[name] = {{pod->spec, pod->rec.specHash, pod->rec.sourceFile}, podReady(*pod)};
  }
  desired_.pods = pacedPods(specPods_, current);
  runCronJobs();  // the Jobs of CronJobs join the Jobs (cronjob_wiring.cc)
  runJobs();      // the pods of Jobs join them (job_wiring.cc)
  afterCronJobs();
}

void Agent::repace() {
  if (!desiredLoaded_) return;
  std::map<std::string, std::string> before;  // name -> hash
  for (const auto& [name, p] : desired_.pods) before[name] = p.hash;
  pacePods();
  std::map<std::string, std::string> after;
  for (const auto& [name, p] : desired_.pods) after[name] = p.hash;
  if (after != before) reconcileAll();
}

void Agent::schedulePacing(const PodState& pod) {
  if (pacingPosted_ || specs::ownerOf(pod.spec).empty()) return;
  pacingPosted_ = true;
  dispatcher_.post([this] {
    pacingPosted_ = false;
    repace();
  });
}

}  // namespace boxd::agent
