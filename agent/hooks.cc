// Lifecycle hooks (probes.h, docs/probes.md). postStart runs as soon as the container runs; the
// container's probes wait for it, and a failure kills the container (FailedPostStartHook), whose
// exit then goes through the restart policy.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/pod_plan.h"
#include "agent/probes.h"
#include "common/util.h"
#include "reconcilers/sandbox/shim_client.h"

namespace boxd::agent {

namespace {
// kubelet sets no limit on a postStart hook; boxd bounds every wait.
constexpr int64_t kPostStartTimeoutMs = 5 * 60 * 1000;
}  // namespace

void Agent::runPostStart(PodState& pod, const std::string& name) {
  const specs::Container* spec = findContainer(pod.spec, name);
  std::shared_ptr<ContainerProbeRun> run = pod.containers[name].probes;
  const std::string podName = pod.rec.name;
  std::weak_ptr<ContainerProbeRun> weak = run;
  auto finished = std::make_shared<bool>(false);
  auto check =
      startCheck(loop_, *spec->probes.lifecycle.postStart, run->target, kPostStartTimeoutMs,
                 [this, podName, name, weak, finished](CheckResult r) {
                   *finished = true;
                   auto live = weak.lock();
                   if (!live) return;
                   auto it = pods_.find(podName);
                   if (it == pods_.end()) return;
                   PodState& p = *it->second;
                   if (r.success) {
                     live->postStartDone = true;
                     event(podName, "Normal", "PostStartHook",
                           "postStart hook of container " + name + " done");
                     startProbing(p, name);
                     return onContainerStarted(p, name);
                   }
                   std::string why = r.output.empty() ? "failed" : r.output;
                   event(podName, "Warning", "FailedPostStartHook",
                         "PostStartHook of container " + name + " failed: " + why);
                   live->killReason = "FailedPostStartHook: " + why;
                   killForProbe(p, name, p.spec.terminationGracePeriodSeconds,
                                "FailedPostStartHook: stopping container " + name);
                 });
  if (!*finished) run->hook = std::move(check);  // else it is done already: dropped
}

}  // namespace boxd::agent

namespace boxd::agent {

// kubelet gives a container at least this long after its preStop hook, whatever the grace left.
constexpr int64_t kMinGraceAfterPreStopSeconds = 2;

// The preStop hooks of the named containers that run one, each bounded by graceSeconds; then
// each of those containers is stopped with what is left of the grace period (the hook counts
// against it), then done. Containers without a hook are left to the caller's own stop.
void Agent::preStopThenStop(PodState& pod, const std::vector<std::string>& names,
                            int64_t graceSeconds, std::function<void()> done) {
  struct Pending {
    int left = 0;
    int64_t startMs = 0;
    std::vector<std::string> hooked;
    std::vector<std::unique_ptr<Check>> checks;
  };
  auto state = std::make_shared<Pending>();
  state->startMs = monotonicMs();
  std::vector<std::pair<std::string, CheckTarget>> todo;
  for (const std::string& name : names) {
    const specs::Container* spec = findContainer(pod.spec, name);
    auto it = pod.containers.find(name);
    if (spec == nullptr || !spec->probes.lifecycle.preStop || it == pod.containers.end() ||
        it->second.rec.state != "Running" || !it->second.probes)
      continue;
    todo.push_back({name, it->second.probes->target});
    it->second.probes->killing = true;
    for (auto& w : it->second.probes->workers) w->timer.reset();
  }
  if (todo.empty()) return done();
  state->left = static_cast<int>(todo.size());
  const std::string podName = pod.rec.name;
  std::string socket = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid).socket;
  auto finish = [this, state, socket, graceSeconds, done]() {
    int64_t spent = (monotonicMs() - state->startMs) / 1000;
    int64_t left = std::max(graceSeconds - spent, kMinGraceAfterPreStopSeconds);
    std::vector<std::string> hooked = state->hooked;
    dispatcher_.post([state] { state->checks.clear(); });  // not from inside their callbacks
    dispatcher_.runBlocking(
        [socket, hooked, left] {
          for (const auto& n : hooked)  // a container that is gone already is fine
            (void)reconcilers::ShimClient(socket).stop(n, static_cast<int>(left));
        },
        done);
  };
  for (auto& [name, target] : todo) {
    const specs::Container* spec = findContainer(pod.spec, name);
    state->hooked.push_back(name);
    event(podName, "Normal", "PreStopHook", "running the preStop hook of container " + name);
    const std::string cname = name;
    state->checks.push_back(
        startCheck(loop_, *spec->probes.lifecycle.preStop, target, graceSeconds * 1000,
                   [this, podName, cname, state, finish](CheckResult r) {
                     if (!r.success)
                       event(podName, "Warning", "FailedPreStopHook",
                             "PreStopHook of container " + cname + " failed: " + r.output);
                     if (--state->left == 0) finish();
                   }));
  }
}

}  // namespace boxd::agent
