// batch/v1 CronJobs in the agent (docs/workloads.md#cronjobs). Each pacing pass
// (agent/rollout_wiring.cc) asks the CronJob controller (agent/cronjob_controller.h) about every
// CronJob of the specs, before the Jobs run: the Jobs a CronJob keeps join desired_.jobs (as if
// a file declared them), so the Job controller runs them and their pods. Records are kept in the
// state store (meta "cronjobs", one JSON object by CronJob key): the last schedule time and the
// Jobs made, each with its spec as it was made, so a restart of boxd neither runs a due time
// again nor skips it, and a later template changes only later Jobs. One timer on the loop wakes
// the next pass at the next schedule time, or within a minute (a wall clock that jumps is seen
// within a minute; the controller makes at most one Job for the times missed meanwhile). A Job
// of the specs and a run's Job (<cronjob>-<minutes since the epoch>) of one name: the one there
// first keeps it, as Kubernetes refuses to create a Job whose name exists. A Job of the specs
// first: that run is not started (FailedCreate). The run's Job first: the Job of the specs is
// held, an error of its file, until that Job is gone (agent/cronjob_jobs.h).
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/cronjob_controller.h"
#include "agent/meta_records.h"
#include "common/util.h"
#include "specs/object_key.h"
#include "specs/workload.h"

namespace boxd::agent {
namespace {

constexpr const char* kCronJobsMetaKey = "cronjobs";
constexpr int64_t kLongestWaitMs = 60000;

std::string cronJobObject(const std::string& key) { return "cronjob/" + key; }

nlohmann::json cronJobJson(const specs::CronJob& cj, const CronJobDecision& d,
                           const std::string& zoneName) {
  nlohmann::json active = nlohmann::json::array(), jobs = nlohmann::json::array();
  for (const CronJobMade& m : d.record.jobs) {
    if (m.condition.empty()) active.push_back(m.name);
    jobs.push_back({{"name", m.name},
                    {"scheduledTimeMs", m.scheduledTime * 1000},
                    {"condition", m.condition}});
  }
  nlohmann::json j = {{"name", cj.name},
                      {"namespace", cj.namespaceName},
                      {"sourceFile", d.record.sourceFile},
                      {"schedule", cj.schedule},
                      {"timeZone", cj.timeZone.value_or("")},
                      {"zone", zoneName},
                      {"suspend", cj.suspend},
                      {"concurrencyPolicy", specs::toString(cj.concurrencyPolicy)},
                      {"successfulJobsHistoryLimit", cj.successfulJobsHistoryLimit},
                      {"failedJobsHistoryLimit", cj.failedJobsHistoryLimit},
                      {"firstSeenMs", d.record.firstSeenMs},
                      {"active", active},
                      {"jobs", jobs}};
  if (cj.startingDeadlineSeconds) j["startingDeadlineSeconds"] = *cj.startingDeadlineSeconds;
  if (d.record.lastScheduleTime) j["lastScheduleTimeMs"] = *d.record.lastScheduleTime * 1000;
  if (d.record.lastSuccessfulTime) j["lastSuccessfulTimeMs"] = *d.record.lastSuccessfulTime * 1000;
  if (d.nextScheduleTime) j["nextScheduleTimeMs"] = *d.nextScheduleTime * 1000;
  return j;
}

}  // namespace

void Agent::loadCronJobRecords() {
  if (cronJobRecordsLoaded_) return;
  cronJobRecordsLoaded_ = true;
  logStoreError(loadMetaRecords(*store_, kCronJobsMetaKey, cronJobRecordsSaved_, cronJobRecords_,
                                cronJobRecordFromJson),
                "read recorded cronjobs");
}

void Agent::saveCronJobRecords() {
  logStoreError(saveMetaRecords(*store_, kCronJobsMetaKey, cronJobRecordsSaved_, cronJobRecords_,
                                [](const CronJobRecord& r) { return toJson(r); }),
                "record cronjobs");
}

const specs::TimeZone* Agent::cronJobZone(const specs::CronJob& cj) {
  auto zone = cronJobZones_.get(cj.timeZone.value_or(""));
  if (!zone.ok()) {  // validated when the spec was read: the zoneinfo file went away since
    event(cronJobObject(cj.key()), "Warning", "UnknownTimeZone", zone.error().message);
    return nullptr;
  }
  return *zone;
}

// The Jobs of a record, to join the desired Jobs.
void Agent::keepCronJobJobs(const CronJobRecord& rec, const std::string& ns,
                            const std::string& name, const std::string& file,
                            std::vector<CronJobKeptJob>& kept) {
  for (const CronJobMade& m : rec.jobs) {
    auto job = specs::jobFromJson(m.job);
    if (!job.ok()) {
      spdlog::error("cronjob {}/{}: {}, ignoring", ns, m.name, job.error().message);
      continue;
    }
    kept.push_back({name, {*job, specs::jobHash(*job), file}});
  }
}

std::optional<int64_t> Agent::runCronJob(const DesiredCronJob& want, int64_t now,
                                         std::vector<CronJobKeptJob>& kept) {
  const specs::CronJob& cj = want.cronJob;
  const std::string key = cj.key();
  CronJobRecord& rec = cronJobRecords_[key];
  rec.sourceFile = want.sourceFile;
  const specs::TimeZone* zone = cronJobZone(cj);
  if (zone == nullptr) {
    keepCronJobJobs(rec, cj.namespaceName, cj.name, want.sourceFile, kept);
    return std::nullopt;
  }
  std::map<std::string, CronJobJobState> states;
  for (const CronJobMade& m : rec.jobs) {
    auto run = jobRuns_.find(specs::objectKey(cj.namespaceName, m.name));
    if (run != jobRuns_.end())
      states[m.name] = {run->second.condition, run->second.completionTimeMs};
  }
  TakenJobNames taken;  // the specs' Jobs of its namespace: its run never replaces one
  for (const auto& [jobKey, job] : specJobs_) {
    if (job.job.namespaceName == cj.namespaceName) taken[job.job.name] = job.sourceFile;
  }
  CronJobDecision d = decideCronJob(cj, *zone, rec, states, now, taken);
  for (const auto& e : d.events) event(cronJobObject(key), e.type, e.reason, e.message);
  rec = d.record;
  keepCronJobJobs(rec, cj.namespaceName, cj.name, want.sourceFile, kept);
  cronJobViews_[key] = cronJobJson(cj, d, zone->name());
  return d.wakeAtMs;
}

void Agent::runCronJobs() {
  loadCronJobRecords();
  const int64_t now = nowMs();
  std::optional<int64_t> wake;
  std::vector<CronJobKeptJob> kept;
  for (const auto& [key, want] : desired_.cronJobs) {
    std::optional<int64_t> at = runCronJob(want, now, kept);
    if (at && (!wake || *at < *wake)) wake = at;
  }
  for (auto it = cronJobRecords_.begin(); it != cronJobRecords_.end();) {
    const auto& [key, rec] = *it;
    if (desired_.cronJobs.count(key)) {
      ++it;
      continue;
    }
    auto [ns, name] = specs::splitObjectKey(key);
    if (hasErrors(specErrors_, rec.sourceFile)) {
      // Its file has errors and no good version is known (a restart): its Jobs stay as they are.
      keepCronJobJobs(rec, ns, name, rec.sourceFile, kept);
      ++it;
      continue;
    }
    event(cronJobObject(key), "Normal", "Deleted",
          "the CronJob is gone from the specs; its Jobs and their pods are removed");
    cronJobViews_.erase(key);
    it = cronJobRecords_.erase(it);
  }
  saveCronJobRecords();
  holdSpecJobs(mergeCronJobJobs(specJobs_, kept, heldSpecJobs_));
  if (desired_.cronJobs.empty()) {
    if (cronJobTimer_) cronJobTimer_->stop();
    return;
  }
  int64_t delay = std::min(kLongestWaitMs, std::max<int64_t>(0, wake.value_or(now) - now));
  if (!wake) delay = kLongestWaitMs;
  if (!cronJobTimer_) cronJobTimer_ = std::make_unique<Timer>(loop_);
  cronJobTimer_->start(static_cast<uint64_t>(delay) + 1, [this] { repace(); });
}

// The desired Jobs: the specs' and the CronJobs'. A Job of the specs newly held is said once
// (its file's error stays while it is held); one released asks for the pass that runs it.
void Agent::holdSpecJobs(const CronJobJobs& merged) {
  std::vector<SpecError> errors;
  std::set<std::string> held;
  for (const auto& [key, error] : merged.held) {
    errors.push_back(error);
    held.insert(key);
    if (heldSpecJobs_.count(key)) continue;
    for (const specs::Diagnostic& diag : error.errors) {
      spdlog::warn("spec error: {}", diag.str());
      event("job/" + key, "Warning", "AlreadyExists", diag.str());
    }
  }
  desired_.jobs = merged.jobs;
  desired_.errors = withSpecErrors(specErrors_, errors);
  heldSpecJobs_ = std::move(held);
  if (merged.releasing.empty() || pacingPosted_) return;
  pacingPosted_ = true;
  dispatcher_.post([this] {
    pacingPosted_ = false;
    repace();
  });
}

// A Job of a CronJob finished in this pass (the Job controller just saw it): the CronJob's
// decisions that wait on it (SawCompletedJob, history, Forbid) are taken in a pass of their own.
void Agent::afterCronJobs() {
  for (const auto& [key, rec] : cronJobRecords_) {
    auto [ns, name] = specs::splitObjectKey(key);
    for (const CronJobMade& m : rec.jobs) {
      if (!m.condition.empty()) continue;
      auto run = jobRuns_.find(specs::objectKey(ns, m.name));
      if (run == jobRuns_.end() || run->second.condition.empty()) continue;
      if (pacingPosted_) return;
      pacingPosted_ = true;
      dispatcher_.post([this] {
        pacingPosted_ = false;
        repace();
      });
      return;
    }
  }
}

}  // namespace boxd::agent
