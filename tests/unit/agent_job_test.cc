// The Job controller's decisions (agent/job_controller.h), given the pods of a run and the time:
// parallelism and completions, backoff between failed pods, backoffLimit for Never and OnFailure,
// activeDeadlineSeconds, a finished run keeping its pods, the TTL, Indexed completions.
#include <gtest/gtest.h>

#include "agent/boxctl_format.h"
#include "agent/desired.h"
#include "agent/job_controller.h"
#include "specs/parse.h"

namespace boxd::agent {
namespace {

constexpr int64_t kT0 = 1'000'000;
const JobBackoff kBackoff{10'000, 360'000};

specs::Job makeJob(int64_t completions, int64_t parallelism,
                   specs::RestartPolicy policy = specs::RestartPolicy::Never) {
  specs::Job j;
  j.name = "pi";
  j.completions = completions;
  j.parallelism = parallelism;
  j.podTemplate.restartPolicy = policy;
  return j;
}

JobRun started() {
  JobRun r;
  r.uid = "u";
  r.startTimeMs = kT0;
  return r;
}

JobPodState pod(const std::string& name, const std::string& phase, int64_t finishedAt = 0,
                int64_t index = -1) {
  return {name, index, phase, 0, kT0, finishedAt};
}

TEST(JobController, StartsParallelismPodsThenKeepsCompletionsGoing) {
  specs::Job j = makeJob(3, 2);
  JobDecision d = decideJob(j, JobRun{"u"}, {}, kT0, kBackoff);
  EXPECT_EQ(d.run.startTimeMs, kT0);
  ASSERT_EQ(d.create.size(), 2u);
  EXPECT_EQ(d.create[0].serial, 0);
  EXPECT_EQ(d.create[1].serial, 1);
  EXPECT_EQ(d.run.nextSerial, 2);
  EXPECT_TRUE(d.run.condition.empty());

  JobRun r = d.run;
  // One succeeded: one more (3 - 1 = 2 left, 1 active).
  d = decideJob(j, r, {pod("a", "Succeeded", kT0 + 5), pod("b", "Running")}, kT0 + 10, kBackoff);
  ASSERT_EQ(d.create.size(), 1u);
  EXPECT_EQ(d.create[0].serial, 2);
  EXPECT_EQ(d.active, 1);
  EXPECT_EQ(d.succeeded, 1);
  // Two succeeded, one running: nothing more (only one completion is left).
  r = d.run;
  d = decideJob(j, r, {pod("a", "Succeeded"), pod("b", "Succeeded"), pod("c", "Running")}, kT0 + 20,
                kBackoff);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.keep.size(), 3u);
  // Three succeeded: Complete, every pod kept.
  d = decideJob(j, r, {pod("a", "Succeeded"), pod("b", "Succeeded"), pod("c", "Succeeded")},
                kT0 + 30, kBackoff);
  EXPECT_EQ(d.run.condition, "Complete");
  EXPECT_EQ(d.run.reason, "CompletionsReached");
  EXPECT_EQ(d.run.completionTimeMs, kT0 + 30);
  EXPECT_EQ(d.succeeded, 3);
  EXPECT_EQ(d.keep.size(), 3u);
  EXPECT_TRUE(d.remove.empty());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].reason, "Completed");
  // Once finished, the decision stays (no new pods, no new events).
  JobDecision again =
      decideJob(j, d.run, {pod("a", "Succeeded"), pod("b", "Succeeded"), pod("c", "Succeeded")},
                kT0 + 99, kBackoff);
  EXPECT_EQ(again.run, d.run);
  EXPECT_TRUE(again.events.empty());
  EXPECT_TRUE(again.create.empty());
}

TEST(JobController, FailedPodsWaitAnExponentialBackoff) {
  specs::Job j = makeJob(1, 1);
  JobRun r = started();
  r.nextSerial = 1;
  // One failure at t: the next pod waits 10 s.
  JobDecision d = decideJob(j, r, {pod("a", "Failed", kT0 + 100)}, kT0 + 5'000, kBackoff);
  EXPECT_TRUE(d.create.empty());
  ASSERT_TRUE(d.wakeAtMs);
  EXPECT_EQ(*d.wakeAtMs, kT0 + 10'100);
  EXPECT_EQ(d.failed, 1);
  d = decideJob(j, r, {pod("a", "Failed", kT0 + 100)}, kT0 + 10'100, kBackoff);
  ASSERT_EQ(d.create.size(), 1u);
  // Three failures in a row: 40 s after the last one.
  std::vector<JobPodState> three = {pod("a", "Failed", kT0), pod("b", "Failed", kT0 + 1),
                                    pod("c", "Failed", kT0 + 2)};
  d = decideJob(j, r, three, kT0 + 30'000, kBackoff);
  EXPECT_TRUE(d.create.empty());
  ASSERT_TRUE(d.wakeAtMs);
  EXPECT_EQ(*d.wakeAtMs, kT0 + 2 + 40'000);
  // Capped (backoffLimit high enough to keep going).
  j.backoffLimit = 100;
  std::vector<JobPodState> many;
  for (int i = 0; i < 7; ++i) many.push_back(pod("p" + std::to_string(i), "Failed", kT0 + i));
  d = decideJob(j, r, many, kT0 + 10, kBackoff);
  ASSERT_TRUE(d.wakeAtMs);
  EXPECT_EQ(*d.wakeAtMs, kT0 + 6 + 360'000);  // 640 s without the cap
  // A success resets the count: only failures after it count.
  specs::Job two = makeJob(2, 1);
  d = decideJob(two, r, {pod("a", "Failed", kT0), pod("b", "Succeeded", kT0 + 50)}, kT0 + 60,
                kBackoff);
  EXPECT_EQ(d.create.size(), 1u);
}

TEST(JobController, NeverFailsPastTheBackoffLimit) {
  specs::Job j = makeJob(1, 1);
  j.backoffLimit = 2;
  JobRun r = started();
  std::vector<JobPodState> pods = {pod("a", "Failed", kT0), pod("b", "Failed", kT0 + 1)};
  JobDecision d = decideJob(j, r, pods, kT0 + 600'000, kBackoff);
  EXPECT_TRUE(d.run.condition.empty());  // 2 failures = backoffLimit: one more try
  EXPECT_EQ(d.create.size(), 1u);
  pods.push_back(pod("c", "Failed", kT0 + 2));
  d = decideJob(j, r, pods, kT0 + 600'000, kBackoff);
  EXPECT_EQ(d.run.condition, "Failed");
  EXPECT_EQ(d.run.reason, "BackoffLimitExceeded");
  EXPECT_EQ(d.run.message, "Job has reached the specified backoff limit");
  EXPECT_EQ(d.failed, 3);
  EXPECT_TRUE(d.create.empty());
  EXPECT_EQ(d.keep.size(), 3u);  // the failed pods stay, visible
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].type, "Warning");
  EXPECT_EQ(d.events[0].reason, "BackoffLimitExceeded");
}

TEST(JobController, OnFailureCountsContainerRestarts) {
  specs::Job j = makeJob(1, 1, specs::RestartPolicy::OnFailure);
  j.backoffLimit = 3;
  JobRun r = started();
  JobPodState p = pod("a", "Running");
  p.restarts = 2;
  JobDecision d = decideJob(j, r, {p}, kT0 + 1, kBackoff);
  EXPECT_TRUE(d.run.condition.empty());
  EXPECT_EQ(d.keep, std::vector<std::string>{"a"});
  p.restarts = 3;
  d = decideJob(j, r, {p}, kT0 + 2, kBackoff);
  EXPECT_EQ(d.run.reason, "BackoffLimitExceeded");
  EXPECT_EQ(d.remove, std::vector<std::string>{"a"});  // the active pod goes
  EXPECT_EQ(d.failed, 1);                              // and counts as failed
  EXPECT_EQ(d.run.failedGone, 1);
  // backoffLimit 0: the first restart fails the Job.
  j.backoffLimit = 0;
  p.restarts = 0;
  EXPECT_TRUE(decideJob(j, r, {p}, kT0 + 3, kBackoff).run.condition.empty());
  p.restarts = 1;
  EXPECT_EQ(decideJob(j, r, {p}, kT0 + 3, kBackoff).run.condition, "Failed");
}

TEST(JobController, ActiveDeadlineRemovesRunningPods) {
  specs::Job j = makeJob(5, 2);
  j.activeDeadlineSeconds = 30;
  JobRun r = started();
  std::vector<JobPodState> pods = {pod("a", "Succeeded", kT0 + 5), pod("b", "Running"),
                                   pod("c", "Pending")};
  JobDecision d = decideJob(j, r, pods, kT0 + 29'999, kBackoff);
  EXPECT_TRUE(d.run.condition.empty());
  ASSERT_TRUE(d.wakeAtMs);
  EXPECT_EQ(*d.wakeAtMs, kT0 + 30'000);
  d = decideJob(j, r, pods, kT0 + 30'000, kBackoff);
  EXPECT_EQ(d.run.condition, "Failed");
  EXPECT_EQ(d.run.reason, "DeadlineExceeded");
  EXPECT_EQ(d.run.message, "Job was active longer than specified deadline");
  EXPECT_EQ(d.keep, std::vector<std::string>{"a"});
  EXPECT_EQ(d.remove, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(d.failed, 2);
  EXPECT_EQ(d.active, 0);
  // The removed pods are gone later: the count stays.
  d = decideJob(j, d.run, {pod("a", "Succeeded", kT0 + 5)}, kT0 + 40'000, kBackoff);
  EXPECT_EQ(d.failed, 2);
  EXPECT_EQ(d.succeeded, 1);
}

TEST(JobController, TtlAfterFinishedRemovesThePods) {
  specs::Job j = makeJob(1, 1);
  j.ttlSecondsAfterFinished = 10;
  JobRun r = started();
  r.condition = "Complete";
  r.completionTimeMs = kT0 + 1'000;
  JobDecision d = decideJob(j, r, {pod("a", "Succeeded")}, kT0 + 5'000, kBackoff);
  EXPECT_EQ(d.keep, std::vector<std::string>{"a"});
  EXPECT_EQ(*d.wakeAtMs, kT0 + 11'000);
  r.succeeded = 1;
  d = decideJob(j, r, {pod("a", "Succeeded")}, kT0 + 11'000, kBackoff);
  EXPECT_EQ(d.remove, std::vector<std::string>{"a"});
  d = decideJob(j, r, {}, kT0 + 12'000, kBackoff);
  EXPECT_EQ(d.succeeded, 1) << "the counts of the finish stay when the pods are gone";
  EXPECT_EQ(d.run.condition, "Complete");  // the run stays finished: not run again
}

TEST(JobController, LoweredParallelismRemovesTheNewestPods) {
  specs::Job j = makeJob(10, 1);
  JobRun r = started();
  JobPodState a = pod("a", "Running"), b = pod("b", "Running");
  b.createdAtMs = kT0 + 5;
  JobDecision d = decideJob(j, r, {a, b}, kT0 + 10, kBackoff);
  EXPECT_EQ(d.remove, std::vector<std::string>{"b"});
  EXPECT_EQ(d.keep, std::vector<std::string>{"a"});
}

TEST(JobController, IndexedRunsEachIndexOnce) {
  specs::Job j = makeJob(3, 2);
  j.completionMode = specs::CompletionMode::Indexed;
  JobDecision d = decideJob(j, JobRun{"u"}, {}, kT0, kBackoff);
  ASSERT_EQ(d.create.size(), 2u);
  EXPECT_EQ(d.create[0].index, 0);
  EXPECT_EQ(d.create[1].index, 1);
  JobRun r = d.run;
  // Index 0 failed, 1 succeeded: index 0 again (after the backoff) and index 2.
  std::vector<JobPodState> pods = {pod("a", "Failed", kT0 + 1, 0),
                                   pod("b", "Succeeded", kT0 + 2, 1)};
  d = decideJob(j, r, pods, kT0 + 100'000, kBackoff);
  ASSERT_EQ(d.create.size(), 2u);
  EXPECT_EQ(d.create[0].index, 0);
  EXPECT_EQ(d.create[1].index, 2);
  // Two pods of index 1 succeeded: it counts once.
  pods = {pod("a", "Succeeded", kT0, 0), pod("b", "Succeeded", kT0, 1),
          pod("c", "Succeeded", kT0, 1)};
  d = decideJob(j, r, pods, kT0 + 1, kBackoff);
  EXPECT_EQ(d.succeeded, 2);
  ASSERT_EQ(d.create.size(), 1u);
  EXPECT_EQ(d.create[0].index, 2);
}

TEST(JobController, RunRoundTripsThroughJson) {
  JobRun r = started();
  r.hash = "h";
  r.sourceFile = "pi.yaml";
  r.condition = "Failed";
  r.reason = "DeadlineExceeded";
  r.message = "m";
  r.completionTimeMs = 5;
  r.nextSerial = 7;
  r.failedGone = 2;
  r.succeeded = 3;
  r.failed = 4;
  EXPECT_EQ(jobRunFromJson(toJson(r)), r);
  EXPECT_EQ(jobRunFromJson(nlohmann::json("garbage")), JobRun{});
}

std::string jobFile(const std::string& command) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  template:\n"
         "    spec:\n      restartPolicy: Never\n"
         "      containers: [{name: c, image: busybox, command: [" +
         command + "]}]\n";
}

TEST(JobDesired, JobsFollowTheRulesOfPods) {
  LastGood lastGood;
  std::vector<FileResult> files = {{"a.yaml", specs::parseSpecFile("a.yaml", jobFile("\"true\""))}};
  Desired d = resolveDesired(files, lastGood, {});
  ASSERT_EQ(d.jobs.count("pi"), 1u);
  EXPECT_EQ(d.jobs["pi"].sourceFile, "a.yaml");
  std::string hash = d.jobs["pi"].hash;
  // A broken edit keeps the last good Job.
  files = {{"a.yaml", specs::parseSpecFile("a.yaml", jobFile("\"true\"") + "  bogus: 1\n")}};
  d = resolveDesired(files, lastGood, {});
  ASSERT_EQ(d.jobs.count("pi"), 1u);
  EXPECT_EQ(d.jobs["pi"].hash, hash);
  // Declared in two files: neither is used, both files say so.
  files = {{"a.yaml", specs::parseSpecFile("a.yaml", jobFile("\"true\""))},
           {"b.yaml", specs::parseSpecFile("b.yaml", jobFile("\"false\""))}};
  d = resolveDesired(files, lastGood, {});
  EXPECT_EQ(d.jobs.count("pi"), 0u);
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].errors.at(0).message,
            "job \"pi\" is also declared in b.yaml; neither declaration is used");
}

TEST(JobFormat, StatusTableAndDescribe) {
  nlohmann::json job = {
      {"name", "pi"},
      {"namespace", "default"},
      {"completions", 3},
      {"parallelism", 2},
      {"backoffLimit", 6},
      {"completionMode", "NonIndexed"},
      {"restartPolicy", "Never"},
      {"active", 0},
      {"succeeded", 3},
      {"failed", 1},
      {"startTimeMs", kT0},
      {"completionTimeMs", kT0 + 12'000},
      {"condition",
       {{"type", "Complete"}, {"reason", "CompletionsReached"}, {"message", "Job completed"}}},
      {"pods", {"pi-bcdfg"}},
      {"events", nlohmann::json::array()},
      {"kind", "Job"}};
  std::string table = formatJobs(nlohmann::json::array({job}), kT0 + 60'000);
  EXPECT_EQ(table,
            "NAME   STATUS     COMPLETIONS   DURATION   AGE   ACTIVE   FAILED\n"
            "pi     Complete   3/3           12s        60s   0        1\n");
  std::string d = formatDescribe(job);
  EXPECT_NE(d.find("Pods Statuses:   0 Active / 3 Succeeded / 1 Failed\n"), std::string::npos) << d;
  EXPECT_NE(d.find("Condition:       Complete (CompletionsReached): Job completed\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("  pi-bcdfg\n"), std::string::npos) << d;
}

}  // namespace
}  // namespace boxd::agent
