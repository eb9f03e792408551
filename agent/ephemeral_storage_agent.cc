// ephemeral-storage on the loop: each resync measures every bounded pod on a worker thread
// (one measurement per pod at a time) and evicts a pod over a limit.
//
// A pod whose trees the walk cannot finish (ephemeralStorageMaxEntries, or deeper than 512
// levels) is evicted too, with a message that says so: the walk's bounds must not be a way
// round the limit.
//
// An eviction is kubelet's: an Evicted warning with kubelet's message, the pod torn down (its
// containers stopped, its writable layers, logs and emptyDirs removed, so the disk comes back at
// once), and the pod kept as phase Failed, reason Evicted, with the message. It is not restarted:
// it stays Failed until its spec changes (a new pod) or its file is removed, also across a
// restart of boxd.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/ephemeral_storage.h"
#include "agent/project_quotas.h"
#include "agent/shim_watch.h"
#include "common/util.h"

namespace boxd::agent {

void Agent::checkEphemeralStorage(PodState& pod) {
  if (!pod.created || pod.busy || pod.storageCheck || pod.rec.uid.empty()) return;
  if (!hasStorageLimits(pod.spec, cfg_.defaultEphemeralStorageLimit)) return;
  pod.storageCheck = true;
  const std::string name = pod.rec.name, uid = pod.rec.uid;
  auto targets = std::make_shared<StorageTargets>(storageTargets(cfg_.paths, pod.spec, uid));
  // Trees under a project quota are read from it (project_quotas.h), the others walked.
  if (auto rows = store_->journal(name); rows.ok()) applyProjectIds(*targets, *rows);
  reconcilers::ProjectQuotaSys* quotas = quotas_ ? quotas_->sys() : nullptr;
  auto usage = std::make_shared<StorageUsage>();
  const int64_t maxEntries = cfg_.ephemeralStorageMaxEntries;
  auto measure = [targets, usage, maxEntries, quotas] {
    *usage = measureStorage(*targets, maxEntries, quotas);
  };
  dispatcher_.runBlocking(measure, [this, name, uid, usage] {
    auto it = pods_.find(name);
    if (it == pods_.end() || it->second->rec.uid != uid) return;
    PodState& p = *it->second;
    p.storageCheck = false;
    if (!usage->error.empty()) spdlog::warn("pod {}: ephemeral storage: {}", name, usage->error);
    if (!p.created || p.busy) return;
    auto e = judgeStorage(p.spec, *usage, cfg_.defaultEphemeralStorageLimit,
                          cfg_.ephemeralStorageMaxEntries);
    if (e) evict(p, e->message);
  });
}

void Agent::evict(PodState& pod, const std::string& message) {
  event(pod.rec.name, "Warning", "Evicted", message);
  pod.evicting = true;
  pod.evictionMessage = message;
  pod.created = false;
  beginTeardown(pod);
  // Recorded at once: a boxd restarted mid-teardown finishes it and keeps the pod Evicted.
  setPhase(pod, "Terminating", "Evicted", message);
}

// The teardown of an evicted pod is done: the pod stays, Failed, with nothing on the host.
void Agent::evicted(PodState& pod) {
  pod.evicting = false;
  pod.evicted = true;
  pod.busy = false;
  pod.watch.reset();
  for (auto& [cname, c] : pod.containers) {
    if (c.rec.state != "Terminated") {
      c.rec.state = "Terminated";
      c.rec.reason = "Evicted";
      c.rec.exitCode = 137;
      c.rec.finishedAtMs = nowMs();
    }
    c.rec.pid = 0;
    saveContainer(pod, c);
  }
  setPhase(pod, "Failed", "Evicted", pod.evictionMessage);
  if (pod.dirty) markDirty(pod.rec.name);
}

}  // namespace boxd::agent
