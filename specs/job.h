// batch/v1 Job on one host (docs/workloads.md#jobs): the document as read and checked. Which pods
// run when is decided by the agent's Job controller (agent/job_controller.h), from the pods that
// exist and the time; this file only names and builds those pods. Pure code.
//
//   NonIndexed  <job>-<5 chars>            labels job-name, controller-uid (and their
//   Indexed     <job>-<index>-<5 chars>    batch.kubernetes.io/ forms); Indexed adds the
//                                          completion index (annotation, label, env)
//
// The 5 characters come from the Job's run (a uid per incarnation) and the pod's serial number,
// so names are stable across restarts of boxd and never reused by a later run of the Job.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "specs/pod.h"

namespace boxd::specs {

enum class CompletionMode { NonIndexed, Indexed };
std::string_view toString(CompletionMode m);

struct Job {
  std::string name;
  std::string namespaceName = kDefaultNamespace;
  int64_t completions = 1;
  int64_t parallelism = 1;
  int64_t backoffLimit = 6;
  std::optional<int64_t> activeDeadlineSeconds;
  std::optional<int64_t> ttlSecondsAfterFinished;
  CompletionMode completionMode = CompletionMode::NonIndexed;
  PodSpec podTemplate;  // restartPolicy OnFailure or Never; name empty
  // A CronJob's Job: its template's metadata, the owner and the scheduled time (specs/cronjob.h).
  std::map<std::string, std::string> labels, annotations;
  std::string key() const { return objectKey(namespaceName, name); }
};

inline constexpr const char* kJobCompletionIndex = "batch.kubernetes.io/job-completion-index";
inline constexpr const char* kJobControllerUid = "batch.kubernetes.io/controller-uid";
inline constexpr const char* kJobNameLabel = "batch.kubernetes.io/job-name";

// The Job's identity: a new identity is a new Job (its pods replaced, run again). The template,
// completions and completionMode; parallelism, backoffLimit, activeDeadlineSeconds and
// ttlSecondsAfterFinished apply to the running Job in place, as Kubernetes lets them change.
std::string jobHash(const Job& job);
// The longest pod name of the Job (its name plus what boxd appends).
size_t longestJobPodName(const Job& job);
// The pod of run `uid` numbered `serial` (index: its completion index, -1 for NonIndexed).
PodSpec jobPod(const Job& job, const std::string& uid, int64_t serial, int64_t index);
// The completion index of a Job's pod; -1 if it has none.
int64_t completionIndexOf(const PodSpec& pod);

}  // namespace boxd::specs
