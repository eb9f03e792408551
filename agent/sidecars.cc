// Sidecar containers in the agent (sidecar_rules.h, docs/workloads.md): what their runs look
// like to the rules, the next init container once one has started, their stop once the pod's
// work is done, and the order of a pod's deletion:
//
//   deletion: preStop + SIGTERM to the regular (and init) containers, together
//             └─► once they have exited: each sidecar, last declared first: preStop + SIGTERM
//                 └─► the pod's steps undone (the shim's shutdown kills what is left)
//
// One grace period (terminationGracePeriodSeconds) covers the whole; a sidecar gets what is
// left of it, at least 2 s (none when the grace period is 0).
#include <spdlog/spdlog.h>

#include <thread>

#include "agent/agent.h"
#include "agent/pod_plan.h"
#include "agent/probes.h"
#include "common/util.h"
#include "reconcilers/sandbox/shim_client.h"

namespace boxd::agent {

namespace {
constexpr int64_t kMinSidecarGraceSeconds = 2;

// deadlineMs 0: no grace period at all (SIGKILL).
int64_t secondsLeft(int64_t deadlineMs) {
  if (deadlineMs == 0) return 0;
  return std::max<int64_t>((deadlineMs - monotonicMs() + 999) / 1000, kMinSidecarGraceSeconds);
}

// Stops the containers at the same time; returns once every one has exited (or its stop failed:
// the shim's shutdown, next, stops what is left).
void stopTogether(const std::string& socket, const std::vector<std::string>& names,
                  int64_t graceSeconds) {
  std::vector<std::thread> threads;
  threads.reserve(names.size());
  for (const std::string& n : names) {
    threads.emplace_back([&socket, n, graceSeconds] {
      (void)reconcilers::ShimClient(socket).stop(n, static_cast<int>(graceSeconds));
    });
  }
  for (auto& t : threads) t.join();
}
}  // namespace

PodFacts Agent::podFacts(const PodState& pod) const {
  PodFacts facts;
  for (const auto& [name, c] : pod.containers) {
    RunFacts& f = facts[name];
    f.state = c.rec.state.empty() ? "Waiting" : c.rec.state;
    f.exitCode = c.rec.exitCode;
    f.starting = c.starting;
    f.restartDue = c.restartTimer && c.restartTimer->active();
    f.started = containerStarted(pod, name);
    f.restarts = c.rec.restarts;
  }
  return facts;
}

// kubelet's "started": running, its postStart hook done and its startup probe (if any) passed.
bool Agent::containerStarted(const PodState& pod, const std::string& name) const {
  auto it = pod.containers.find(name);
  if (it == pod.containers.end() || it->second.rec.state != "Running") return false;
  const ContainerProbeRun* run = it->second.probes.get();
  return run != nullptr && run->pid == it->second.rec.pid && run->postStartDone && run->started &&
         !run->killing;
}

// A sidecar that has started lets the next init container (or the containers) start.
void Agent::onContainerStarted(PodState& pod, const std::string& name) {
  if (isSidecar(pod.spec, name)) startContainers(pod);
}

// The pod's work is done: its sidecars are not restarted any more, and are stopped one at a
// time, last declared first. True once none runs.
bool Agent::sidecarsStopped(PodState& pod) {
  if (!podCompleted(pod.spec, podFacts(pod))) return true;  // a restart is due: not done after all
  for (const auto& spec : pod.spec.initContainers) {
    if (!spec.isSidecar()) continue;
    ContainerRuntime& c = pod.containers[spec.name];
    if (!c.restartTimer || !c.restartTimer->active()) continue;
    c.restartTimer.reset();  // a restart in backoff: it stays as its last run ended
    if (c.lastTerminated) {
      c.rec.state = "Terminated";
      c.rec.reason = c.lastTerminated->reason;
      c.rec.message = c.lastTerminated->message;
    }
    saveContainer(pod, c);
  }
  std::vector<std::string> order = sidecarsToStop(pod.spec, podFacts(pod));
  if (order.empty()) return true;
  ContainerRuntime& c = pod.containers[order.front()];
  // Wait for its start's reply, or for the exit of the stop under way.
  if (c.starting || !c.probes || c.probes->killing) return false;
  killForProbe(
      pod, order.front(), pod.spec.terminationGracePeriodSeconds,
      "Stopping sidecar container " + order.front() + ": the pod's other containers are done");
  return false;
}

void Agent::stopInOrder(PodState& pod, const std::vector<std::string>& running,
                        int64_t graceSeconds, std::function<void()> done) {
  StopOrder order = stopOrder(pod.spec, running);
  if (order.sidecars.empty()) return preStopThenStop(pod, running, graceSeconds, std::move(done));
  const int64_t deadlineMs = graceSeconds > 0 ? monotonicMs() + graceSeconds * 1000 : 0;
  const std::string name = pod.rec.name;
  const std::string socket = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid).socket;
  preStopThenStop(
      pod, order.first, graceSeconds, [this, name, socket, order, deadlineMs, done]() mutable {
        // Those without a preStop hook (the hooked ones are stopped already).
        const int64_t left = secondsLeft(deadlineMs);
        dispatcher_.runBlocking(
            [socket, first = order.first, left] { stopTogether(socket, first, left); },
            [this, name, sidecars = order.sidecars, deadlineMs, done]() mutable {
              stopSidecarsInTurn(name, std::move(sidecars), deadlineMs, std::move(done));
            });
      });
}

void Agent::stopSidecarsInTurn(const std::string& podName, std::vector<std::string> sidecars,
                               int64_t deadlineMs, std::function<void()> done) {
  auto it = pods_.find(podName);
  if (sidecars.empty() || it == pods_.end()) return done();
  PodState& pod = *it->second;
  const std::string next = sidecars.front();
  sidecars.erase(sidecars.begin());
  const std::string socket = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid).socket;
  preStopThenStop(
      pod, {next}, secondsLeft(deadlineMs),
      [this, podName, socket, next, rest = std::move(sidecars), deadlineMs, done]() mutable {
        const int64_t grace = secondsLeft(deadlineMs);
        dispatcher_.runBlocking(
            [socket, next, grace] {  // gone already (its preStop hook stopped it): fine
              (void)reconcilers::ShimClient(socket).stop(next, static_cast<int>(grace));
            },
            [this, podName, rest = std::move(rest), deadlineMs, done]() mutable {
              stopSidecarsInTurn(podName, std::move(rest), deadlineMs, std::move(done));
            });
      });
}

}  // namespace boxd::agent
