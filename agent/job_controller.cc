#include "agent/job_controller.h"

#include <algorithm>
#include <set>

namespace boxd::agent {
namespace {

bool finished(const JobPodState& p) { return p.phase == "Succeeded" || p.phase == "Failed"; }

// Failures since the last success, and when the last one happened (Kubernetes' backoff record).
struct Failures {
  int64_t sinceSuccess = 0;
  int64_t lastMs = 0;
};

Failures failuresOf(const std::vector<JobPodState>& pods) {
  int64_t lastSuccess = 0;
  for (const auto& p : pods) {
    if (p.phase == "Succeeded") lastSuccess = std::max(lastSuccess, p.finishedAtMs);
  }
  Failures f;
  for (const auto& p : pods) {
    if (p.phase != "Failed" || p.finishedAtMs < lastSuccess) continue;
    f.sinceSuccess++;
    f.lastMs = std::max(f.lastMs, p.finishedAtMs);
  }
  return f;
}

int64_t backoffDelay(int64_t failures, const JobBackoff& b) {
  if (failures <= 0) return 0;
  int64_t d = b.baseMs;
  for (int64_t i = 1; i < failures && d < b.maxMs; ++i) d *= 2;
  return std::min(d, b.maxMs);
}

void finish(JobDecision& d, int64_t nowMs, const std::string& condition, const std::string& reason,
            const std::string& message) {
  d.run.condition = condition;
  d.run.reason = reason;
  d.run.message = message;
  d.run.completionTimeMs = nowMs;
  d.run.succeeded = d.succeeded;
  d.run.failed = d.failed;
  d.events.push_back({condition == "Complete" ? "Normal" : "Warning",
                      condition == "Complete" ? "Completed" : reason, message});
}

void wakeAt(JobDecision& d, int64_t atMs) {
  if (!d.wakeAtMs || atMs < *d.wakeAtMs) d.wakeAtMs = atMs;
}

// What a finished run keeps: its finished pods, until the TTL after the finish.
void settle(const specs::Job& job, const std::vector<JobPodState>& pods, int64_t nowMs,
            JobDecision& d) {
  bool expired = false;
  if (job.ttlSecondsAfterFinished) {
    int64_t at = d.run.completionTimeMs + *job.ttlSecondsAfterFinished * 1000;
    expired = nowMs >= at;
    if (!expired) wakeAt(d, at);
  }
  for (const auto& p : pods) {
    if (finished(p) && !expired)
      d.keep.push_back(p.name);
    else
      d.remove.push_back(p.name);
  }
}

// The indexes an Indexed run still needs a pod for, lowest first.
std::vector<int64_t> missingIndexes(const specs::Job& job, const std::vector<JobPodState>& pods,
                                    size_t want) {
  std::set<int64_t> taken;
  for (const auto& p : pods) {
    if (p.phase != "Failed") taken.insert(p.index);  // succeeded or active
  }
  std::vector<int64_t> out;
  for (int64_t i = 0; i < job.completions && out.size() < want; ++i) {
    if (!taken.count(i)) out.push_back(i);
  }
  return out;
}

// The counts of the run's pods.
void count(const specs::Job& job, const std::vector<JobPodState>& pods, JobDecision& d,
           int64_t& restarts) {
  std::set<int64_t> doneIndexes;
  d.failed = d.run.failedGone;
  for (const auto& p : pods) {
    if (p.phase == "Succeeded") {
      if (job.completionMode == specs::CompletionMode::Indexed)
        doneIndexes.insert(p.index);
      else
        d.succeeded++;
    } else if (p.phase == "Failed") {
      d.failed++;
    } else {
      d.active++;
      restarts += p.restarts;
    }
  }
  if (job.completionMode == specs::CompletionMode::Indexed)
    d.succeeded = static_cast<int64_t>(doneIndexes.size());
}

// The verdict on a run that has not finished: "" to keep going, else the condition's reason.
std::string verdict(const specs::Job& job, const JobDecision& d, int64_t restarts, int64_t nowMs) {
  if (d.succeeded >= job.completions) return "CompletionsReached";
  bool onFailure = job.podTemplate.restartPolicy == specs::RestartPolicy::OnFailure;
  if (!onFailure && d.failed > job.backoffLimit) return "BackoffLimitExceeded";
  if (onFailure && (job.backoffLimit == 0 ? restarts > 0 : restarts >= job.backoffLimit))
    return "BackoffLimitExceeded";
  if (job.activeDeadlineSeconds && nowMs >= d.run.startTimeMs + *job.activeDeadlineSeconds * 1000)
    return "DeadlineExceeded";
  return "";
}

// Active pods beyond what the run wants now (parallelism lowered): the newest go first.
void trimActive(const std::vector<JobPodState>& pods, int64_t excess, JobDecision& d) {
  std::vector<const JobPodState*> active;
  for (const auto& p : pods) {
    if (!finished(p)) active.push_back(&p);
  }
  std::sort(active.begin(), active.end(), [](const JobPodState* a, const JobPodState* b) {
    bool ra = a->phase == "Running", rb = b->phase == "Running";
    if (ra != rb) return !ra;  // not yet running first
    return a->createdAtMs != b->createdAtMs ? a->createdAtMs > b->createdAtMs : a->name > b->name;
  });
  for (const JobPodState* p : active) {
    bool drop = excess > 0;
    if (drop) excess--;
    (drop ? d.remove : d.keep).push_back(p->name);
  }
}

}  // namespace

nlohmann::json toJson(const JobRun& r) {
  return {{"uid", r.uid},
          {"hash", r.hash},
          {"sourceFile", r.sourceFile},
          {"startTimeMs", r.startTimeMs},
          {"completionTimeMs", r.completionTimeMs},
          {"condition", r.condition},
          {"reason", r.reason},
          {"message", r.message},
          {"nextSerial", r.nextSerial},
          {"failedGone", r.failedGone},
          {"succeeded", r.succeeded},
          {"failed", r.failed}};
}

JobRun jobRunFromJson(const nlohmann::json& j) {
  JobRun r;
  if (!j.is_object()) return r;
  r.uid = j.value("uid", "");
  r.hash = j.value("hash", "");
  r.sourceFile = j.value("sourceFile", "");
  r.startTimeMs = j.value("startTimeMs", int64_t{0});
  r.completionTimeMs = j.value("completionTimeMs", int64_t{0});
  r.condition = j.value("condition", "");
  r.reason = j.value("reason", "");
  r.message = j.value("message", "");
  r.nextSerial = j.value("nextSerial", int64_t{0});
  r.failedGone = j.value("failedGone", int64_t{0});
  r.succeeded = j.value("succeeded", int64_t{0});
  r.failed = j.value("failed", int64_t{0});
  return r;
}

JobDecision decideJob(const specs::Job& job, const JobRun& run,
                      const std::vector<JobPodState>& pods, int64_t nowMs,
                      const JobBackoff& backoff) {
  JobDecision d;
  d.run = run;
  if (d.run.startTimeMs == 0) d.run.startTimeMs = nowMs;
  int64_t restarts = 0;
  count(job, pods, d, restarts);
  if (!d.run.condition.empty()) {  // finished: the counts of the finish
    settle(job, pods, nowMs, d);
    d.active = 0;
    d.succeeded = d.run.succeeded;
    d.failed = d.run.failed;
    return d;
  }
  std::string reason = verdict(job, d, restarts, nowMs);
  if (reason == "CompletionsReached") {
    finish(d, nowMs, "Complete", reason, "Job completed");
  } else if (!reason.empty()) {
    // The active pods are removed, and count as failed (as in Kubernetes).
    d.run.failedGone += d.active;
    d.failed += d.active;
    finish(d, nowMs, "Failed", reason,
           reason == "DeadlineExceeded" ? "Job was active longer than specified deadline"
                                        : "Job has reached the specified backoff limit");
  }
  if (!d.run.condition.empty()) {
    settle(job, pods, nowMs, d);
    d.active = 0;
    return d;
  }
  if (job.activeDeadlineSeconds) wakeAt(d, d.run.startTimeMs + *job.activeDeadlineSeconds * 1000);
  for (const auto& p : pods) {
    if (finished(p)) d.keep.push_back(p.name);
  }
  // Indexed: an index succeeded or running needs no other pod; NonIndexed: the count left.
  int64_t left = job.completions - d.succeeded;
  int64_t wantActive = std::max<int64_t>(0, std::min(job.parallelism, left));
  trimActive(pods, d.active - wantActive, d);
  int64_t toCreate = wantActive - std::min(d.active, wantActive);
  if (toCreate <= 0) return d;
  Failures f = failuresOf(pods);
  int64_t readyAt = f.lastMs + backoffDelay(f.sinceSuccess, backoff);
  if (f.sinceSuccess > 0 && nowMs < readyAt) {
    wakeAt(d, readyAt);
    return d;
  }
  std::vector<int64_t> indexes;
  if (job.completionMode == specs::CompletionMode::Indexed)
    indexes = missingIndexes(job, pods, static_cast<size_t>(toCreate));
  else
    indexes.assign(static_cast<size_t>(toCreate), -1);
  for (int64_t index : indexes) d.create.push_back({d.run.nextSerial++, index});
  return d;
}

}  // namespace boxd::agent
