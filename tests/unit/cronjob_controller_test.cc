// The CronJob controller on a fake clock: when Jobs are made (the due time, one catch-up, the
// starting deadline, too many missed times), concurrencyPolicy, suspend, the history limits, a
// restart (the record through JSON) and a wall clock that jumps.
#include "agent/cronjob_controller.h"

#include <gtest/gtest.h>

#include "tests/unit/cron_test_util.h"

namespace boxd::agent {
namespace {

using specs::utc;

specs::CronJob cronJob(const std::string& schedule) {
  specs::CronJob cj;
  cj.name = "tick";
  cj.schedule = schedule;
  cj.parsed = *specs::parseCronSchedule(schedule);
  cj.jobTemplate.podTemplate.restartPolicy = specs::RestartPolicy::Never;
  cj.jobTemplate.podTemplate.containers.push_back({});
  cj.jobTemplate.podTemplate.containers.back().name = "c";
  cj.jobTemplate.podTemplate.containers.back().image = "busybox";
  return cj;
}

std::vector<std::string> reasons(const CronJobDecision& d) {
  std::vector<std::string> out;
  for (const auto& e : d.events) out.push_back(e.reason);
  return out;
}

std::vector<std::string> names(const CronJobRecord& r) {
  std::vector<std::string> out;
  for (const auto& m : r.jobs) out.push_back(m.name);
  return out;
}

std::string jobName(int64_t t) { return "tick-" + std::to_string(t / 60); }

// A fake clock and the record, as the agent keeps them between passes.
struct Controller {
  specs::CronJob cj;
  specs::TimeZone zone;
  CronJobRecord rec;
  std::map<std::string, CronJobJobState> jobs;
  TakenJobNames taken;  // Jobs of the specs
  CronJobDecision pass(int64_t nowSeconds) {
    CronJobDecision d = decideCronJob(cj, zone, rec, jobs, nowSeconds * 1000, taken);
    rec = d.record;
    return d;
  }
  void finish(const std::string& name, const std::string& condition, int64_t at) {
    jobs[name] = {condition, at * 1000};
  }
};

TEST(CronJobController, MakesTheJobOfEachTimeOnce) {
  Controller c{cronJob("*/5 * * * *")};
  int64_t t0 = utc(2026, 5, 1, 10, 2);
  CronJobDecision d = c.pass(t0);  // first seen: nothing is due yet
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.nextScheduleTime, utc(2026, 5, 1, 10, 5));
  EXPECT_EQ(d.wakeAtMs, utc(2026, 5, 1, 10, 5) * 1000);
  d = c.pass(utc(2026, 5, 1, 10, 5));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
  EXPECT_EQ(d.events[0].message, "Created job " + jobName(utc(2026, 5, 1, 10, 5)));
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 10, 5))});
  EXPECT_EQ(c.rec.lastScheduleTime, utc(2026, 5, 1, 10, 5));
  EXPECT_EQ(c.rec.jobs[0].job["annotations"][specs::kCronJobScheduledTimestamp],
            "2026-05-01T10:05:00Z");
  EXPECT_EQ(d.nextScheduleTime, utc(2026, 5, 1, 10, 10));
  // A second pass within the same minute (and a restart: the record through JSON) makes nothing.
  c.rec = cronJobRecordFromJson(toJson(c.rec));
  d = c.pass(utc(2026, 5, 1, 10, 6));
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(c.rec.jobs.size(), 1u);
}

TEST(CronJobController, MissedTimesGiveOneCatchUp) {
  Controller c{cronJob("0 * * * *")};
  c.pass(utc(2026, 5, 1, 10, 30));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 15, 10));  // down for 10:00-15:00's runs
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 15))});
  d = c.pass(utc(2026, 5, 1, 15, 11));
  EXPECT_TRUE(d.events.empty());
}

TEST(CronJobController, TooManyMissedTimesStillRunsTheLatest) {
  Controller c{cronJob("* * * * *")};
  c.pass(utc(2026, 5, 1, 10));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 13, 0, 30));  // 180 minutes missed
  EXPECT_EQ(reasons(d), (std::vector<std::string>{"TooManyMissedTimes", "SuccessfulCreate"}));
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].message,
            "too many missed start times: > 100. Set or decrease .spec.startingDeadlineSeconds or "
            "check clock skew");
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 13))});
  // With a starting deadline only the times within it count.
  Controller s{cronJob("* * * * *")};
  s.cj.startingDeadlineSeconds = 300;
  s.pass(utc(2026, 5, 1, 10));
  d = s.pass(utc(2026, 5, 1, 13, 0, 30));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
}

TEST(CronJobController, StartingDeadlineMissed) {
  Controller c{cronJob("0 * * * *")};
  c.cj.startingDeadlineSeconds = 60;
  c.pass(utc(2026, 5, 1, 10, 30));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 11, 5));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"MissSchedule"});
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].message,
            "Missed scheduled time to start a job: Fri, 01 May 2026 11:00:00 +0000");
  EXPECT_TRUE(c.rec.jobs.empty());
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 11, 6)).events.empty());  // said once
  d = c.pass(utc(2026, 5, 1, 12, 0, 30));                      // the next time, within the deadline
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
}

// A time held back by Forbid past its starting deadline: MissSchedule once (through a restart
// too), no Job when the active one finishes late; the next time runs.
TEST(CronJobController, AForbiddenTimePastItsDeadlineIsMissedOnce) {
  Controller c{cronJob("0 * * * *")};
  c.cj.concurrencyPolicy = specs::ConcurrencyPolicy::Forbid;
  c.cj.startingDeadlineSeconds = 600;
  c.pass(utc(2026, 5, 1, 9, 30));
  c.pass(utc(2026, 5, 1, 10));
  EXPECT_EQ(reasons(c.pass(utc(2026, 5, 1, 11))), std::vector<std::string>{"JobAlreadyActive"});
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 11, 9)).events.empty());
  CronJobDecision d = c.pass(utc(2026, 5, 1, 11, 11));
  ASSERT_EQ(reasons(d), std::vector<std::string>{"MissSchedule"});
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].message,
            "Missed scheduled time to start a job: Fri, 01 May 2026 11:00:00 +0000");
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 11, 12)).events.empty());
  c.rec = cronJobRecordFromJson(toJson(c.rec));  // a restart of boxd
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 11, 13)).events.empty());
  c.finish(jobName(utc(2026, 5, 1, 10)), "Complete", utc(2026, 5, 1, 11, 20));
  d = c.pass(utc(2026, 5, 1, 11, 20));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SawCompletedJob"});
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 10))});
  EXPECT_EQ(c.rec.lastScheduleTime, utc(2026, 5, 1, 10));
  d = c.pass(utc(2026, 5, 1, 12));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
}

// A time whose Job name stays taken past its starting deadline: FailedCreate, then MissSchedule
// once; the name freed later starts nothing for that time.
TEST(CronJobController, ATakenTimePastItsDeadlineIsMissedOnce) {
  Controller c{cronJob("0 * * * *")};
  c.cj.startingDeadlineSeconds = 600;
  c.pass(utc(2026, 5, 1, 9, 30));
  c.taken[jobName(utc(2026, 5, 1, 10))] = "backup.yaml";
  EXPECT_EQ(reasons(c.pass(utc(2026, 5, 1, 10))), std::vector<std::string>{"FailedCreate"});
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 10, 5)).events.empty());
  CronJobDecision d = c.pass(utc(2026, 5, 1, 10, 11));
  ASSERT_EQ(reasons(d), std::vector<std::string>{"MissSchedule"});
  EXPECT_EQ(d.events[0].message,
            "Missed scheduled time to start a job: Fri, 01 May 2026 10:00:00 +0000");
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 10, 12)).events.empty());
  c.taken.clear();
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 10, 30)).events.empty());
  EXPECT_TRUE(c.rec.jobs.empty());
  EXPECT_EQ(reasons(c.pass(utc(2026, 5, 1, 11))), std::vector<std::string>{"SuccessfulCreate"});
}

TEST(CronJobController, ForbidWaitsForTheActiveJob) {
  Controller c{cronJob("0 * * * *")};
  c.cj.concurrencyPolicy = specs::ConcurrencyPolicy::Forbid;
  c.pass(utc(2026, 5, 1, 9, 30));
  c.pass(utc(2026, 5, 1, 10));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 11));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"JobAlreadyActive"});
  EXPECT_EQ(d.events[0].message,
            "Not starting job because prior execution is running and concurrency policy is "
            "Forbid");
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 11, 1)).events.empty());
  // The first Job finishes: the waiting time runs now (no starting deadline).
  c.finish(jobName(utc(2026, 5, 1, 10)), "Complete", utc(2026, 5, 1, 11, 2));
  d = c.pass(utc(2026, 5, 1, 11, 2));
  EXPECT_EQ(reasons(d), (std::vector<std::string>{"SawCompletedJob", "SuccessfulCreate"}));
  EXPECT_EQ(d.events[0].message,
            "Saw completed job: " + jobName(utc(2026, 5, 1, 10)) + ", condition: Complete");
  EXPECT_EQ(c.rec.lastSuccessfulTime, utc(2026, 5, 1, 11, 2));
  EXPECT_EQ(names(c.rec),
            (std::vector<std::string>{jobName(utc(2026, 5, 1, 10)), jobName(utc(2026, 5, 1, 11))}));
}

TEST(CronJobController, ReplaceDeletesTheActiveJob) {
  Controller c{cronJob("0 * * * *")};
  c.cj.concurrencyPolicy = specs::ConcurrencyPolicy::Replace;
  c.pass(utc(2026, 5, 1, 9, 30));
  c.pass(utc(2026, 5, 1, 10));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 11));
  EXPECT_EQ(reasons(d), (std::vector<std::string>{"SuccessfulDelete", "SuccessfulCreate"}));
  EXPECT_EQ(d.remove, std::vector<std::string>{jobName(utc(2026, 5, 1, 10))});
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 11))});
}

TEST(CronJobController, AllowRunsThemSideBySide) {
  Controller c{cronJob("0 * * * *")};
  c.pass(utc(2026, 5, 1, 9, 30));
  c.pass(utc(2026, 5, 1, 10));
  c.pass(utc(2026, 5, 1, 11));
  EXPECT_EQ(c.rec.jobs.size(), 2u);
}

// A Job of the specs named as a run's Job: the run is not started (Kubernetes' create fails with
// AlreadyExists), said once; the record shows no run (no last schedule time, nothing active).
TEST(CronJobController, ARunWhoseJobNameIsTakenIsNotStarted) {
  Controller c{cronJob("0 * * * *")};
  c.pass(utc(2026, 5, 1, 9, 30));
  c.taken[jobName(utc(2026, 5, 1, 10))] = "backup.yaml";
  CronJobDecision d = c.pass(utc(2026, 5, 1, 10));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"FailedCreate"});
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].message, "Error creating job: jobs.batch \"" +
                                     jobName(utc(2026, 5, 1, 10)) +
                                     "\" already exists (declared in backup.yaml); this run is "
                                     "not started");
  EXPECT_TRUE(c.rec.jobs.empty());
  EXPECT_TRUE(d.remove.empty());
  EXPECT_FALSE(c.rec.lastScheduleTime);
  EXPECT_EQ(d.nextScheduleTime, utc(2026, 5, 1, 11));
  // Later passes try again (a restart too), without saying it again.
  c.rec = cronJobRecordFromJson(toJson(c.rec));
  EXPECT_TRUE(c.pass(utc(2026, 5, 1, 10, 1)).events.empty());
  EXPECT_TRUE(c.rec.jobs.empty());
  // The next time's name is free: it runs.
  d = c.pass(utc(2026, 5, 1, 11));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 11))});
  EXPECT_EQ(c.rec.lastScheduleTime, utc(2026, 5, 1, 11));
}

// The Job of the specs goes before the time is over: the retry makes the run's Job, as
// Kubernetes' retried create does.
TEST(CronJobController, ARunWhoseJobNameIsFreedRunsOnRetry) {
  Controller c{cronJob("0 * * * *")};
  c.pass(utc(2026, 5, 1, 9, 30));
  c.taken[jobName(utc(2026, 5, 1, 10))] = "backup.yaml";
  EXPECT_EQ(reasons(c.pass(utc(2026, 5, 1, 10))), std::vector<std::string>{"FailedCreate"});
  c.taken.clear();
  CronJobDecision d = c.pass(utc(2026, 5, 1, 10, 20));
  EXPECT_EQ(reasons(d), std::vector<std::string>{"SuccessfulCreate"});
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 10))});
}

TEST(CronJobController, SuspendedTimesAreMissed) {
  Controller c{cronJob("0 * * * *")};
  c.cj.suspend = true;
  c.pass(utc(2026, 5, 1, 9, 30));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 12, 30));
  EXPECT_TRUE(d.events.empty());
  EXPECT_FALSE(d.wakeAtMs);
  EXPECT_TRUE(c.rec.jobs.empty());
  c.cj.suspend = false;  // as Kubernetes: no starting deadline, the latest missed time runs
  d = c.pass(utc(2026, 5, 1, 12, 31));
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 5, 1, 12))});
}

TEST(CronJobController, HistoryLimitsDeleteTheOldestFinished) {
  Controller c{cronJob("0 * * * *")};
  c.cj.successfulJobsHistoryLimit = 1;
  c.cj.failedJobsHistoryLimit = 0;
  c.pass(utc(2026, 5, 1, 9, 30));
  for (int h = 10; h <= 13; ++h) c.pass(utc(2026, 5, 1, h));
  c.finish(jobName(utc(2026, 5, 1, 10)), "Complete", utc(2026, 5, 1, 10, 1));
  c.finish(jobName(utc(2026, 5, 1, 11)), "Complete", utc(2026, 5, 1, 11, 1));
  c.finish(jobName(utc(2026, 5, 1, 12)), "Failed", utc(2026, 5, 1, 12, 1));
  CronJobDecision d = c.pass(utc(2026, 5, 1, 13, 5));
  EXPECT_EQ(d.remove,
            (std::vector<std::string>{jobName(utc(2026, 5, 1, 10)), jobName(utc(2026, 5, 1, 12))}));
  EXPECT_EQ(names(c.rec),
            (std::vector<std::string>{jobName(utc(2026, 5, 1, 11)), jobName(utc(2026, 5, 1, 13))}));
  EXPECT_EQ(reasons(d),
            (std::vector<std::string>{"SawCompletedJob", "SawCompletedJob", "SawCompletedJob",
                                      "SuccessfulDelete", "SuccessfulDelete"}));
}

TEST(CronJobController, AClockThatJumpsFiresNoBurst) {
  Controller c{cronJob("* * * * *")};
  c.pass(utc(2026, 5, 1, 10));
  c.pass(utc(2026, 5, 1, 10, 1));
  // Back an hour: nothing runs again, the next time is after the last one made.
  CronJobDecision d = c.pass(utc(2026, 5, 1, 9, 1));
  EXPECT_TRUE(d.events.empty());
  EXPECT_EQ(d.nextScheduleTime, utc(2026, 5, 1, 10, 2));
  // Forward a day: one Job.
  d = c.pass(utc(2026, 5, 2, 10, 1, 30));
  EXPECT_EQ(c.rec.jobs.size(), 2u);
  EXPECT_EQ(c.rec.jobs.back().name, jobName(utc(2026, 5, 2, 10, 1)));
}

TEST(CronJobController, TheScheduleIsInTheCronJobsZone) {
  Controller c{cronJob("30 2 * * *"), specs::newYorkRule()};
  c.pass(utc(2026, 3, 7, 12));
  CronJobDecision d = c.pass(utc(2026, 3, 8, 7));  // 02:30 does not exist: 03:00 EDT
  EXPECT_EQ(names(c.rec), std::vector<std::string>{jobName(utc(2026, 3, 8, 7))});
  EXPECT_EQ(c.rec.jobs[0].job["annotations"][specs::kCronJobScheduledTimestamp],
            "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(d.nextScheduleTime, utc(2026, 3, 9, 6, 30));
}

}  // namespace
}  // namespace boxd::agent
