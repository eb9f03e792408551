// The Job controller's decisions (docs/workloads.md#jobs), as Kubernetes' job controller makes
// them for one node. Pure: given the Job, its recorded run, its pods as they are and the time,
// it says which pods to create and remove, the run's new status, the events to record and when
// to look again. The agent (job_wiring.cc) applies the answer and records the run.
//
//   succeeded >= completions (Indexed: every index once)   -> Complete (CompletionsReached)
//   Never: failed pods > backoffLimit                        -> Failed (BackoffLimitExceeded)
//   OnFailure: restarts of active pods >= backoffLimit       -> Failed (BackoffLimitExceeded)
//     (> 0 when backoffLimit is 0)
//   now >= start + activeDeadlineSeconds                     -> Failed (DeadlineExceeded)
//   otherwise: min(parallelism, completions left) pods active; a pod after a failure waits
//     base * 2^(failures since the last success - 1), capped (10 s .. 6 min in Kubernetes).
// Finishing removes the active pods (Failed: counted as failed); finished pods stay until the
// Job goes, or ttlSecondsAfterFinished after the finish.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "specs/job.h"

namespace boxd::agent {

// A run of a Job, recorded (state store meta "jobs") so a restart of boxd resumes it.
struct JobRun {
  std::string uid;   // one per run: a new Job (or a changed one) is a new run
  std::string hash;  // specs::jobHash of the Job it runs
  std::string sourceFile;
  int64_t startTimeMs = 0;
  int64_t completionTimeMs = 0;  // when it finished (Complete or Failed)
  std::string condition;         // "", "Complete", "Failed"
  std::string reason, message;
  int64_t nextSerial = 0;  // pods created so far (their names come from it)
  int64_t failedGone = 0;  // failed pods no longer there (active pods removed at a failure)
  int64_t succeeded = 0, failed = 0;  // the counts at the finish (kept when the pods go)
  bool operator==(const JobRun&) const = default;
};
nlohmann::json toJson(const JobRun& r);
JobRun jobRunFromJson(const nlohmann::json& j);

struct JobPodState {
  std::string name;
  int64_t index = -1;  // completion index (Indexed)
  std::string phase;   // Pending, Running, Succeeded, Failed, Terminating
  int restarts = 0;    // of every container, init ones included
  int64_t createdAtMs = 0;
  int64_t finishedAtMs = 0;  // Succeeded, Failed: when
};

struct JobBackoff {
  int64_t baseMs = 10000;
  int64_t maxMs = 360000;
};

struct JobEvent {
  std::string type, reason, message;
};

struct JobCreate {
  int64_t serial = 0;
  int64_t index = -1;
};

struct JobDecision {
  JobRun run;
  std::vector<JobCreate> create;
  std::vector<std::string> keep;    // existing pods that stay
  std::vector<std::string> remove;  // existing pods to tear down
  int64_t active = 0, succeeded = 0, failed = 0;
  std::vector<JobEvent> events;
  std::optional<int64_t> wakeAtMs;  // decide again then (a backoff, the deadline, the TTL)
};

// run: the recorded run of this very Job (same hash); a fresh run has an empty condition and a
// startTimeMs of 0 (set to now). pods: the run's pods (labelled with its uid).
JobDecision decideJob(const specs::Job& job, const JobRun& run,
                      const std::vector<JobPodState>& pods, int64_t nowMs,
                      const JobBackoff& backoff);

}  // namespace boxd::agent
