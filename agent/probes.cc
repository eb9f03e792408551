// Running a container's probes and applying their results (probes.h).
#include "agent/probes.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/agent.h"
#include "agent/pod_plan.h"
#include "agent/security_context.h"
#include "common/util.h"
#include "reconcilers/sandbox/shim_client.h"

namespace boxd::agent {

namespace {

// A probe output in an event or message: one line, bounded.
std::string oneLine(std::string s) {
  s = trim(s);
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > 1024) s = s.substr(0, 1024) + "...";
  return s;
}

std::string lowerName(ProbeKind k) {
  std::string s = probeName(k);
  s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace

const char* probeName(ProbeKind k) {
  switch (k) {
    case ProbeKind::Liveness:
      return "Liveness";
    case ProbeKind::Readiness:
      return "Readiness";
    case ProbeKind::Startup:
      return "Startup";
  }
  return "Liveness";
}

std::optional<bool> countResult(ProbeWorker& w, bool success) {
  if (w.last == success) {
    w.run++;
  } else {
    w.last = success;
    w.run = 1;
  }
  if (!success && w.run < w.spec.failureThreshold) return std::nullopt;
  if (success && w.run < w.spec.successThreshold) return std::nullopt;
  return success;
}

// Starts and drops runs as containers start and stop: called whenever a pod's containers change
// (updatePhase). A run belongs to one pid; a container with a new pid gets a new run.
void Agent::syncProbes(PodState& pod) {
  for (const specs::Container* spec : longRunningContainers(pod.spec)) {  // sidecars too
    auto it = pod.containers.find(spec->name);
    if (it == pod.containers.end()) continue;
    ContainerRuntime& c = it->second;
    bool running = pod.created && !pod.busy && c.rec.state == "Running" && c.rec.pid > 0;
    if (!running || (c.probes && c.probes->pid != c.rec.pid)) c.probes.reset();
    if (running && !c.probes) startProbeRun(pod, spec->name);
  }
}

void Agent::startProbeRun(PodState& pod, const std::string& name) {
  const specs::Container* spec = findContainer(pod.spec, name);
  ContainerRuntime& c = pod.containers[name];
  auto run = std::make_shared<ContainerProbeRun>();
  run->pid = c.rec.pid;
  run->startedAtMs = c.rec.startedAtMs;
  run->started = !spec->probes.startup.has_value();
  c.probes = run;
  if (spec->probes.empty()) {
    run->postStartDone = true;
    return;
  }
  CheckTarget& t = run->target;
  t.defaultIp = pod.podIp.empty() || pod.spec.hostNetwork ? "127.0.0.1" : pod.podIp;
  if (!pod.spec.hostNetwork) {
    // The container joined the pod's network namespace: its sockets are made there.
    std::string ns = "/proc/" + std::to_string(run->pid) + "/ns/net";
    run->netns.reset(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!run->netns)
      spdlog::warn("pod {}: open {} for probes: {}", pod.rec.name, ns, std::strerror(errno));
    t.netnsFd = run->netns.get();
    t.sockets = std::make_shared<NetnsSockets>(t.netnsFd);
  }
  std::string shim = cfg_.paths.shimBinary;
  t.execHelper = shim.substr(0, shim.find_last_of('/') + 1) + "boxd-exec";
  ContainerPaths cp = containerPaths(cfg_.paths, pod.rec.name, pod.rec.uid, name);
  t.execTarget = {{"label", pod.rec.name + "/" + name},
                  {"pid", run->pid},
                  {"cgroupProcs", cgroups_->procsFiles(cp.cgroupRel)}};
  if (auto sec = resolveSecurity(pod.spec, *spec); sec.ok())
    t.execTarget["security"] = reconcilers::shimproto::securityToJson(*sec);
  auto add = [&run, &pod, &name](ProbeKind k, const std::optional<specs::Probe>& p) {
    if (!p) return;
    auto w = std::make_unique<ProbeWorker>();
    w->kind = k;
    w->pod = pod.rec.name;
    w->container = name;
    w->spec = *p;
    run->workers.push_back(std::move(w));
  };
  add(ProbeKind::Startup, spec->probes.startup);
  add(ProbeKind::Liveness, spec->probes.liveness);
  add(ProbeKind::Readiness, spec->probes.readiness);
  if (spec->probes.lifecycle.postStart) return runPostStart(pod, name);
  run->postStartDone = true;
  startProbing(pod, name);
}

// Arms every probe's timer: the first tick once the initial delay since the container started
// has passed, then every period.
void Agent::startProbing(PodState& pod, const std::string& name) {
  ContainerRuntime& c = pod.containers[name];
  std::shared_ptr<ContainerProbeRun> run = c.probes;
  const std::string podName = pod.rec.name;
  for (auto& wp : run->workers) {
    ProbeWorker* w = wp.get();
    int64_t due = run->startedAtMs + w->spec.initialDelaySeconds * 1000;
    int64_t delay = std::clamp<int64_t>(due - nowMs(), 0, w->spec.initialDelaySeconds * 1000);
    w->timer = probeTicker_.every(delay, w->spec.periodSeconds * 1000,
                                  [this, podName, name, w] { runProbe(podName, name, *w); });
  }
}

void Agent::runProbe(const std::string& podName, const std::string& name, ProbeWorker& w) {
  auto it = pods_.find(podName);
  if (it == pods_.end()) return;
  if (it->second->busy) return;  // being torn down
  ContainerRuntime& c = it->second->containers[name];
  std::shared_ptr<ContainerProbeRun> run = c.probes;
  if (!run || w.inFlight || w.onHold || run->killing) return;
  if (w.kind != ProbeKind::Startup && !run->started) return;  // the startup probe holds it back
  const specs::Probe& p = w.spec;
  w.inFlight = true;
  // Only the check calls this, and the worker owns the check (destroying it cancels the check):
  // the worker is there. Two pointers: the function needs no allocation per check.
  ProbeWorker* wp = &w;
  auto check =
      startCheck(loop_, p.handler, run->target, p.timeoutSeconds * 1000, [this, wp](CheckResult r) {
        wp->inFlight = false;
        // (Copies: the result may end the run, and the worker with it.)
        const std::string pod = wp->pod, container = wp->container;
        onProbeResult(pod, container, *wp, r);
      });
  if (w.inFlight) w.check = std::move(check);  // else it finished already (and is dropped)
}

void Agent::onProbeResult(const std::string& podName, const std::string& name, ProbeWorker& w,
                          const CheckResult& r) {
  auto it = pods_.find(podName);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  std::shared_ptr<ContainerProbeRun> run = pod.containers[name].probes;
  if (!run || run->killing) return;
  const std::string kind = probeName(w.kind);
  if (!r.success) {
    event(podName, "Warning", "Unhealthy", kind + " probe failed: " + oneLine(r.output));
  } else if (r.warning) {
    event(podName, "Warning", "ProbeWarning", kind + " probe warning: " + oneLine(r.output));
  }
  std::optional<bool> state = countResult(w, r.success);
  if (!state) return;
  if (w.kind == ProbeKind::Readiness) {
    if (run->ready != *state)
      spdlog::info("pod {}: container {} is {}ready", podName, name, *state ? "" : "not ");
    run->ready = *state;
    return;
  }
  if (*state) {
    if (w.kind == ProbeKind::Startup && !run->started) {
      run->started = true;
      w.timer.reset();  // a startup probe is done once it succeeded
      onContainerStarted(pod, name);
    }
    return;
  }
  w.onHold = true;
  w.run = 0;
  int64_t grace =
      w.spec.terminationGracePeriodSeconds.value_or(pod.spec.terminationGracePeriodSeconds);
  run->killReason = kind + " probe failed: " + oneLine(r.output);
  killForProbe(pod, name, grace,
               "Container " + name + " failed " + lowerName(w.kind) + " probe, will be restarted");
}

// Stops the container through its shim; its exit then goes through the restart policy as any
// other (containers.cc), with the probe's failure as the reason of its last state.
void Agent::killForProbe(PodState& pod, const std::string& name, int64_t graceSeconds,
                         const std::string& why) {
  std::shared_ptr<ContainerProbeRun> run = pod.containers[name].probes;
  if (run) {
    run->killing = true;
    for (auto& w : run->workers) w->timer.reset();
  }
  event(pod.rec.name, "Normal", "Killing", why);
  const specs::Container* spec = findContainer(pod.spec, name);
  if (spec != nullptr && spec->probes.lifecycle.preStop)  // kubelet runs it on every kill
    return preStopThenStop(pod, {name}, graceSeconds, [] {});
  std::string socket = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid).socket;
  auto st = std::make_shared<Status>();
  const std::string podName = pod.rec.name;
  dispatcher_.runBlocking(
      [socket, name, graceSeconds, st] {
        *st = reconcilers::ShimClient(socket).stop(name, static_cast<int>(graceSeconds));
      },
      [this, podName, name, st] {
        if (!st->ok())
          event(podName, "Warning", "FailedKillPod",
                "stop container " + name + ": " + st->error().message);
      });
}

// kubelet: a container is ready when it runs, its postStart hook is done, its startup probe
// passed, and its readiness probe (if any) says so.
bool Agent::containerReady(const PodState& pod, const std::string& name) const {
  auto it = pod.containers.find(name);
  if (it == pod.containers.end() || it->second.rec.state != "Running") return false;
  const ContainerProbeRun* run = it->second.probes.get();
  if (run == nullptr || !run->postStartDone || !run->started || run->killing) return false;
  const specs::Container* spec = findContainer(pod.spec, name);
  return spec == nullptr || !spec->probes.readiness || run->ready;
}

}  // namespace boxd::agent
