#include "specs/cronjob.h"

#include "common/hash.h"
#include "specs/workload.h"

namespace boxd::specs {

std::string_view toString(ConcurrencyPolicy p) {
  switch (p) {
    case ConcurrencyPolicy::Forbid:
      return "Forbid";
    case ConcurrencyPolicy::Replace:
      return "Replace";
    case ConcurrencyPolicy::Allow:
      break;
  }
  return "Allow";
}

std::string cronJobJobName(const CronJob& cj, int64_t scheduled) {
  int64_t minutes = scheduled >= 0 ? scheduled / 60 : -((-scheduled + 59) / 60);
  return cj.name + "-" + std::to_string(minutes);
}

Job cronJobJob(const CronJob& cj, int64_t scheduled, const TimeZone& zone) {
  Job job = cj.jobTemplate;
  job.name = cronJobJobName(cj, scheduled);
  job.namespaceName = cj.namespaceName;
  job.labels = cj.jobLabels;
  job.annotations = cj.jobAnnotations;
  job.annotations[kCronJobScheduledTimestamp] = formatRfc3339(scheduled, zone);
  job.annotations[kOwnerAnnotation] = "CronJob/" + cj.name;
  return job;
}

nlohmann::json jobToJson(const Job& job) {
  nlohmann::json j = {{"name", job.name},
                      {"namespace", job.namespaceName},
                      {"completions", job.completions},
                      {"parallelism", job.parallelism},
                      {"backoffLimit", job.backoffLimit},
                      {"completionMode", toString(job.completionMode)},
                      {"template", toJson(job.podTemplate)},
                      {"labels", job.labels},
                      {"annotations", job.annotations}};
  if (job.activeDeadlineSeconds) j["activeDeadlineSeconds"] = *job.activeDeadlineSeconds;
  if (job.ttlSecondsAfterFinished) j["ttlSecondsAfterFinished"] = *job.ttlSecondsAfterFinished;
  return j;
}

Result<Job> jobFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("template")) return makeError("recorded job: not a Job");
  auto pod = fromJson(j["template"]);
  if (!pod.ok()) return pod.error().wrap("recorded job " + j.value("name", std::string()));
  Job job;
  try {
    job.name = j.value("name", "");
    job.namespaceName = j.value("namespace", std::string(kDefaultNamespace));
    job.completions = j.value("completions", int64_t{1});
    job.parallelism = j.value("parallelism", int64_t{1});
    job.backoffLimit = j.value("backoffLimit", int64_t{6});
    if (j.value("completionMode", "") == "Indexed") job.completionMode = CompletionMode::Indexed;
    if (j.contains("activeDeadlineSeconds"))
      job.activeDeadlineSeconds = j["activeDeadlineSeconds"].get<int64_t>();
    if (j.contains("ttlSecondsAfterFinished"))
      job.ttlSecondsAfterFinished = j["ttlSecondsAfterFinished"].get<int64_t>();
    job.labels = j.value("labels", std::map<std::string, std::string>{});
    job.annotations = j.value("annotations", std::map<std::string, std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return makeError("recorded job " + job.name + ": " + e.what());
  }
  job.podTemplate = std::move(*pod);
  return job;
}

std::string cronJobHash(const CronJob& cj) {
  nlohmann::json identity = {{"schedule", cj.schedule},
                             {"timeZone", cj.timeZone.value_or("")},
                             {"concurrencyPolicy", toString(cj.concurrencyPolicy)},
                             {"suspend", cj.suspend},
                             {"startingDeadlineSeconds", cj.startingDeadlineSeconds.value_or(-1)},
                             {"successful", cj.successfulJobsHistoryLimit},
                             {"failed", cj.failedJobsHistoryLimit},
                             {"job", jobToJson(cj.jobTemplate)},
                             {"labels", cj.jobLabels},
                             {"annotations", cj.jobAnnotations}};
  return sha256Hex(identity.dump()).substr(0, 16);
}

}  // namespace boxd::specs
