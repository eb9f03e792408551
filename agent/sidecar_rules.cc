#include "agent/sidecar_rules.h"

#include <algorithm>

namespace boxd::agent {

namespace {

const RunFacts kNeverRun{};

const RunFacts& factsOf(const PodFacts& facts, const std::string& name) {
  auto it = facts.find(name);
  return it == facts.end() ? kNeverRun : it->second;
}

bool hasRun(const RunFacts& f) {
  return f.starting || f.state == "Running" || f.state == "Terminated" || f.restarts > 0;
}

// Terminated, and the pod's restartPolicy will not run it again (a restart whose timer was lost
// with a previous boxd included).
bool doneForGood(const RunFacts& f, specs::RestartPolicy policy) {
  if (f.state != "Terminated" || f.starting || f.restartDue) return false;
  return policy == specs::RestartPolicy::Never ||
         (policy == specs::RestartPolicy::OnFailure && f.exitCode == 0);
}

}  // namespace

InitProgress initProgress(const specs::PodSpec& pod, const PodFacts& facts) {
  const size_t n = pod.initContainers.size();
  for (const auto& c : pod.containers) {
    if (hasRun(factsOf(facts, c.name))) return {n, n};
  }
  for (size_t i = 0; i < n; ++i) {
    const specs::Container& c = pod.initContainers[i];
    const RunFacts& f = factsOf(facts, c.name);
    bool passed = c.isSidecar() ? f.state == "Running" && f.started
                                : f.state == "Terminated" && f.exitCode == 0;
    if (!passed) return {i, i};
  }
  return {n, n};
}

bool podCompleted(const specs::PodSpec& pod, const PodFacts& facts) {
  if (pod.restartPolicy == specs::RestartPolicy::Never) {
    for (const auto& c : pod.initContainers) {
      const RunFacts& f = factsOf(facts, c.name);
      if (!c.isSidecar() && doneForGood(f, pod.restartPolicy) && f.exitCode != 0) return true;
    }
  }
  return std::all_of(pod.containers.begin(), pod.containers.end(), [&](const specs::Container& c) {
    return doneForGood(factsOf(facts, c.name), pod.restartPolicy);
  });
}

std::vector<std::string> sidecarsToStop(const specs::PodSpec& pod, const PodFacts& facts) {
  std::vector<std::string> out;
  for (auto it = pod.initContainers.rbegin(); it != pod.initContainers.rend(); ++it) {
    const RunFacts& f = factsOf(facts, it->name);
    if (it->isSidecar() && (f.state == "Running" || f.starting)) out.push_back(it->name);
  }
  return out;
}

StopOrder stopOrder(const specs::PodSpec& pod, const std::vector<std::string>& running) {
  StopOrder order;
  for (const std::string& name : running) {
    if (!isSidecar(pod, name)) order.first.push_back(name);
  }
  for (auto it = pod.initContainers.rbegin(); it != pod.initContainers.rend(); ++it) {
    if (it->isSidecar() && std::find(running.begin(), running.end(), it->name) != running.end())
      order.sidecars.push_back(it->name);
  }
  return order;
}

std::vector<const specs::Container*> longRunningContainers(const specs::PodSpec& pod) {
  std::vector<const specs::Container*> out;
  for (const auto& c : pod.initContainers) {
    if (c.isSidecar()) out.push_back(&c);
  }
  for (const auto& c : pod.containers) out.push_back(&c);
  return out;
}

bool isSidecar(const specs::PodSpec& pod, const std::string& name) {
  for (const auto& c : pod.initContainers) {
    if (c.name == name) return c.isSidecar();
  }
  return false;
}

}  // namespace boxd::agent
