#include "agent/cronjob_controller.h"

#include <algorithm>
#include <cstdio>

namespace boxd::agent {
namespace {

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Go's time.RFC1123Z of a UTC time: "Sun, 08 Mar 2026 07:00:00 +0000" (the MissSchedule message).
std::string rfc1123z(int64_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t day = floorDiv(t, 86400), secs = t - day * 86400, y = 0;
  unsigned m = 0, d = 0;
  specs::civilFromDays(day, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02lld:%02lld:%02lld +0000",
                kDays[specs::weekdayOfDays(day)], d, kMonths[m - 1], static_cast<long long>(y),
                static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  return buf;
}

void normal(CronJobDecision& d, std::string reason, std::string message) {
  d.events.push_back({"Normal", std::move(reason), std::move(message)});
}

// Jobs seen finished for the first time: SawCompletedJob, lastSuccessfulTime.
void observeJobs(const std::map<std::string, CronJobJobState>& jobs, CronJobDecision& d) {
  for (CronJobMade& made : d.record.jobs) {
    auto it = jobs.find(made.name);
    if (!made.condition.empty() || it == jobs.end() || it->second.condition.empty()) continue;
    made.condition = it->second.condition;
    made.finishedAtMs = it->second.completionTimeMs;
    normal(d, "SawCompletedJob",
           "Saw completed job: " + made.name + ", condition: " + made.condition);
    if (made.condition == "Complete") {
      int64_t at = made.finishedAtMs / 1000;
      if (!d.record.lastSuccessfulTime || at > *d.record.lastSuccessfulTime)
        d.record.lastSuccessfulTime = at;
    }
  }
}

void removeJob(CronJobDecision& d, const std::string& name) {
  auto& list = d.record.jobs;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [&name](const CronJobMade& m) { return m.name == name; }),
             list.end());
  d.remove.push_back(name);
  normal(d, "SuccessfulDelete", "Deleted job " + name);
}

// The oldest finished Jobs past the history limits (by scheduled time, as they were started).
void cleanupHistory(const specs::CronJob& cj, CronJobDecision& d) {
  for (const auto& [condition, limit] :
       {std::pair<std::string, int64_t>{"Complete", cj.successfulJobsHistoryLimit},
        std::pair<std::string, int64_t>{"Failed", cj.failedJobsHistoryLimit}}) {
    std::vector<const CronJobMade*> finished;
    for (const CronJobMade& m : d.record.jobs)
      if (m.condition == condition) finished.push_back(&m);
    std::sort(finished.begin(), finished.end(), [](const CronJobMade* a, const CronJobMade* b) {
      return a->scheduledTime < b->scheduledTime;
    });
    std::vector<std::string> doomed;
    for (size_t i = 0; i + static_cast<size_t>(limit) < finished.size(); ++i)
      doomed.push_back(finished[i]->name);
    for (const std::string& name : doomed) removeJob(d, name);
  }
}

// The due time in (earliest, now], if any; reports too many missed times.
std::optional<int64_t> dueTime(const specs::CronJob& cj, const specs::TimeZone& zone,
                               const CronJobRecord& rec, int64_t now, CronJobDecision& d) {
  int64_t earliest = rec.lastScheduleTime.value_or(floorDiv(rec.firstSeenMs, 1000));
  if (now <= earliest) return std::nullopt;  // nothing new (or the clock went back)
  auto latest = specs::latestCronTime(cj.parsed, zone, earliest + 1, now);
  if (!latest) return std::nullopt;
  int64_t from = earliest + 1;
  if (cj.startingDeadlineSeconds) from = std::max(from, now - *cj.startingDeadlineSeconds);
  int64_t missed = specs::countCronTimes(cj.parsed, zone, from, now, kMaxMissedTimes + 1);
  if (missed > kMaxMissedTimes && rec.lastNoted != *latest)
    d.events.push_back({"Warning", "TooManyMissedTimes",
                        "too many missed start times: > " + std::to_string(kMaxMissedTimes) +
                            ". Set or decrease .spec.startingDeadlineSeconds or check clock skew"});
  return latest;
}

bool isActive(const CronJobMade& m) { return m.condition.empty(); }

// The Job of time t has the name of a Job that is not the CronJob's: Kubernetes' create fails
// (AlreadyExists), the other Job is untouched and nothing of the run is recorded. Said once per
// time (lastNoted), as the later passes try again.
bool nameTaken(const std::string& name, int64_t t, const TakenJobNames& taken, CronJobDecision& d) {
  auto it = taken.find(name);
  if (it == taken.end()) return false;
  if (d.record.lastNoted != t)
    d.events.push_back({"Warning", "FailedCreate",
                        "Error creating job: jobs.batch \"" + name +
                            "\" already exists (declared in " + it->second +
                            "); this run is not started"});
  d.record.lastNoted = t;
  return true;
}

// Makes the Job of time t, after what concurrencyPolicy asks; false if it must wait.
bool startJob(const specs::CronJob& cj, const specs::TimeZone& zone, int64_t t,
              const TakenJobNames& taken, CronJobDecision& d) {
  std::string name = specs::cronJobJobName(cj, t);
  for (const CronJobMade& m : d.record.jobs) {
    if (m.name == name) {  // made before (Kubernetes: AlreadyExists): nothing to do
      d.record.lastScheduleTime = t;
      return true;
    }
  }
  std::vector<std::string> active;
  for (const CronJobMade& m : d.record.jobs)
    if (isActive(m)) active.push_back(m.name);
  if (!active.empty() && cj.concurrencyPolicy == specs::ConcurrencyPolicy::Forbid) {
    if (d.record.lastNoted != t)
      normal(d, "JobAlreadyActive",
             "Not starting job because prior execution is running and concurrency policy is "
             "Forbid");
    d.record.lastNoted = t;
    return false;
  }
  if (cj.concurrencyPolicy == specs::ConcurrencyPolicy::Replace)
    for (const std::string& a : active) removeJob(d, a);
  if (nameTaken(name, t, taken, d)) return false;
  d.record.jobs.push_back({name, t, specs::jobToJson(specs::cronJobJob(cj, t, zone)), "", 0});
  normal(d, "SuccessfulCreate", "Created job " + name);
  d.record.lastScheduleTime = t;
  return true;
}

}  // namespace

CronJobDecision decideCronJob(const specs::CronJob& cj, const specs::TimeZone& zone,
                              const CronJobRecord& rec,
                              const std::map<std::string, CronJobJobState>& jobs, int64_t nowMs,
                              const TakenJobNames& taken) {
  CronJobDecision d;
  d.record = rec;
  if (d.record.firstSeenMs == 0) d.record.firstSeenMs = nowMs;
  const int64_t now = floorDiv(nowMs, 1000);
  observeJobs(jobs, d);
  if (!cj.suspend) {
    if (auto due = dueTime(cj, zone, d.record, now, d)) {
      if (cj.startingDeadlineSeconds && *due + *cj.startingDeadlineSeconds < now) {
        // Said once, even when the time was held back before (JobAlreadyActive, FailedCreate).
        if (d.record.lastMissed != *due)
          d.events.push_back({"Warning", "MissSchedule",
                              "Missed scheduled time to start a job: " + rfc1123z(*due)});
        d.record.lastMissed = *due;
        d.record.lastNoted = *due;
      } else {
        startJob(cj, zone, *due, taken, d);
        if (!d.record.lastNoted || *d.record.lastNoted < *due) d.record.lastNoted = *due;
      }
    }
    int64_t from = std::max(now, d.record.lastScheduleTime.value_or(now));
    d.nextScheduleTime = specs::nextCronTime(cj.parsed, zone, from);
    if (d.nextScheduleTime) d.wakeAtMs = *d.nextScheduleTime * 1000;
  }
  cleanupHistory(cj, d);
  return d;
}

nlohmann::json toJson(const CronJobRecord& r) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const CronJobMade& m : r.jobs)
    jobs.push_back({{"name", m.name},
                    {"scheduledTime", m.scheduledTime},
                    {"job", m.job},
                    {"condition", m.condition},
                    {"finishedAtMs", m.finishedAtMs}});
  nlohmann::json j = {{"sourceFile", r.sourceFile}, {"firstSeenMs", r.firstSeenMs}, {"jobs", jobs}};
  if (r.lastScheduleTime) j["lastScheduleTime"] = *r.lastScheduleTime;
  if (r.lastSuccessfulTime) j["lastSuccessfulTime"] = *r.lastSuccessfulTime;
  if (r.lastNoted) j["lastNoted"] = *r.lastNoted;
  if (r.lastMissed) j["lastMissed"] = *r.lastMissed;
  return j;
}

CronJobRecord cronJobRecordFromJson(const nlohmann::json& j) {
  CronJobRecord r;
  if (!j.is_object()) return r;
  auto opt = [&j](const char* key) -> std::optional<int64_t> {
    if (j.contains(key) && j[key].is_number_integer()) return j[key].get<int64_t>();
    return std::nullopt;
  };
  r.sourceFile = j.value("sourceFile", "");
  r.firstSeenMs = opt("firstSeenMs").value_or(0);
  r.lastScheduleTime = opt("lastScheduleTime");
  r.lastSuccessfulTime = opt("lastSuccessfulTime");
  r.lastNoted = opt("lastNoted");
  r.lastMissed = opt("lastMissed");
  if (!j.contains("jobs") || !j["jobs"].is_array()) return r;
  for (const auto& m : j["jobs"]) {
    if (!m.is_object()) continue;
    r.jobs.push_back({m.value("name", ""), m.value("scheduledTime", int64_t{0}),
                      m.value("job", nlohmann::json::object()), m.value("condition", ""),
                      m.value("finishedAtMs", int64_t{0})});
  }
  return r;
}

}  // namespace boxd::agent
