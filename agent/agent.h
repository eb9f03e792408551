// boxd's core: the reconcile loop. Runs on one libuv loop thread; everything blocking goes
// through the Dispatcher. Level-triggered: any event (spec change, container exit, timer,
// boxctl request) marks pods dirty, and a dirty pod is re-planned from desired × recorded ×
// observed state.
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/config_volumes.h"
#include "agent/cronjob_controller.h"
#include "agent/cronjob_jobs.h"
#include "agent/desired.h"
#include "agent/dispatcher.h"
#include "agent/image_pulls.h"
#include "agent/ipam.h"
#include "agent/job_controller.h"
#include "agent/metrics.h"
#include "agent/pod_plan.h"
#include "agent/probe_ticker.h"
#include "agent/pull_progress.h"
#include "agent/sidecar_rules.h"
#include "agent/spec_source.h"
#include "agent/step_runner.h"
#include "reconcilers/block/block_context.h"
#include "reconcilers/block/block_registry.h"
#include "reconcilers/block/userspace_backend.h"
#include "reconcilers/cgroup/cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/host/mounter.h"
#include "reconcilers/images/image_store.h"
#include "specs/secret.h"
#include "state/store.h"

namespace boxd::agent {

class ShimWatch;
class ApiStream;
class WatchHub;
class MetricsServer;
class ProjectQuotas;
struct ContainerProbeRun;
struct ProbeWorker;
struct CheckResult;

struct ContainerRuntime {
  state::ContainerRecord rec;
  int64_t backoffMs = 0;  // next restart delay
  std::unique_ptr<Timer> restartTimer;
  bool starting = false;
  // An exit reported by the shim before its start reply reached boxd (a container that exits
  // at once): applied when the reply arrives, so the order seen is start, then exit.
  struct Exit {
    int exitCode = 0, signal = 0;
    bool oomKilled = false;
    int64_t finishedAtMs = 0;
    bool startError = false;  // the shim could not start it (rec.message says why)
  };
  std::optional<Exit> earlyExit;
  // What the last start ran (describe, exec): argv, and the security with the image user resolved.
  std::vector<std::string> argv;
  std::optional<reconcilers::ContainerSecurity> security;
  // Waiting (CreateContainerConfigError) for a ConfigMap, Secret or key: retried on each specs
  // pass. (A refused securityContext waits for a new spec instead.)
  bool configWait = false;
  std::shared_ptr<ContainerProbeRun> probes;  // this run's probes and hooks (probes.h)
  // How the previous run ended (describe's "Last State"); in memory only.
  std::optional<state::ContainerRecord> lastTerminated;
};

// A pod's pull of one image for its next start (image_pulls.cc).
struct PodImagePull {
  enum class State { Pulling, Pulled, Failed };
  State state = State::Pulling;
  std::string id;       // Pulled: the image to run
  std::string message;  // Failed: the registry's reason
};

struct PodState {
  state::PodRecord rec;
  specs::PodSpec spec;  // the incarnation recorded (rec.specJson)
  std::map<std::string, ContainerRuntime> containers;
  bool busy = false;     // an operation is in flight
  bool dirty = false;    // reconcile again when it finishes
  bool created = false;  // every step of the plan is done
  bool needsTeardown = false;
  // Re-adopted after a restart of boxd: nothing is started until the shim told what runs and
  // what exited meanwhile (a container whose start was in flight must not run twice).
  bool adopting = false;
  int64_t retryBackoffMs = 0;
  std::unique_ptr<Timer> retryTimer;
  std::unique_ptr<ShimWatch> watch;
  std::string podIp;  // on the boxd bridge; empty without one
  // The pod has pod files (its plan had a "files" step): its containers get /etc/hosts,
  // resolv.conf and hostname. Set when it is planned, and from its journal after a restart.
  bool podFiles = false;
  // Forks refused at the pod's pids limit, as last seen (pids.events): 0 for a pod created by
  // this boxd, unknown (the first reading is the baseline) for one re-adopted after a restart.
  std::optional<int64_t> pidsLimitHits;
  // ephemeral-storage (ephemeral_storage_agent.cc): a measurement in flight; the pod being torn
  // down for an eviction (its message); evicted: torn down, kept as Failed/Evicted, not restarted.
  bool storageCheck = false;
  bool evicting = false;
  bool evicted = false;
  std::string evictionMessage;
  // The image id each container started from (its rootfs step's "image"), so a re-tagged image
  // changes no running pod and is kept in the store while the pod lives.
  std::map<std::string, std::string> imageIds;
  // Digest of what each config volume holds (config_wiring.cc): rewritten only when it changes.
  std::map<std::string, std::string> configDigests;
  // Pulls for the pod's next start, by image as written; cleared once it is created.
  std::map<std::string, PodImagePull> imagePulls;
  int64_t pullBackoffMs = 0;
  std::unique_ptr<Timer> pullNoticeTimer;  // ErrImagePull shown, then ImagePullBackOff
};

class Agent {
 public:
  Agent(uv_loop_t* loop, Config cfg, std::unique_ptr<state::Store> store,
        std::unique_ptr<reconcilers::Mounter> mounter,
        std::unique_ptr<reconcilers::Cgroups> cgroups);
  ~Agent();

  // Recovers from the journal, re-adopts shims, starts watching specs and serving boxctl.
  Status start();
  void shutdown();  // stops watching; pods keep running

  // boxctl requests (loop thread). reply is called exactly once.
  void handleRequest(const nlohmann::json& req, std::function<void(nlohmann::json)> reply);

  // For the API and tests.
  nlohmann::json statusJson();
  // `boxctl status -w` / `events -w` (agent_watch.cc): {"watch": "pods"|"events", "name": POD}.
  Status handleWatch(const nlohmann::json& req, std::shared_ptr<ApiStream> stream);

 private:
  friend class ShimWatch;
  // specs
  void startWatching();
  void scheduleScan();
  void onSnapshot(Result<SpecPass> pass);
  void rewatch(const std::string& resolvedDir);
  static void onInotify(uv_poll_t* h, int status, int events);

  // reconcile
  void markDirty(const std::string& name);
  void reconcileAll();
  void reconcile(const std::string& name);
  void beginCreate(PodState& pod, const DesiredPod& want);
  // boxd as its node's scheduler (scheduling_wiring.cc): the scheduler's message when the pod
  // does not fit on this node beside the pods on it, else ""; and a new look at the pods left
  // Unschedulable, when a pod comes onto the node or leaves it.
  std::string unschedulableReason(const PodState& pod, const specs::PodSpec& spec);
  void rescheduleWaiting();
  void created(const std::string& name, const std::string& uid, size_t steps);
  void createFailed(const std::string& name, const Error& err, const Status& undone);
  void beginTeardown(PodState& pod);
  void undoPod(const std::string& name);  // after the preStop hooks
  void retryLater(PodState& pod);

  // containers
  void startContainers(PodState& pod);
  bool dueToStart(PodState& pod, const specs::Container& spec, bool init);
  void startContainer(PodState& pod, const std::string& container);
  void onContainerExit(const std::string& pod, const std::string& container,
                       const ContainerRuntime::Exit& exit);
  void onShimEvent(const std::string& pod, const nlohmann::json& ev);

  // probes and hooks (probes.cc, hooks.cc)
  void syncProbes(PodState& pod);
  void startProbeRun(PodState& pod, const std::string& container);
  void startProbing(PodState& pod, const std::string& container);
  void runProbe(const std::string& pod, const std::string& container, ProbeWorker& w);
  void onProbeResult(const std::string& pod, const std::string& container, ProbeWorker& w,
                     const CheckResult& r);
  void killForProbe(PodState& pod, const std::string& container, int64_t graceSeconds,
                    const std::string& why);
  bool containerReady(const PodState& pod, const std::string& container) const;
  void runPostStart(PodState& pod, const std::string& container);
  void preStopThenStop(PodState& pod, const std::vector<std::string>& containers,
                       int64_t graceSeconds, std::function<void()> done);

  // sidecar containers (sidecars.cc, sidecar_rules.h)
  PodFacts podFacts(const PodState& pod) const;
  bool containerStarted(const PodState& pod, const std::string& container) const;
  void onContainerStarted(PodState& pod, const std::string& container);
  bool sidecarsStopped(PodState& pod);
  void stopInOrder(PodState& pod, const std::vector<std::string>& running, int64_t graceSeconds,
                   std::function<void()> done);
  void stopSidecarsInTurn(const std::string& pod, std::vector<std::string> sidecars,
                          int64_t deadlineMs, std::function<void()> done);

  // limits (pod_limits.cc)
  void checkPidsLimit(PodState& pod);
  // ephemeral-storage (ephemeral_storage_agent.cc)
  void checkEphemeralStorage(PodState& pod);
  void evict(PodState& pod, const std::string& message);
  void evicted(PodState& pod);
  void refreshFromShim(const std::string& name);
  void applyShimState(PodState& pod, const nlohmann::json& containers);
  void updatePhase(PodState& pod);
  void saveContainer(PodState& pod, ContainerRuntime& c);
  void watchShim(PodState& pod);

  // networking
  Status setUpNetwork();
  Result<PodNetwork> podNetwork(PodState& pod);
  void releaseAddress(const std::string& pod, const std::string& uid);
  void adoptAddresses();

  // block volumes (block_volumes.cc)
  Status setUpBlock();
  Result<BlockPlan> chooseBlockBackends();
  void addKernelBlockBackends();
  void seedBlockRegistry();
  void cleanStaleBlockSessions();
  Result<reconcilers::BlockCredentials> blockCredentials(const reconcilers::BlockVolume& v);
  void updateSecrets();
  nlohmann::json volumesJson();

  // ConfigMaps, Secrets and the downward API into containers (config_wiring.cc)
  ConfigContext configContext(const PodState& pod);
  // env and argv of container c, and the config volumes it mounts (to write before it starts).
  Result<ContainerConfig> prepareContainer(PodState& pod, const specs::Container& c,
                                           std::vector<ConfigWrite>& writes);
  void waitForConfig(PodState& pod, const std::string& container, const std::string& why);
  // After a specs pass: the ConfigMaps known, and config volumes of running pods brought up to
  // date in place (a pod is never recreated for them, as in Kubernetes).
  void onConfigObjects();
  void refreshConfigVolumes(PodState& pod);

  // workload rollouts (rollout_wiring.cc): desired_.pods = specPods_ paced (agent/rollout.h)
  bool podReady(const PodState& pod) const;
  void pacePods();
  void schedulePacing(const PodState& pod);  // a pod of a workload changed: pace again
  void repace();                             // pace again now; reconcile if the paced pods changed

  // batch/v1 Jobs (job_wiring.cc): run by the Job controller at each pacing pass
  void runJobs();
  std::optional<int64_t> runJob(const DesiredJob& want, int64_t nowMs);  // -> when to look again
  std::vector<JobPodState> jobPods(const std::string& jobName, const std::string& ns,
                                   const std::string& uid);
  void keepJobPod(const std::string& key);
  void loadJobRuns();
  void saveJobRuns();
  nlohmann::json jobJson(const specs::Job& job, const JobRun& run, const JobDecision& d);

  // batch/v1 CronJobs (cronjob_wiring.cc): before runJobs, the Jobs they keep join desired_.jobs
  // (specJobs_ and theirs, agent/cronjob_jobs.h)
  void runCronJobs();
  std::optional<int64_t> runCronJob(const DesiredCronJob& want, int64_t nowMs,
                                    std::vector<CronJobKeptJob>& kept);
  void keepCronJobJobs(const CronJobRecord& rec, const std::string& ns, const std::string& name,
                       const std::string& file, std::vector<CronJobKeptJob>& kept);
  void holdSpecJobs(const CronJobJobs& merged);
  void afterCronJobs();  // a Job of a CronJob finished in this pass: decide again
  const specs::TimeZone* cronJobZone(const specs::CronJob& cj);
  void loadCronJobRecords();
  void saveCronJobRecords();

  // recovery and drift
  void recover();
  void resync();

  // helpers
  void setPhase(PodState& pod, const std::string& phase, const std::string& reason,
                const std::string& message);
  void event(const std::string& pod, const std::string& type, const std::string& reason,
             const std::string& msg);
  void logStoreError(const Status& st, const char* what);
  // Events the store could not take (a full state disk) wait in memory, bounded, and are
  // written first at the next event or resync (event_buffer.cc).
  void storeEvent(state::EventRecord e);
  void flushEvents();
  Result<std::vector<state::EventRecord>> eventsOf(const std::string& pod, int limit);
  // images (images_api.cc)
  std::optional<ContainerImage> resolveImage(const std::string& image);
  std::string imageIdOf(const PodState& pod, const specs::Container& c);
  nlohmann::json imageConfigOf(const std::string& id);
  void handleImageRequest(const std::string& op, const nlohmann::json& req,
                          std::function<void(nlohmann::json)> reply);
  void imageRemove(const nlohmann::json& req, std::function<void(nlohmann::json)> reply);
  void imagePrune(std::function<void(nlohmann::json)> reply);
  nlohmann::json imagesJson();
  Result<reconcilers::ContainerSecurity> containerSecurity(const PodState& pod,
                                                           const specs::Container& c);
  nlohmann::json containerImageJson(const PodState& pod, const specs::Container& c,
                                    const ContainerRuntime* rt);
  nlohmann::json podJson(const PodState& pod, bool detailed);
  // watches (agent_watch.cc): a pod's status line may have changed; an event was recorded
  WatchHub& watchHub();
  void notifyPodWatchers(const std::string& pod);
  void notifySpecsWatchers();  // after a specs pass
  nlohmann::json specsJson();
  void notifyEventWatchers(int64_t timeMs, const std::string& pod, const std::string& type,
                           const std::string& reason, const std::string& message);
  void handleImageImport(const nlohmann::json& req, std::function<void(nlohmann::json)> reply);
  // image pulls (image_pulls.cc)
  bool podImages(PodState& pod, std::vector<ContainerImage>& out);
  // Who waits for a pull: a pod (needed while its spec uses the image), a `boxctl image pull`
  // (while it is connected), or neither (an old boxctl's request: needed until the end).
  struct PullWaiter {
    std::string pod, image;
    std::shared_ptr<ApiStream> client;
    std::function<void(Result<StorePull>)> done;
  };
  bool joinPull(const std::string& key, const images::Reference& ref,
                const images::Keyring& keyring, PullWaiter waiter);
  void pullProgress(const std::string& key, uint64_t id, const LayerUpdate& u);
  bool pullWaiterNeeded(const PullWaiter& w) const;
  void schedulePullCheck();  // dropUnneededPulls at the end of this turn of the loop
  void dropUnneededPulls();
  Status handleImagePullWatch(const nlohmann::json& req, std::shared_ptr<ApiStream> stream);
  void pullForPod(PodState& pod, const specs::Container& c, const images::Reference& ref);
  void podPullDone(const std::string& pod, const std::string& image,
                   const Result<StorePull>& result);
  void showPullBackOff(const std::string& pod);
  void imagesChanged();
  void handleImagePull(const nlohmann::json& req, std::function<void(nlohmann::json)> reply);
  void cancelPulls();
  void recordImported(const std::string& name,
                      const std::vector<reconcilers::ImportedImage>& images,
                      std::function<void(nlohmann::json)> reply);

  // operator tooling (agent_tooling.cc): plan, top, metrics
  struct UsageReading {
    std::string pod, container;  // container "" = the pod's own cgroup
    std::string cgroup;
    reconcilers::CgroupUsage usage;
  };
  Status startTooling();
  void stopTooling();
  void readUsage(std::function<void(std::vector<UsageReading>)> done);
  void handleUsage(std::function<void(nlohmann::json)> reply);
  void handleMetrics(std::function<void(nlohmann::json)> reply);
  void handlePlan(const nlohmann::json& req, std::function<void(nlohmann::json)> reply);
  void metricsText(std::function<void(std::string)> done);

  uv_loop_t* loop_;
  Config cfg_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<reconcilers::Mounter> mounter_;
  std::unique_ptr<reconcilers::Cgroups> cgroups_;
  reconcilers::ImageStore images_;
  int imageImportsInFlight_ = 0;  // imports whose tags are not recorded yet (prune waits)
  // Pulls in flight, by reference and credentials: whoever needs the same one waits for it.
  // A pull nobody needs any more is cancelled and leaves pulls_ at once (image_pulls.cc).
  struct PullInFlight {
    uint64_t id = 0;
    std::string ref;
    std::vector<PullWaiter> waiters;
    std::shared_ptr<std::atomic<bool>> cancel;
    PullProgress progress;  // each layer's latest state, for boxctl
  };
  std::map<std::string, PullInFlight> pulls_;
  uint64_t nextPullId_ = 0;
  std::unique_ptr<Timer> pullCheckTimer_;
  Dispatcher dispatcher_;
  ProbeTicker probeTicker_{loop_};  // every probe's ticks (before pods_: it outlives them)
  FaultInjection faults_;
  StepRunner runner_;
  std::optional<Ipam> ipam_;                                // set when networking is enabled
  std::unique_ptr<reconcilers::CommandRunner> toolRunner_;  // mkfs, fsck, iscsiadm
  reconcilers::BlockRegistry blockRegistry_;
  std::unique_ptr<reconcilers::UserspaceBackend> userspace_;
  std::vector<std::unique_ptr<reconcilers::BlockBackend>> kernelBackends_;
  std::unique_ptr<reconcilers::BlockContext> blockCtx_;
  std::unique_ptr<ProjectQuotas> quotas_;  // ephemeral-storage by project quota (project_quotas.h)
  BlockPlan blockPlan_;
  // Secrets as the block steps' worker threads read them: replaced whole on each specs pass.
  using SecretMap = std::map<std::string, specs::Secret>;
  std::mutex secretsMu_;
  std::shared_ptr<const SecretMap> secrets_;
  std::shared_ptr<const std::map<std::string, specs::ConfigMap>> configMaps_;
  std::vector<std::string> lastSkippedNotes_;  // logged once each

  std::deque<state::EventRecord> pendingEvents_;
  int64_t droppedEvents_ = 0;  // pending events dropped at the bound, told when written again
  std::map<std::string, std::unique_ptr<PodState>> pods_;
  Desired desired_;
  std::map<std::string, DesiredPod> specPods_;  // the pods of the specs, before pacing
  std::map<std::string, DesiredJob> specJobs_;  // the Jobs of the specs, before the CronJobs'
  std::vector<SpecError> specErrors_;           // the specs' errors, before the CronJobs' ones
  std::set<std::string> heldSpecJobs_;          // their names held by CronJobs' Jobs, last pass
  bool pacingPosted_ = false;
  std::map<std::string, JobRun> jobRuns_;  // by Job key, as recorded (meta "jobs")
  bool jobRunsLoaded_ = false;
  std::string jobRunsSaved_;                             // the recorded text, to write only changes
  std::map<std::string, nlohmann::json> jobViews_;       // status of each Job, as last decided
  std::unique_ptr<Timer> jobTimer_;                      // the next backoff, deadline or TTL
  std::map<std::string, CronJobRecord> cronJobRecords_;  // by CronJob key (meta "cronjobs")
  bool cronJobRecordsLoaded_ = false;
  std::string cronJobRecordsSaved_;
  std::map<std::string, nlohmann::json> cronJobViews_;
  specs::ZoneCache cronJobZones_;
  std::unique_ptr<Timer> cronJobTimer_;  // the next schedule time (or a minute)
  bool desiredLoaded_ = false;
  LastGood lastGood_;
  std::map<std::string, std::pair<std::string, specs::ParseResult>>
      parseCache_;  // file -> (hash, result)
  std::string revision_;
  std::string specsError_;  // the specs dir could not be read at all

  bool scanning_ = false;
  int64_t specPasses_ = 0;  // reads of the specs dir, shown in status
  bool rescan_ = false;
  int inotifyFd_ = -1;
  uv_poll_t* inotifyPoll_ = nullptr;
  std::string watchedDir_;
  std::vector<int> watches_;
  int parentWatch_ = -1;  // the dir holding a symlinked specs path
  std::string linkName_;
  Timer rescanTimer_;
  Timer resyncTimer_;
  int64_t startedAtMs_ = 0;
  std::string bootId_;
  std::unique_ptr<WatchHub> watchHub_;  // made by the first watch
  MetricsRegistry metrics_;
  std::unique_ptr<MetricsServer> metricsServer_;
};

}  // namespace boxd::agent
