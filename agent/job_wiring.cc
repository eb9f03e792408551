// batch/v1 Jobs in the agent (docs/workloads.md#jobs). Each pacing pass (agent/rollout_wiring.cc)
// asks the Job controller (agent/job_controller.h) about every Job of the specs, from the pods
// of its run as they are now, and adds the pods it keeps and creates to the desired pods. Runs
// are recorded in the state store (meta "jobs", one JSON object by Job key), so a restart of boxd
// resumes a run: nothing that completed is run again. A timer wakes the next pass when a backoff,
// a deadline or a TTL ends.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/job_controller.h"
#include "agent/meta_records.h"
#include "common/util.h"
#include "specs/job.h"
#include "specs/object_key.h"
#include "specs/workload.h"

namespace boxd::agent {
namespace {

constexpr const char* kJobsMetaKey = "jobs";

std::string jobObject(const std::string& key) { return "job/" + key; }

bool inRun(const specs::PodSpec& pod, const std::string& jobName, const std::string& ns,
           const std::string& uid) {
  auto uidLabel = pod.labels.find(specs::kJobControllerUid);
  return specs::ownerOf(pod) == "Job/" + jobName && pod.namespaceName == ns &&
         uidLabel != pod.labels.end() && uidLabel->second == uid;
}

}  // namespace

void Agent::loadJobRuns() {
  if (jobRunsLoaded_) return;
  jobRunsLoaded_ = true;
  logStoreError(loadMetaRecords(*store_, kJobsMetaKey, jobRunsSaved_, jobRuns_, jobRunFromJson),
                "read recorded jobs");
}

void Agent::saveJobRuns() {
  logStoreError(saveMetaRecords(*store_, kJobsMetaKey, jobRunsSaved_, jobRuns_,
                                [](const JobRun& r) { return toJson(r); }),
                "record jobs");
}

std::vector<JobPodState> Agent::jobPods(const std::string& jobName, const std::string& ns,
                                        const std::string& uid) {
  std::vector<JobPodState> out;
  for (const auto& [key, pod] : pods_) {
    if (!inRun(pod->spec, jobName, ns, uid)) continue;
    JobPodState s{key, specs::completionIndexOf(pod->spec), pod->rec.phase, 0, pod->rec.createdAtMs,
                  0};
    for (const auto& [cname, c] : pod->containers) s.restarts += c.rec.restarts;
    if (s.phase == "Succeeded" || s.phase == "Failed") s.finishedAtMs = pod->rec.updatedAtMs;
    out.push_back(std::move(s));
  }
  return out;
}

void Agent::keepJobPod(const std::string& key) {
  auto it = pods_.find(key);
  if (it == pods_.end()) return;
  const PodState& p = *it->second;
  desired_.pods[key] = {p.spec, p.rec.specHash, p.rec.sourceFile};
}

// One Job of the specs: a new run when it is new or changed, then the controller's decision.
std::optional<int64_t> Agent::runJob(const DesiredJob& want, int64_t now) {
  const std::string key = want.job.key();
  JobRun& run = jobRuns_[key];
  if (run.uid.empty() || run.hash != want.hash) {
    if (!run.uid.empty())
      event(jobObject(key), "Normal", "SpecChanged",
            "spec of " + want.sourceFile +
                " changed; a Job's template cannot change: a new run replaces the old one and "
                "its pods");
    run = JobRun{};
    run.uid = randomHex(16);
    run.hash = want.hash;
  }
  run.sourceFile = want.sourceFile;
  std::vector<JobPodState> pods = jobPods(want.job.name, want.job.namespaceName, run.uid);
  JobBackoff backoff{cfg_.jobBackoffMs, cfg_.jobMaxBackoffMs};
  JobDecision d = decideJob(want.job, run, pods, now, backoff);
  for (const auto& name : d.keep) keepJobPod(name);
  for (const auto& c : d.create) {
    specs::PodSpec spec = specs::jobPod(want.job, run.uid, c.serial, c.index);
    event(jobObject(key), "Normal", "SuccessfulCreate", "Created pod: " + spec.name);
    std::string podKey = spec.key();
    desired_.pods[podKey] = {spec, specs::specHash(spec), want.sourceFile};
    d.keep.push_back(podKey);  // shown with the Job's pods
  }
  for (const auto& name : d.remove) {
    auto it = pods_.find(name);
    if (it != pods_.end() && it->second->rec.phase != "Terminating" && !it->second->busy)
      event(jobObject(key), "Normal", "SuccessfulDelete", "Deleted pod: " + name);
  }
  for (const auto& e : d.events) event(jobObject(key), e.type, e.reason, e.message);
  run = d.run;
  jobViews_[key] = jobJson(want.job, run, d);
  return d.wakeAtMs;
}

void Agent::runJobs() {
  loadJobRuns();
  const int64_t now = nowMs();
  std::optional<int64_t> wake;
  for (const auto& [key, want] : desired_.jobs) {
    std::optional<int64_t> at = runJob(want, now);
    if (at && (!wake || *at < *wake)) wake = at;
  }
  for (auto it = jobRuns_.begin(); it != jobRuns_.end();) {
    const auto& [key, run] = *it;
    if (desired_.jobs.count(key)) {
      ++it;
      continue;
    }
    if (hasErrors(specErrors_, run.sourceFile)) {  // a held Job (cronjob_jobs.h) is not one
      // Its file has errors and no good version is known (a restart): the run stays as it is.
      auto [ns, name] = specs::splitObjectKey(key);
      for (const auto& p : jobPods(name, ns, run.uid)) keepJobPod(p.name);
      ++it;
      continue;
    }
    event(jobObject(key), "Normal", "Deleted",
          "the Job is gone from the specs; its pods are removed");
    jobViews_.erase(key);
    it = jobRuns_.erase(it);
  }
  saveJobRuns();
  if (!wake) {
    if (jobTimer_) jobTimer_->stop();
    return;
  }
  if (!jobTimer_) jobTimer_ = std::make_unique<Timer>(loop_);
  jobTimer_->start(static_cast<uint64_t>(std::max<int64_t>(0, *wake - now) + 1),
                   [this] { repace(); });
}

nlohmann::json Agent::jobJson(const specs::Job& job, const JobRun& run, const JobDecision& d) {
  nlohmann::json j = {{"name", job.name},
                      {"namespace", job.namespaceName},
                      {"uid", run.uid},
                      {"sourceFile", run.sourceFile},
                      {"completions", job.completions},
                      {"parallelism", job.parallelism},
                      {"backoffLimit", job.backoffLimit},
                      {"completionMode", specs::toString(job.completionMode)},
                      {"restartPolicy", specs::toString(job.podTemplate.restartPolicy)},
                      {"active", d.active},
                      {"succeeded", d.succeeded},
                      {"failed", d.failed},
                      {"startTimeMs", run.startTimeMs}};
  if (job.activeDeadlineSeconds) j["activeDeadlineSeconds"] = *job.activeDeadlineSeconds;
  if (!job.labels.empty()) j["labels"] = job.labels;
  if (!job.annotations.empty()) j["annotations"] = job.annotations;
  if (job.ttlSecondsAfterFinished) j["ttlSecondsAfterFinished"] = *job.ttlSecondsAfterFinished;
  if (!run.condition.empty()) {
    j["condition"] = {{"type", run.condition},
                      {"reason", run.reason},
                      {"message", run.message},
                      {"timeMs", run.completionTimeMs}};
    j["completionTimeMs"] = run.completionTimeMs;
  }
  nlohmann::json pods = nlohmann::json::array();
  for (const auto& name : d.keep) pods.push_back(name);
  j["pods"] = pods;
  return j;
}

}  // namespace boxd::agent
