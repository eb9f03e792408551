// batch/v1 CronJob on one host (docs/workloads.md#cronjobs): the document as read and checked,
// and the Jobs it makes. When to make them is the agent's CronJob controller
// (agent/cronjob_controller.h). Pure code.
//
//   Job name     <cronjob>-<scheduled time in minutes since the epoch>   (as Kubernetes names it)
//   annotation   batch.kubernetes.io/cronjob-scheduled-timestamp: RFC 3339 in the CronJob's zone
//   labels and annotations of spec.jobTemplate.metadata; boxd.io/owner: CronJob/<name>
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "specs/cron_schedule.h"
#include "specs/job.h"

namespace boxd::specs {

enum class ConcurrencyPolicy { Allow, Forbid, Replace };
std::string_view toString(ConcurrencyPolicy p);

struct CronJob {
  std::string name;
  std::string namespaceName = kDefaultNamespace;
  std::string schedule;  // as written
  CronSchedule parsed;
  std::optional<std::string> timeZone;  // IANA name; unset: the host's local time
  std::optional<int64_t> startingDeadlineSeconds;
  ConcurrencyPolicy concurrencyPolicy = ConcurrencyPolicy::Allow;
  bool suspend = false;
  int64_t successfulJobsHistoryLimit = 3;
  int64_t failedJobsHistoryLimit = 1;
  std::map<std::string, std::string> jobLabels, jobAnnotations;  // spec.jobTemplate.metadata
  Job jobTemplate;                                               // name empty
  std::string key() const { return objectKey(namespaceName, name); }
};

inline constexpr const char* kCronJobScheduledTimestamp =
    "batch.kubernetes.io/cronjob-scheduled-timestamp";
inline constexpr size_t kMaxCronJobName = 52;  // Kubernetes: 63 less the 11 a Job name adds

// "<cronjob>-<minutes since the epoch>" for a run scheduled at unix time `scheduled` (seconds).
std::string cronJobJobName(const CronJob& cj, int64_t scheduled);
// The Job the CronJob makes for the time `scheduled`; `zone` writes its timestamp annotation.
Job cronJobJob(const CronJob& cj, int64_t scheduled, const TimeZone& zone);
// What identifies the CronJob's spec (a changed one is logged as such).
std::string cronJobHash(const CronJob& cj);

// A Job as JSON and back (a CronJob's Jobs are recorded: a later template does not change them).
nlohmann::json jobToJson(const Job& job);
Result<Job> jobFromJson(const nlohmann::json& j);

}  // namespace boxd::specs
