// Creating and tearing down pods: the journaled step runner.
//
//   loop thread                       blocking thread
//   journal intent (durable) ───────► step.apply()
//   journal done ◄──────────────────── ok
//   ... next step ...
//   on failure: undo every journaled step in reverse (intent ones too: "maybe applied"),
//   keep the first error as the pod's reason, retry with backoff.
#include <signal.h>
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/pod_plan.h"
#include "agent/shim_watch.h"
#include "common/util.h"
#include "reconcilers/step.h"

namespace boxd::agent {

using state::JournalRow;

void Agent::beginCreate(PodState& pod, const DesiredPod& want) {
  std::vector<std::string> lowers;
  std::string missing;
  for (const auto& c : want.spec.containers) {
    auto rootfs = imageRootfs(c.image);
    if (!rootfs) {
      missing = specs::parseImageRef(c.image).str();
      break;
    }
    lowers.push_back(*rootfs);
  }
  bool fresh = pod.rec.uid.empty() || pod.rec.specHash != want.hash;
  pod.spec = want.spec;
  pod.rec.specHash = want.hash;
  pod.rec.specJson = specs::toJson(want.spec).dump();
  pod.rec.sourceFile = want.sourceFile;
  if (pod.rec.createdAtMs == 0) pod.rec.createdAtMs = nowMs();
  if (fresh) {
    pod.containers.clear();
    for (const auto& c : want.spec.containers) {
      auto& rt = pod.containers[c.name];
      rt.rec = {pod.rec.name, c.name, "Waiting", "ContainerCreating", "", 0, 0, 0, 0, 0};
    }
  }
  if (!missing.empty()) {
    if (pod.rec.uid.empty()) pod.rec.uid = randomHex(16);
    if (pod.rec.reason != "ImageNotFound") {
      event(pod.rec.name, "Warning", "ImageNotFound",
            "image " + missing + " is not in the local store; import it with `boxctl image import " + missing +
                " PATH`");
    }
    setPhase(pod, "Pending", "ImageNotFound", "image " + missing + " not found");
    logStoreError(store_->upsertPod(pod.rec), "record pod");
    return;
  }
  pod.rec.uid = randomHex(16);  // a new incarnation: new paths, new cgroup
  pod.busy = true;
  pod.dirty = false;
  setPhase(pod, "Pending", "ContainerCreating", "");
  logStoreError(store_->upsertPod(pod.rec), "record pod");
  for (auto& [name, c] : pod.containers) saveContainer(pod, c);
  auto plan = planPod(cfg_.paths, *cgroups_, pod.spec, pod.rec.uid, lowers);
  runStep(pod.rec.name, std::move(plan), 0);
}

void Agent::runStep(const std::string& name, std::vector<PlannedStep> plan, size_t i) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  if (i == plan.size()) {
    pod.busy = false;
    pod.created = true;
    event(name, "Normal", "Created", "pod sandbox and volumes ready (" + std::to_string(plan.size()) + " steps)");
    watchShim(pod);
    startContainers(pod);
    if (pod.dirty) markDirty(name);
    return;
  }
  const PlannedStep& ps = plan[i];
  reconcilers::Host host{cfg_.paths, *mounter_, *cgroups_};
  auto built = reconcilers::stepFromJournal(ps.kind, ps.params, host);
  if (!built.ok()) return createFailed(name, built.error());
  std::shared_ptr<reconcilers::Step> step = std::move(*built);
  JournalRow row;
  row.pod = name;
  row.podUid = pod.rec.uid;
  row.seq = static_cast<int>(i);
  row.kind = ps.kind;
  row.resource = step->resource();
  row.params = ps.params;
  auto id = store_->journalIntent(row);
  if (!id.ok()) return createFailed(name, id.error().wrap("journal intent"));
  int n = static_cast<int>(i) + 1;
  if (faults_.crashStep == n && !faults_.crashAfterApply) ::raise(SIGKILL);
  auto result = std::make_shared<Status>();
  dispatcher_.runBlocking([step, result] { *result = step->apply(); },
                          [this, name, plan = std::move(plan), i, n, step, result, rowId = *id]() mutable {
                            if (faults_.crashStep == n && faults_.crashAfterApply) ::raise(SIGKILL);
                            Status st = *result;
                            if (st.ok() && faults_.failStep == n) {
                              st = makeError("fault injected at step " + std::to_string(n));
                            }
                            if (!st.ok()) {
                              return createFailed(name, st.error().wrap("step " + std::to_string(n) + " " +
                                                                        step->kind() + " " + step->resource()));
                            }
                            logStoreError(store_->journalDone(rowId, step->params()), "journal done");
                            runStep(name, std::move(plan), i + 1);
                          });
}

void Agent::createFailed(const std::string& name, const Error& err) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  event(name, "Warning", "FailedCreate", err.message);
  auto rows = store_->journal(name);
  std::vector<JournalRow> list = rows.ok() ? *rows : std::vector<JournalRow>{};
  undoJournal(name, {list.rbegin(), list.rend()}, {}, [this, name, err](Status undone) {
    auto pit = pods_.find(name);
    if (pit == pods_.end()) return;
    PodState& pod = *pit->second;
    pod.busy = false;
    std::string msg = err.message;
    if (!undone.ok()) {
      msg += "; rollback incomplete: " + undone.error().message;
      pod.needsTeardown = true;
    }
    for (auto& [cname, c] : pod.containers) {
      c.rec.state = "Waiting";
      c.rec.reason = "CreateFailed";
      saveContainer(pod, c);
    }
    setPhase(pod, "Pending", "CreateFailed", msg);
    pod.retryBackoffMs = pod.retryBackoffMs == 0 ? cfg_.restartBackoffMs
                                                 : std::min<int64_t>(pod.retryBackoffMs * 2, cfg_.maxBackoffMs);
    if (!pod.retryTimer) pod.retryTimer = std::make_unique<Timer>(loop_);
    event(name, "Normal", "BackOff", "retrying pod creation in " + std::to_string(pod.retryBackoffMs / 1000) + "s");
    pod.retryTimer->start(static_cast<uint64_t>(pod.retryBackoffMs), [this, name] {
      auto p = pods_.find(name);
      if (p != pods_.end()) p->second->retryTimer->stop();
      reconcile(name);
    });
  });
}

void Agent::undoJournal(const std::string& name, std::vector<JournalRow> rows, Status first,
                        std::function<void(Status)> done) {
  if (rows.empty()) return done(first);
  JournalRow row = rows.front();
  rows.erase(rows.begin());
  reconcilers::Host host{cfg_.paths, *mounter_, *cgroups_};
  auto built = reconcilers::stepFromJournal(row.kind, row.params, host);
  if (!built.ok()) {
    if (first.ok()) first = built.error();
    return undoJournal(name, std::move(rows), first, std::move(done));
  }
  std::shared_ptr<reconcilers::Step> step = std::move(*built);
  auto result = std::make_shared<Status>();
  dispatcher_.runBlocking([step, result] { *result = step->undo(); },
                          [this, name, rows = std::move(rows), first, done = std::move(done), row, result]() mutable {
                            if (result->ok()) {
                              logStoreError(store_->journalRemove(row.id), "journal remove");
                            } else {
                              spdlog::warn("pod {}: undo {} {}: {}, keeping it for a retry", name, row.kind,
                                           row.resource, result->error().message);
                              if (first.ok()) first = result->error().wrap("undo " + row.kind + " " + row.resource);
                            }
                            undoJournal(name, std::move(rows), first, std::move(done));
                          });
}

void Agent::beginTeardown(PodState& pod, std::function<void(PodState&)> then) {
  const std::string name = pod.rec.name;
  pod.busy = true;
  pod.dirty = false;
  pod.watch.reset();
  pod.retryTimer.reset();
  for (auto& [cname, c] : pod.containers) c.restartTimer.reset();
  setPhase(pod, "Terminating", "", "");
  auto rows = store_->journal(name);
  std::vector<JournalRow> list = rows.ok() ? *rows : std::vector<JournalRow>{};
  undoJournal(name, {list.rbegin(), list.rend()}, {}, [this, name, then = std::move(then)](Status st) {
    auto it = pods_.find(name);
    if (it == pods_.end()) return;
    PodState& p = *it->second;
    if (!st.ok()) {
      p.busy = false;
      p.needsTeardown = true;
      setPhase(p, "Terminating", "TeardownFailed", st.error().message);
      event(name, "Warning", "TeardownFailed", st.error().message + "; retrying");
      p.retryBackoffMs = std::min<int64_t>(std::max<int64_t>(p.retryBackoffMs * 2, 1000), cfg_.maxBackoffMs);
      p.retryTimer = std::make_unique<Timer>(loop_);
      p.retryTimer->start(static_cast<uint64_t>(p.retryBackoffMs), [this, name] { reconcile(name); });
      return;
    }
    logStoreError(store_->deletePod(name), "delete pod");
    event(name, "Normal", "Deleted", "pod torn down; every host resource removed");
    pods_.erase(it);
    markDirty(name);
  });
}

}  // namespace boxd::agent
