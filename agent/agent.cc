#include "agent/agent.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "agent/metrics_server.h"
#include "agent/plan.h"
#include "agent/project_quotas.h"
#include "agent/scheduling.h"
#include "agent/shim_watch.h"
#include "agent/watch_hub.h"
#include "common/util.h"
#include "reconcilers/network/localnet_guard.h"
#include "reconcilers/network/sysctl.h"
#include "reconcilers/step.h"

namespace boxd::agent {

Agent::Agent(uv_loop_t* loop, Config cfg, std::unique_ptr<state::Store> store,
             std::unique_ptr<reconcilers::Mounter> mounter,
             std::unique_ptr<reconcilers::Cgroups> cgroups)
    : loop_(loop),
      cfg_(std::move(cfg)),
      store_(std::move(store)),
      mounter_(std::move(mounter)),
      cgroups_(std::move(cgroups)),
      images_(cfg_.paths.imagesDir()),
      dispatcher_(loop),
      faults_(FaultInjection::fromEnv()),
      runner_(
          dispatcher_, *store_,
          [this](const std::string& kind, const nlohmann::json& params) {
            reconcilers::Host host{cfg_.paths, *mounter_, *cgroups_, blockCtx_.get(),
                                   quotas_ ? quotas_->sys() : nullptr};
            return reconcilers::stepFromJournal(kind, params, host);
          },
          faults_),
      rescanTimer_(loop),
      resyncTimer_(loop) {}

Agent::~Agent() { shutdown(); }

Status Agent::start() {
  startedAtMs_ = nowMs();
  for (const auto& dir : {cfg_.paths.podsDir(), cfg_.paths.imagesDir(), cfg_.paths.shimsDir()}) {
    BOXD_TRY(mkdirAll(dir, 0700));
  }
  quotas_ = ProjectQuotas::start(cfg_.paths, cfg_.projectQuota,
                                 {cfg_.projectQuotaIdMin, cfg_.projectQuotaIdMax});
  spdlog::info("{}", quotas_->startLine());
  if (faults_.failStep || faults_.crashStep || !faults_.crashUndoKind.empty()) {
    spdlog::warn("fault injection active: fail step {}, crash step {}{}, crash at undo of {}{}",
                 faults_.failStep, faults_.crashStep,
                 faults_.crashAfterApply ? " (after apply)" : "", faults_.crashUndoKind,
                 faults_.crashAfterUndo ? " (after undo)" : "");
  }
  Status images = images_.start();  // temporaries of interrupted imports; older store layouts
  if (!images.ok()) return images.error().wrap("image store " + cfg_.paths.imagesDir());
  BOXD_TRY(
      store_->setEventRetention({cfg_.eventsPerPod, cfg_.deletedPodEventsMs, cfg_.eventsMaxRows}));
  BOXD_TRY(setUpNetwork());
  BOXD_TRY(setUpBlock());
  BOXD_TRY(startTooling());
  recover();
  startWatching();
  scheduleScan();
  rescanTimer_.start(
      cfg_.rescanSeconds * 1000, [this] { scheduleScan(); }, cfg_.rescanSeconds * 1000);
  resyncTimer_.start(
      cfg_.resyncSeconds * 1000, [this] { resync(); }, cfg_.resyncSeconds * 1000);
  return {};
}

void Agent::shutdown() {
  stopTooling();
  cancelPulls();
  rescanTimer_.stop();
  resyncTimer_.stop();
  if (inotifyPoll_ != nullptr) {
    uv_poll_stop(inotifyPoll_);
    uv_close(reinterpret_cast<uv_handle_t*>(inotifyPoll_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    inotifyPoll_ = nullptr;
  }
  if (inotifyFd_ >= 0) {
    ::close(inotifyFd_);
    inotifyFd_ = -1;
  }
  for (auto& [name, pod] : pods_) {
    pod->watch.reset();
    pod->retryTimer.reset();
    for (auto& [cname, c] : pod->containers) c.restartTimer.reset();
  }
  dispatcher_.close();
}

// ---- networking -----------------------------------------------------------------------------

// The subnet is fixed on first use and recorded: addresses handed out stay valid across restarts
// even if the host's routes change. An explicit network.subnet always wins.
Status Agent::setUpNetwork() {
  const NetworkConfig& n = cfg_.network;
  if (!n.enabled) return {};
  BOXD_TRY(mkdirAll(cfg_.paths.runDir + "/netns", 0700));
  std::string subnet = n.subnet;
  if (subnet.empty()) {
    auto recorded = store_->getMeta("network_subnet");
    if (!recorded.ok()) return recorded.error();
    if (*recorded) {
      subnet = **recorded;
    } else {
      auto routes = readFile("/proc/net/route");
      if (!routes.ok()) return routes.error().wrap("pick the pod subnet");
      auto picked = pickFreeSubnet(*routes, n.bridge);
      if (!picked.ok()) return picked.error();
      subnet = picked->str();
    }
  }
  auto net = Ipv4Net::parse(subnet);
  if (!net.ok()) return net.error().wrap("network.subnet");
  BOXD_TRY(store_->setMeta("network_subnet", net->str()));
  ipam_.emplace(*store_, *net);
  // A bridge left up by an earlier run, with pods journaled by a version without the guard, is
  // guarded before anything else happens; every veth step ensures it again (and repairs it).
  Status guard = reconcilers::net::ensureLocalnetGuard(n.nftTable, n.bridge);
  if (!guard.ok()) spdlog::error("pod network: {}", guard.error().message);
  if (n.ipForward) {
    Status st = reconcilers::net::writeSysctl(
        reconcilers::net::sysctlPath({"net", "ipv4", "ip_forward"}), "1");
    if (!st.ok()) spdlog::warn("enable IPv4 forwarding: {}", st.error().message);
  }
  spdlog::info("pod network: bridge {}, subnet {}{}{}{}", n.bridge, net->str(),
               n.hostPorts ? ", hostPorts via nftables table ip " + n.nftTable : "",
               n.masquerade ? ", masquerade" : "", n.ipForward ? ", IPv4 forwarding on" : "");
  return {};
}

void Agent::releaseAddress(const std::string& pod, const std::string& uid) {
  if (!ipam_) return;
  logStoreError(ipam_->release(uid), ("release the address of pod " + pod).c_str());
}

// ---- recovery -------------------------------------------------------------------------------

void Agent::recover() {
  bootId_ = bootId();
  auto lastBoot = store_->getMeta("bootId");
  bool rebooted = lastBoot.ok() && lastBoot->has_value() && **lastBoot != bootId_;
  logStoreError(store_->setMeta("bootId", bootId_), "record boot id");
  if (rebooted)
    spdlog::info("host rebooted since the last run: no recorded kernel object is assumed to exist");

  auto recs = store_->listPods();
  if (!recs.ok()) {
    spdlog::error("read pods from the state store: {}", recs.error().message);
    return;
  }
  for (auto& rec : *recs) {
    auto pod = std::make_unique<PodState>();
    pod->rec = rec;
    auto spec = specs::fromJson(nlohmann::json::parse(rec.specJson, nullptr, false));
    if (spec.ok()) pod->spec = *spec;
    auto rows = store_->journal(rec.name);
    bool complete = rows.ok() && !rows->empty();
    if (rows.ok()) {
      for (const auto& r : *rows) {
        complete = complete && r.state == state::StepState::Done;
        pod->podFiles = pod->podFiles || r.kind == "files";
        if (r.kind == "rootfs" && r.params.is_object() && r.params.contains("container"))
          pod->imageIds[r.params.value("container", "")] = r.params.value("image", "");
      }
    }
    auto ctrs = store_->containers(rec.name);
    if (ctrs.ok()) {
      for (auto& c : *ctrs) pod->containers[c.name].rec = c;
    }
    // An interrupted create or teardown is undone from the journal (every undo is idempotent);
    // the pod is then created afresh if it is still desired. A complete pod is re-adopted
    // through its shim if the shim still runs; its containers keep running untouched.
    pod->created = complete && !rebooted && rec.phase != "Terminating";
    // Evicted and torn down: kept as it is, not restarted (ephemeral_storage_agent.cc).
    pod->evicted = rows.ok() && rows->empty() && rec.reason == "Evicted";
    pod->evicting = !pod->evicted && rec.reason == "Evicted";
    if (pod->evicting) pod->created = false;
    pod->evictionMessage = rec.message;
    pod->needsTeardown = !pod->created && !pod->evicted;
    spdlog::info("recovered pod {} (phase {}, {})", rec.name, rec.phase,
                 pod->created ? "re-adopting its shim" : "undoing its journal");
    pods_.emplace(rec.name, std::move(pod));
  }
  for (auto& [name, pod] : pods_) {
    if (!pod->created) continue;
    watchShim(*pod);
    pod->adopting = true;
    refreshFromShim(name);  // then its containers are started as their records say
  }
  adoptAddresses();
  seedBlockRegistry();
  cleanStaleBlockSessions();
}

// Recorded addresses after a restart: a live pod's is shown in its status again; one whose pod
// incarnation has neither a pod row nor a journal row left (boxd stopped between the last undo
// and the release) goes back to the pool.
void Agent::adoptAddresses() {
  if (!ipam_) return;
  auto rows = store_->listAddresses();
  auto journal = store_->journalAll();
  if (!rows.ok() || !journal.ok()) return;
  std::set<std::string> live;
  for (const auto& [name, pod] : pods_) live.insert(pod->rec.uid);
  for (const auto& j : *journal) live.insert(j.podUid);
  for (const auto& a : *rows) {
    if (live.count(a.podUid)) {
      auto it = pods_.find(a.pod);
      if (it != pods_.end() && it->second->rec.uid == a.podUid) it->second->podIp = a.address;
      continue;
    }
    spdlog::info("releasing address {} of a pod that no longer exists ({})", a.address, a.pod);
    releaseAddress(a.pod, a.podUid);
  }
}

// Drift repair: containers are re-read from their shims, and every done step is observed. A
// resource that can be re-created under running containers (a veth, a pod file) is repaired in
// place; any other gone from the host (a rootfs unmounted, a cgroup removed behind boxd's back)
// makes the pod be recreated.
void Agent::resync() {
  for (auto& [name, pod] : pods_) {
    if (!pod->created || pod->busy) continue;
    refreshFromShim(name);
    const std::string podName = name, uid = pod->rec.uid;
    runner_.observeAll(name, [this, podName, uid](StepRunner::Drift drift) {
      auto join = [](const std::vector<std::string>& items) {
        std::string list;
        for (const auto& a : items) list += (list.empty() ? "" : ", ") + a;
        return list;
      };
      if (!drift.repaired.empty())
        event(podName, "Warning", "DriftRepaired", "re-created in place: " + join(drift.repaired));
      auto it = pods_.find(podName);
      if (drift.absent.empty() || it == pods_.end() || it->second->rec.uid != uid ||
          it->second->busy)
        return;
      event(podName, "Warning", "DriftDetected",
            "gone from the host: " + join(drift.absent) + "; recreating the pod");
      it->second->created = false;
      it->second->needsTeardown = true;
      reconcile(podName);
    });
  }
  for (auto& [name, pod] : pods_) {
    if (pod->created && !pod->busy) checkPidsLimit(*pod);
    checkEphemeralStorage(*pod);
  }
  flushEvents();
  logStoreError(store_->pruneEvents(nowMs()), "prune events");
}

// ---- specs ----------------------------------------------------------------------------------

void Agent::startWatching() {
  inotifyFd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotifyFd_ < 0) {
    spdlog::warn("inotify unavailable ({}); relying on the periodic rescan", std::strerror(errno));
    return;
  }
  inotifyPoll_ = new uv_poll_t;
  uv_poll_init(loop_, inotifyPoll_, inotifyFd_);
  inotifyPoll_->data = this;
  uv_poll_start(inotifyPoll_, UV_READABLE, &Agent::onInotify);
}

// Watches the specs path itself (following a symlink to the current snapshot) and the resolved
// snapshot (the ConfigMap ..data target). When the specs path is a symlink that git-sync swaps,
// its parent is watched too, but only events naming the link count: the parent may hold busy
// files (boxd's own log, say) that must not wake boxd.
void Agent::rewatch(const std::string& resolvedDir) {
  if (inotifyFd_ < 0 || resolvedDir == watchedDir_) return;
  for (int wd : watches_) inotify_rm_watch(inotifyFd_, wd);
  watches_.clear();
  parentWatch_ = -1;
  watchedDir_ = resolvedDir;
  constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                             IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
  for (const auto& d : {cfg_.specsDir, resolvedDir}) {
    int wd = inotify_add_watch(inotifyFd_, d.c_str(), kMask);
    if (wd >= 0) watches_.push_back(wd);
  }
  struct stat st {};
  auto slash = cfg_.specsDir.find_last_of('/');
  if (::lstat(cfg_.specsDir.c_str(), &st) == 0 && S_ISLNK(st.st_mode) &&
      slash != std::string::npos) {
    std::string parent = slash == 0 ? "/" : cfg_.specsDir.substr(0, slash);
    linkName_ = cfg_.specsDir.substr(slash + 1);
    parentWatch_ = inotify_add_watch(inotifyFd_, parent.c_str(),
                                     IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ONLYDIR);
    if (parentWatch_ >= 0) watches_.push_back(parentWatch_);
  }
}

// Any relevant event, IN_Q_OVERFLOW included, means one full pass: the pass compares content
// hashes, so a spurious wake-up costs a directory read and nothing else.
void Agent::onInotify(uv_poll_t* h, int status, int) {
  auto* self = static_cast<Agent*>(h->data);
  if (status < 0) return;
  alignas(inotify_event) char buf[16384];
  bool relevant = false;
  for (;;) {
    ssize_t n = ::read(self->inotifyFd_, buf, sizeof buf);
    if (n <= 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      bool fromParent = self->parentWatch_ >= 0 && ev->wd == self->parentWatch_;
      if ((ev->mask & IN_Q_OVERFLOW) || !fromParent ||
          (ev->len > 0 && self->linkName_ == ev->name)) {
        relevant = true;
      }
      p += sizeof(inotify_event) + ev->len;
    }
  }
  if (relevant) self->scheduleScan();
}

void Agent::scheduleScan() {
  if (scanning_) {
    rescan_ = true;
    return;
  }
  scanning_ = true;
  ++specPasses_;
  // Reading and parsing run on the worker; the parse cache stays on the loop thread: the worker
  // gets a copy of its hashes and parses only the files whose hash is not among them.
  std::map<std::string, std::string> known;
  for (const auto& [file, cached] : parseCache_) known[file] = cached.first;
  auto result = std::make_shared<Result<SpecPass>>(makeError("not read"));
  dispatcher_.runBlocking(
      [result, dir = cfg_.specsDir, max = cfg_.specMaxBytes, known = std::move(known)] {
        *result = readAndParseSpecs(dir, max, known);
        // A parse can build hundreds of MB of yaml-cpp tokens and nodes for a few MB of text
        // (a 4 MB flow collection: 600 MB), freed at once but kept by malloc in a heap that later
        // small allocations keep pinned and touch again. Each pass hands free heap back to the
        // system (cheap when there is little), so boxd's RSS returns to its baseline.
        ::malloc_trim(0);
      },
      [this, result] {
        scanning_ = false;
        onSnapshot(std::move(*result));
        if (rescan_) {
          rescan_ = false;
          scheduleScan();
        }
      });
}

void Agent::onSnapshot(Result<SpecPass> pass) {
  if (!pass.ok()) {
    // An unreadable specs dir (a mount not ready, a swap gone wrong) changes nothing that runs.
    if (specsError_ != pass.error().message) spdlog::error("specs: {}", pass.error().message);
    specsError_ = pass.error().message;
    notifySpecsWatchers();
    return;
  }
  const SpecSnapshot& snap = pass->snap;
  specsError_.clear();
  rewatch(snap.dir);
  if (revision_ != snap.revision) spdlog::info("specs revision {}", snap.revision);
  revision_ = snap.revision;

  std::vector<FileResult> files;
  std::map<std::string, std::pair<std::string, specs::ParseResult>> cache;
  for (const auto& f : snap.files) {
    if (!f.error.empty()) {  // not read (a FIFO, too large, a link out): its error alone
      files.push_back({f.name, unreadableFile(f)});
      continue;
    }
    specs::ParseResult parsed;
    auto fresh = pass->parsed.find(f.name);
    auto it = parseCache_.find(f.name);
    if (fresh != pass->parsed.end()) {
      parsed = std::move(fresh->second);
    } else if (it != parseCache_.end() && it->second.first == f.hash) {
      parsed = it->second.second;
    } else {
      // Cannot happen (one pass at a time, and only a pass changes the cache). The file keeps
      // its last good pods meanwhile, and the next pass parses it.
      rescan_ = true;
      SpecFile stale = f;
      stale.error = "changed while it was read; reading it again";
      files.push_back({f.name, unreadableFile(stale)});
      continue;
    }
    cache[f.name] = {f.hash, parsed};
    refuseExposedSecrets(f, parsed);  // after the cache: a chmod alone changes the verdict
    files.push_back({f.name, std::move(parsed)});
  }
  parseCache_ = std::move(cache);

  std::map<std::string, DesiredPod> recorded;
  for (const auto& [name, pod] : pods_)
    recorded[name] = {pod->spec, pod->rec.specHash, pod->rec.sourceFile};
  Desired next = resolveDesired(files, lastGood_, recorded);
  for (const auto& e : next.errors) {
    bool known = false;
    for (const auto& old : desired_.errors)
      known = known || (old.file == e.file && old.errors.size() == e.errors.size());
    if (!known) {
      for (const auto& d : e.errors) spdlog::warn("spec error: {}", d.str());
    }
  }
  desired_ = std::move(next);
  specPods_ = desired_.pods;
  specJobs_ = desired_.jobs;  // the CronJobs' Jobs and errors join them at each pass
  specErrors_ = desired_.errors;
  pacePods();
  updateSecrets();
  onConfigObjects();
  desiredLoaded_ = true;
  notifySpecsWatchers();
  schedulePullCheck();  // a pull whose pods went away (or changed image) stops
  reconcileAll();
}

// ---- reconcile ------------------------------------------------------------------------------

void Agent::markDirty(const std::string& name) {
  auto it = pods_.find(name);
  if (it != pods_.end() && it->second->busy) {
    it->second->dirty = true;
    return;
  }
  dispatcher_.post([this, name] { reconcile(name); });
}

void Agent::reconcileAll() {
  std::set<std::string> names;
  for (const auto& [n, p] : pods_) names.insert(n);
  for (const auto& [n, p] : desired_.pods) names.insert(n);
  for (const auto& n : names) reconcile(n);
}

void Agent::reconcile(const std::string& name) {
  if (!desiredLoaded_) return;  // nothing is torn down before the desired state is known
  auto it = pods_.find(name);
  auto want = desired_.pods.find(name);
  if (it != pods_.end()) {
    PodState& pod = *it->second;
    if (pod.busy) {
      pod.dirty = true;
      return;
    }
    bool wanted = want != desired_.pods.end();
    if (wanted && pod.rec.sourceFile != want->second.sourceFile &&
        pod.rec.specHash == want->second.hash) {
      pod.rec.sourceFile = want->second.sourceFile;  // moved to another file, same pod
      logStoreError(store_->upsertPod(pod.rec), "update pod source");
    }
    // The same decision `boxctl plan` reports (agent/plan.h).
    PodAction action =
        podAction(true, pod.needsTeardown, pod.rec.specHash, wanted ? &want->second : nullptr);
    if (action == PodAction::Replace || action == PodAction::Delete) {
      bool replace = wanted && !pod.needsTeardown && pod.rec.specHash != want->second.hash;
      if (replace)
        event(name, "Normal", "SpecChanged",
              "spec of " + want->second.sourceFile + " changed; replacing the pod");
      beginTeardown(pod);
      return;
    }
    if (pod.evicted) return;  // Failed until its spec changes or goes
    if (!pod.created) {
      if (pod.retryTimer && pod.retryTimer->active()) return;  // waiting out a backoff
      beginCreate(pod, want->second);
      return;
    }
    startContainers(pod);
    return;
  }
  if (want == desired_.pods.end()) return;
  auto pod = std::make_unique<PodState>();
  pod->rec.name = name;
  PodState& ref = *pod;
  pods_.emplace(name, std::move(pod));
  beginCreate(ref, want->second);
}

void Agent::setPhase(PodState& pod, const std::string& phase, const std::string& reason,
                     const std::string& message) {
  if (pod.rec.phase == phase && pod.rec.reason == reason && pod.rec.message == message) return;
  const bool left = occupiesNode(pod.rec.phase, pod.rec.reason) && !occupiesNode(phase, reason);
  pod.rec.phase = phase;
  pod.rec.reason = reason;
  pod.rec.message = message;
  pod.rec.updatedAtMs = nowMs();
  logStoreError(store_->upsertPod(pod.rec), "update pod");
  notifyPodWatchers(pod.rec.name);
  schedulePacing(pod);
  if (left && reason != kUnschedulable) rescheduleWaiting();  // it terminated: room for others
}

void Agent::event(const std::string& pod, const std::string& type, const std::string& reason,
                  const std::string& msg) {
  if (type == "Warning")
    spdlog::warn("pod {}: {}: {}", pod, reason, msg);
  else
    spdlog::info("pod {}: {}: {}", pod, reason, msg);
  int64_t now = nowMs();
  storeEvent({0, now, pod, type, reason, msg});
  notifyEventWatchers(now, pod, type, reason, msg);
}

void Agent::logStoreError(const Status& st, const char* what) {
  if (!st.ok()) spdlog::error("state store: {}: {}", what, st.error().message);
}

}  // namespace boxd::agent
