// Containers of a created pod: started through the pod's shim, restarted by restartPolicy with
// backoff (first restart at once, then 10 s doubling to 5 min, reset after 10 min of running),
// and the pod phase derived from them.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/image_config.h"
#include "agent/pod_plan.h"
#include "agent/probes.h"
#include "agent/security_context.h"
#include "agent/shim_watch.h"
#include "common/util.h"
#include "reconcilers/sandbox/shim_client.h"

namespace boxd::agent {

namespace {
constexpr int64_t kBackoffResetMs = 10 * 60 * 1000;
// kubelet's reason for a container its own spec forbids to start (runAsNonRoot with root). The
// spec of a pod never changes (a new spec is a new pod), so it is not retried.
constexpr const char* kConfigError = "CreateContainerConfigError";

// Init containers run to completion: one that exited 0 is done, whatever the policy.
bool shouldRestart(specs::RestartPolicy p, int exitCode, bool init) {
  if (init && exitCode == 0) return false;
  if (init && p == specs::RestartPolicy::Always) return true;
  switch (p) {
    case specs::RestartPolicy::Always:
      return true;
    case specs::RestartPolicy::OnFailure:
      return exitCode != 0;
    case specs::RestartPolicy::Never:
      return false;
  }
  return false;
}
}  // namespace

void Agent::saveContainer(PodState& pod, ContainerRuntime& c) {
  c.rec.pod = pod.rec.name;
  logStoreError(store_->upsertContainer(c.rec), "record container");
  notifyPodWatchers(pod.rec.name);
}

// Whether the container should be started now: not running, not starting, no restart pending,
// and either never run or terminated with a restart its (lost) timer never made.
bool Agent::dueToStart(PodState& pod, const specs::Container& spec, bool init) {
  auto& c = pod.containers[spec.name];
  bool pendingRestart = c.restartTimer && c.restartTimer->active();
  if (c.starting || pendingRestart || c.rec.state == "Running") return false;
  if (c.rec.reason == kConfigError && !c.configWait) return false;
  if (c.rec.state != "Terminated") return true;
  // Its restart timer died with a previous boxd: restart now if the policy says so (a sidecar's
  // is always, until its pod is done: startContainers asks no more then).
  bool restart = spec.isSidecar() || shouldRestart(pod.spec.restartPolicy, c.rec.exitCode, init);
  if (!restart || c.restartTimer) return false;
  c.rec.restarts++;
  return true;
}

// Init containers one at a time, in order, each to exit 0 (a sidecar: to have started, and it
// keeps running); then every container together (sidecar_rules.h).
void Agent::startContainers(PodState& pod) {
  if (!pod.created || pod.busy || pod.adopting) return;
  syncProbes(pod);  // a sidecar's "started" comes from its probe run
  const PodFacts facts = podFacts(pod);
  const InitProgress init = initProgress(pod.spec, facts);
  const bool completed = podCompleted(pod.spec, facts);
  const auto& inits = pod.spec.initContainers;
  for (size_t i = 0; i < inits.size() && i <= init.index; ++i) {
    if (i < init.index && (!inits[i].isSidecar() || completed)) continue;
    if (dueToStart(pod, inits[i], true)) startContainer(pod, inits[i].name);
  }
  if (init.index < inits.size()) return updatePhase(pod);  // it must pass before the next starts
  for (const auto& spec : pod.spec.containers) {
    if (dueToStart(pod, spec, false)) startContainer(pod, spec.name);
  }
  updatePhase(pod);
}

void Agent::startContainer(PodState& pod, const std::string& name) {
  const specs::Container* spec = findContainer(pod.spec, name);
  if (spec == nullptr) return;
  auto& c = pod.containers[name];
  // An init container has no record before its first start: it is made here, with its name.
  c.rec.name = name;
  std::vector<ConfigWrite> writes;  // config volumes, written before the start
  auto config = prepareContainer(pod, *spec, writes);
  if (!config.ok()) return waitForConfig(pod, name, config.error().message);
  auto process = effectiveProcess(pod.spec, *spec, *config, imageConfigOf(imageIdOf(pod, *spec)));
  auto security = process.ok() ? resolveSecurity(pod.spec, *spec, process->user)
                               : Result<reconcilers::ContainerSecurity>(process.error());
  if (!security.ok()) {
    c.rec.state = "Waiting";
    c.rec.reason = kConfigError;
    c.rec.message = security.error().message;
    saveContainer(pod, c);
    event(pod.rec.name, "Warning", "Failed", "Error: " + c.rec.message);
    return;
  }
  c.configWait = false;
  for (const auto& w : writes) pod.configDigests[w.volume] = volumeFilesDigest(w.files, w.owner);
  c.starting = true;
  ContainerPaths cp = containerPaths(cfg_.paths, pod.rec.name, pod.rec.uid, name);
  PodPaths pp = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid);
  reconcilers::ContainerLaunch launch;
  launch.name = name;
  launch.rootfs = cp.rootfs;
  launch.argv = process->argv;
  launch.env = process->env;
  launch.cwd = process->cwd;
  launch.cgroupProcs = cgroups_->procsFiles(cp.cgroupRel);
  launch.logPath = cp.logPath;
  launch.security = *security;
  launch.mounts = containerMounts(pp, pod.spec, *spec, pod.podFiles);
  launch.logMaxBytes = cfg_.logMaxBytes;
  launch.logMaxFiles = cfg_.logMaxFiles;
  launch.oomEventsFile = cgroups_->oomEventsFile(cp.cgroupRel);
  std::string socket = pp.socket;
  auto result = std::make_shared<Result<reconcilers::ContainerStatus>>(makeError("not started"));
  auto secOut = std::make_shared<reconcilers::ContainerSecurity>();
  const std::string podName = pod.rec.name, uid = pod.rec.uid;
  dispatcher_.runBlocking(
      [socket, launch, imageUser = process->user, keepGid = runAsGroupSet(pod.spec, *spec), secOut,
       result, writes = std::move(writes)]() mutable {
        std::string logDir = launch.logPath.substr(0, launch.logPath.find_last_of('/'));
        Status st = mkdirAll(logDir, 0700);
        for (const auto& w : writes) {
          if (!st.ok()) break;
          auto wrote = writeConfigVolume(w.dir, w.files, w.owner, w.fsGroup);
          if (!wrote.ok()) st = wrote.error().wrap("volume " + w.volume);
        }
        if (st.ok() && !imageUser.empty())
          st = applyImageUser(launch.rootfs, imageUser, keepGid, launch.security);
        *result = st.ok() ? reconcilers::ShimClient(socket).start(launch)
                          : Result<reconcilers::ContainerStatus>(st.error());
        *secOut = launch.security;
      },
      [this, podName, uid, name, result, secOut, argv = launch.argv] {
        auto it = pods_.find(podName);
        if (it == pods_.end() || it->second->rec.uid != uid) return;
        PodState& p = *it->second;
        auto& rt = p.containers[name];
        rt.starting = false;
        rt.argv = argv;
        rt.security = *secOut;
        if (!result->ok()) {
          rt.earlyExit.reset();
          event(podName, "Warning", "Failed", result->error().message);
          rt.rec.message = result->error().message;
          return onContainerExit(podName, name, {128, 0, false, nowMs(), true});
        }
        rt.rec.state = "Running";
        rt.rec.reason = "";
        rt.rec.message = "";
        rt.rec.pid = (*result)->pid;
        rt.rec.startedAtMs = (*result)->startedAtMs;
        rt.rec.exitCode = 0;
        saveContainer(p, rt);
        event(podName, "Normal", "Started",
              "started container " + name + " (pid " + std::to_string(rt.rec.pid) + ")");
        if (auto early = std::exchange(rt.earlyExit, std::nullopt))
          return onContainerExit(podName, name, *early);
        if (isSidecar(p.spec, name)) return startContainers(p);  // it may have started already
        updatePhase(p);
      });
}

namespace {
// kubelet's words for the reason a run ended, and the event saying so.
void describeExit(state::ContainerRecord& rec, const ContainerRuntime::Exit& exit,
                  const specs::Container* spec, std::string& eventMessage) {
  const int code = rec.exitCode;
  rec.reason = exit.startError  ? "StartError"
               : code == 0      ? "Completed"
               : exit.oomKilled ? "OOMKilled"
                                : "Error";
  // A run that never started keeps the start error the caller put in the message.
  if (exit.signal != 0) rec.message = "killed by signal " + std::to_string(exit.signal);
  eventMessage = "container " + rec.name + " exited with code " + std::to_string(code);
  if (!exit.oomKilled) return;
  std::string limit =
      spec != nullptr && spec->resources.memoryLimitBytes
          ? "its memory limit of " + std::to_string(*spec->resources.memoryLimitBytes) + " bytes"
          : "the memory limit of its pod or of the host";
  rec.message = "the OOM killer killed a process of the container: it reached " + limit;
  eventMessage += ": " + rec.message;
}
}  // namespace

void Agent::onContainerExit(const std::string& podName, const std::string& name,
                            const ContainerRuntime::Exit& exit) {
  auto it = pods_.find(podName);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  auto& c = pod.containers[name];
  if (pod.busy) return;  // being torn down: exits are expected
  if (c.starting) {
    c.earlyExit = exit;
    return;
  }
  int code = exit.signal != 0 ? 128 + exit.signal : exit.exitCode;
  int64_t ranMs = c.rec.startedAtMs > 0 ? exit.finishedAtMs - c.rec.startedAtMs : 0;
  c.rec.state = "Terminated";
  c.rec.name = name;
  c.rec.exitCode = code;
  c.rec.pid = 0;
  c.rec.finishedAtMs = exit.finishedAtMs;
  std::string message;
  describeExit(c.rec, exit, findContainer(pod.spec, name), message);
  if (c.probes && !c.probes->killReason.empty()) {  // boxd stopped it: a probe or hook failed
    c.rec.message = c.probes->killReason;
    message += " (" + c.probes->killReason + ")";
  }
  c.lastTerminated = c.rec;
  event(podName, code == 0 ? "Normal" : "Warning", c.rec.reason, message);
  checkPidsLimit(pod);
  const bool init = isInitContainer(pod.spec, name);
  const bool sidecar = isSidecar(pod.spec, name);  // always restarted, until the pod is done
  if (sidecar ? !podCompleted(pod.spec, podFacts(pod))
              : shouldRestart(pod.spec.restartPolicy, code, init)) {
    if (ranMs > kBackoffResetMs) c.backoffMs = 0;
    int64_t delay = c.backoffMs;
    c.backoffMs =
        delay == 0 ? cfg_.restartBackoffMs : std::min<int64_t>(delay * 2, cfg_.maxBackoffMs);
    if (!c.restartTimer) c.restartTimer = std::make_unique<Timer>(loop_);
    if (delay > 0) {
      c.rec.state = "Waiting";
      c.rec.reason = "CrashLoopBackOff";
      c.rec.message = "back-off " + std::to_string(delay / 1000) + "s restarting container " + name;
      event(podName, "Warning", "BackOff", c.rec.message);
    }
    const std::string uid = pod.rec.uid;
    c.restartTimer->start(static_cast<uint64_t>(delay), [this, podName, uid, name] {
      auto p = pods_.find(podName);
      if (p == pods_.end() || p->second->rec.uid != uid || p->second->busy) return;
      auto& rt = p->second->containers[name];
      rt.rec.restarts++;
      startContainer(*p->second, name);
    });
  }
  saveContainer(pod, c);
  if (init && !sidecar && code == 0) return startContainers(pod);  // the next one, or the pod
  updatePhase(pod);
}

void Agent::updatePhase(PodState& pod) {
  syncProbes(pod);
  if (!pod.created || pod.busy) return;
  schedulePacing(pod);  // readiness may have changed
  // While init containers run, the pod is Pending with kubectl's Init:N/M, Init:Error or
  // Init:CrashLoopBackOff; a failed one with restartPolicy Never fails the pod (once its
  // sidecars are stopped). Sidecars count as passed once started (sidecar_rules.h).
  const InitProgress init = initProgress(pod.spec, podFacts(pod));
  if (init.index < pod.spec.initContainers.size()) {
    const auto& spec = pod.spec.initContainers[init.index];
    const auto& c = pod.containers[spec.name];
    if (c.rec.reason == kConfigError) return setPhase(pod, "Pending", kConfigError, c.rec.message);
    std::string progress =
        std::to_string(init.passed) + "/" + std::to_string(pod.spec.initContainers.size());
    if (c.rec.reason == "CrashLoopBackOff")
      return setPhase(pod, "Pending", "Init:CrashLoopBackOff", c.rec.message);
    if (c.rec.state == "Terminated" && !spec.isSidecar()) {  // a sidecar always runs again
      bool retry = c.restartTimer && c.restartTimer->active();
      if (!retry) {
        if (!sidecarsStopped(pod)) return;
        return setPhase(
            pod, "Failed", "Init:Error",
            "init container " + spec.name + " exited with code " + std::to_string(c.rec.exitCode));
      }
      return setPhase(pod, "Pending", "Init:Error",
                      "init container " + spec.name + " failed; retrying");
    }
    return setPhase(pod, "Pending", "Init:" + progress, "");
  }
  int running = 0, pending = 0, failed = 0;
  for (const auto& spec : pod.spec.containers) {
    auto& c = pod.containers[spec.name];
    bool restartDue = c.restartTimer && c.restartTimer->active();
    if (c.rec.reason == kConfigError) return setPhase(pod, "Pending", kConfigError, c.rec.message);
    if (c.rec.state == "Running")
      running++;
    else if (c.starting || restartDue || c.rec.state != "Terminated")
      pending++;
    else if (c.rec.exitCode != 0)
      failed++;
  }
  // The phase comes from the regular containers alone; sidecars still running are stopped first.
  if (running > 0 || pending > 0 || !sidecarsStopped(pod)) {
    setPhase(pod, "Running", "", "");
  } else if (failed > 0) {
    setPhase(pod, "Failed", "ContainersFailed", std::to_string(failed) + " container(s) failed");
  } else {
    setPhase(pod, "Succeeded", "Completed", "");
  }
}

void Agent::watchShim(PodState& pod) {
  const std::string name = pod.rec.name, uid = pod.rec.uid;
  std::string socket = podPaths(cfg_.paths, name, uid).socket;
  pod.watch = std::make_unique<ShimWatch>(
      loop_, socket, [this, name](const nlohmann::json& ev) { onShimEvent(name, ev); },
      [this, name, uid](const std::string& why) {
        auto it = pods_.find(name);
        if (it == pods_.end() || it->second->rec.uid != uid || it->second->busy) return;
        PodState& p = *it->second;
        event(name, "Warning", "SandboxLost",
              "lost the pod shim (" + why + "); recreating the pod");
        p.created = false;
        p.needsTeardown = true;
        dispatcher_.post([this, name] { reconcile(name); });
      });
  refreshFromShim(name);
}

// Exits, and stops as they happen. A stop is told while the pod is torn down too: that is when
// it happens, and a container that ignores SIGTERM is killed without a word otherwise.
void Agent::onShimEvent(const std::string& name, const nlohmann::json& ev) {
  const std::string kind = ev.value("event", "");
  if (kind == "exit") {
    auto exit = reconcilers::shimproto::exitEventFromJson(ev);
    if (!exit.ok()) return;  // a malformed event: resync re-reads the shim's state
    return onContainerExit(name, exit->name,
                           {exit->exitCode, exit->signal, exit->oomKilled, exit->finishedAtMs});
  }
  auto stop = reconcilers::shimproto::stopEventFromJson(ev);
  if (!stop.ok()) return;
  const std::string grace = std::to_string(stop->graceSeconds) + " s";
  if (stop->kind == "stopping") {
    event(name, "Normal", "Killing",
          "Stopping container " + stop->name + " (SIGTERM, grace period " + grace + ")");
  } else if (stop->graceSeconds > 0) {
    event(name, "Warning", "Killing",
          "Container " + stop->name + " did not stop within its grace period of " + grace +
              " after SIGTERM; killing it with SIGKILL");
  } else {
    event(name, "Normal", "Killing", "Killing container " + stop->name + " with SIGKILL");
  }
}

void Agent::refreshFromShim(const std::string& name) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  std::string socket = podPaths(cfg_.paths, name, pod.rec.uid).socket;
  auto result =
      std::make_shared<Result<std::vector<reconcilers::ContainerStatus>>>(makeError("none"));
  const std::string uid = pod.rec.uid;
  const int64_t askedAtMs = nowMs();
  dispatcher_.runBlocking(
      [socket, result] { *result = reconcilers::ShimClient(socket).state(); },
      [this, name, uid, result, askedAtMs] {
        auto p = pods_.find(name);
        if (p == pods_.end() || p->second->rec.uid != uid || p->second->busy) return;
        PodState& live = *p->second;
        const bool adopting = std::exchange(live.adopting, false);
        if (!result->ok()) return;  // the watch reports a lost shim
        for (const auto& st : **result) {
          auto c = live.containers.find(st.name);
          if (c == live.containers.end()) continue;
          // Started by the previous boxd, which died before it recorded the start, and exited
          // since: that run is the container's (never run again).
          if (adopting && !st.running && st.finishedAtMs > 0 && c->second.rec.state == "Waiting" &&
              st.startedAtMs > c->second.rec.finishedAtMs) {
            c->second.rec.state = "Running";
            c->second.rec.pid = st.pid;
            c->second.rec.startedAtMs = st.startedAtMs;
          }
          if (st.running) {
            if (c->second.rec.state != "Running" || c->second.rec.pid != st.pid) {
              c->second.rec.state = "Running";
              c->second.rec.reason = "";
              c->second.rec.pid = st.pid;
              c->second.rec.startedAtMs = st.startedAtMs;
              saveContainer(live, c->second);
            }
          } else if (c->second.rec.state == "Running" && c->second.rec.pid == st.pid) {
            onContainerExit(name, st.name, {st.exitCode, st.signal, st.oomKilled, st.finishedAtMs});
          }
        }
        // A container recorded Running that its shim never started (boxd died
        // between the two) is started now.
        for (auto& [cname, c] : live.containers) {
          bool known = false;
          for (const auto& st : **result) known = known || st.name == cname;
          // (One started after the question was asked is simply not in the answer.)
          if (!known && c.rec.state == "Running" && c.rec.startedAtMs < askedAtMs) {
            c.rec.state = "Waiting";
            c.rec.reason = "ContainerCreating";
          }
        }
        startContainers(live);
      });
}

}  // namespace boxd::agent
