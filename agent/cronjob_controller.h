// The CronJob controller's decisions (docs/workloads.md#cronjobs), as Kubernetes' CronJob
// controller makes them for one node. Pure: given the CronJob, its record, the state of the Jobs
// it made and the time (a fake clock in tests), it says which Jobs to make and delete, the events
// and when to look again. The agent (cronjob_wiring.cc) applies the answer: the Jobs it keeps
// join the Jobs of the specs, run by the Job controller (agent/job_controller.h).
//
//   times of the schedule in (last scheduled time, or first seen; now - startingDeadlineSeconds
//   when that is later .. now]: the latest one is due (at most one catch-up); more than 100 of
//   them: TooManyMissedTimes (Warning), the latest still runs
//   due later than startingDeadlineSeconds ago         -> MissSchedule (Warning), no Job; said
//     once per time (lastMissed), also for a time held back before (Forbid, a taken name)
//   suspend                                             -> no Job (the times count as missed)
//   Forbid and a Job still active                       -> JobAlreadyActive, no Job yet
//   Replace                                             -> the active Jobs deleted, then the Job
//   the Job's name is taken (a Job of the specs)        -> FailedCreate (Warning), no Job: the
//     time is neither the last schedule time nor active, and is tried again in later passes
//   a Job finished                                      -> SawCompletedJob; the oldest finished
//   Jobs past successful/failedJobsHistoryLimit          -> SuccessfulDelete (their pods go too)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agent/job_controller.h"
#include "specs/cronjob.h"

namespace boxd::agent {

// A Job the CronJob made, as recorded: its spec at the time (a later template does not change it).
struct CronJobMade {
  std::string name;
  int64_t scheduledTime = 0;  // unix seconds
  nlohmann::json job;         // specs::jobToJson
  std::string condition;      // "" while active; Complete or Failed once seen finished
  int64_t finishedAtMs = 0;
  bool operator==(const CronJobMade&) const = default;
};

// What boxd records of a CronJob (state store meta "cronjobs"), so a restart neither runs a due
// time again nor skips it.
struct CronJobRecord {
  std::string sourceFile;
  int64_t firstSeenMs = 0;                                      // its creationTimestamp, for boxd
  std::optional<int64_t> lastScheduleTime, lastSuccessfulTime;  // unix seconds
  std::optional<int64_t> lastNoted;   // the due time last reported (JobAlreadyActive, FailedCreate)
  std::optional<int64_t> lastMissed;  // the due time last reported missed (MissSchedule)
  std::vector<CronJobMade> jobs;      // made and not deleted, oldest first
  bool operator==(const CronJobRecord&) const = default;
};
nlohmann::json toJson(const CronJobRecord& r);
CronJobRecord cronJobRecordFromJson(const nlohmann::json& j);

// A made Job as the Job controller last saw it.
struct CronJobJobState {
  std::string condition;  // "", Complete, Failed
  int64_t completionTimeMs = 0;
};

struct CronJobDecision {
  CronJobRecord record;
  std::vector<std::string> remove;  // Jobs to delete, with their pods
  std::vector<JobEvent> events;
  std::optional<int64_t> nextScheduleTime;  // unix seconds; none when suspended or never
  std::optional<int64_t> wakeAtMs;          // decide again then
};

inline constexpr int64_t kMaxMissedTimes = 100;

// Jobs of the CronJob's namespace that are not its own (Jobs of the specs), by name: the file
// that declares each. Kubernetes refuses to create a Job whose name exists (AlreadyExists).
using TakenJobNames = std::map<std::string, std::string>;

// jobs: the state of each Job of rec.jobs, by name (a Job not there yet is active).
CronJobDecision decideCronJob(const specs::CronJob& cj, const specs::TimeZone& zone,
                              const CronJobRecord& rec,
                              const std::map<std::string, CronJobJobState>& jobs, int64_t nowMs,
                              const TakenJobNames& taken = {});

}  // namespace boxd::agent
