// batch/v1 CronJobs on a real boxd (docs/workloads.md#cronjobs): a CronJob of `* * * * *` makes
// the Job <name>-<minute> at the next minute, its pod runs to completion, `boxctl status` and
// `describe cronjob/NAME` show it with Kubernetes' events; a restart of boxd keeps the record
// (nothing runs again); removing the CronJob removes its Job and pod.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

const char* kCronJob = R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels: {team: clocks}
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: work
            image: busybox
            command: [sh, -c, 'echo tick']
)";

nlohmann::json cronJobOf(Boxd& b, const std::string& name) {
  for (const auto& c : b.status().value("cronJobs", nlohmann::json::array()))
    if (c.value("name", "") == name) return c;
  return nullptr;
}

// The Jobs of the status made by CronJob `owner`.
std::vector<nlohmann::json> jobsOf(Boxd& b, const std::string& owner) {
  std::vector<nlohmann::json> out;
  for (const auto& j : b.status().value("jobs", nlohmann::json::array())) {
    auto a = j.value("annotations", nlohmann::json::object());
    if (a.value("boxd.io/owner", "") == "CronJob/" + owner) out.push_back(j);
  }
  return out;
}

size_t countIn(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

using CronJobsTest = BoxdBusyboxTest;

TEST_F(CronJobsTest, RunsAtTheNextMinuteSurvivesARestartAndGoesWithItsSpec) {
  const int64_t writtenMs = nowMs();
  b_.writeSpec("tick.yaml", kCronJob);
  ASSERT_TRUE(waitFor([&] { return !cronJobOf(b_, "tick").is_null(); }, 10000))
      << b_.status().dump(2);
  std::string status = b_.boxctl({"status"}).out;
  EXPECT_NE(status.find("CRONJOBS"), std::string::npos) << status;
  EXPECT_NE(status.find("* * * * *"), std::string::npos) << status;

  // The next minute (at most 60 s away) makes the Job; its pod runs to completion.
  std::string jobName;
  bool complete = waitFor(
      [&] {
        auto jobs = jobsOf(b_, "tick");
        if (jobs.empty() || !jobs[0].contains("condition")) return false;
        jobName = jobs[0].value("name", "");
        return jobs[0]["condition"].value("type", "") == "Complete";
      },
      80000);
  ASSERT_TRUE(complete) << b_.status().dump(2) << b_.log();
  const int64_t minute = std::stoll(jobName.substr(5));
  EXPECT_EQ(jobName, "tick-" + std::to_string(minute));
  EXPECT_GT(minute * 60000, writtenMs - 1000) << "no time before the CronJob was seen";
  EXPECT_LE(minute * 60000, nowMs());
  nlohmann::json job = jobsOf(b_, "tick").at(0);
  EXPECT_EQ(job["labels"].value("team", ""), "clocks");
  EXPECT_FALSE(
      job["annotations"].value("batch.kubernetes.io/cronjob-scheduled-timestamp", "").empty());
  ASSERT_EQ(job["pods"].size(), 1u) << job.dump(2);
  const std::string pod = job["pods"][0];
  EXPECT_EQ(b_.boxctl({"logs", pod}).out, "tick\n");

  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"describe", "cronjob/tick"}).out.find("SawCompletedJob") !=
               std::string::npos;
      },
      10000));
  CmdResult d = b_.boxctl({"describe", "cronjob/tick"});
  EXPECT_EQ(d.code, 0) << d.out;
  EXPECT_EQ(countIn(d.out, "Created job " + jobName), 1u) << d.out;
  EXPECT_NE(d.out.find("Concurrency Policy:            Forbid"), std::string::npos) << d.out;
  nlohmann::json before = cronJobOf(b_, "tick");

  // A restart: the record is kept, nothing made before runs again.
  b_.stop();
  b_.start();
  ASSERT_TRUE(waitFor([&] { return !cronJobOf(b_, "tick").is_null(); }, 20000));
  nlohmann::json after = cronJobOf(b_, "tick");
  EXPECT_EQ(after.value("firstSeenMs", 0), before.value("firstSeenMs", 1));
  EXPECT_GE(after.value("lastScheduleTimeMs", int64_t{0}), minute * 60000);
  EXPECT_EQ(countIn(b_.boxctl({"describe", "cronjob/tick"}).out, "Created job " + jobName), 1u);
  ASSERT_FALSE(b_.pod(pod).is_null()) << "the finished Job's pod is kept";
  EXPECT_EQ(b_.pod(pod).value("phase", ""), "Succeeded");

  // The CronJob goes: its Jobs and their pods go too.
  b_.removeSpec("tick.yaml");
  EXPECT_TRUE(b_.waitGone(pod, 30000)) << b_.status().dump(2);
  EXPECT_TRUE(waitFor([&] { return jobsOf(b_, "tick").empty(); }, 10000));
  EXPECT_TRUE(cronJobOf(b_, "tick").is_null());
  b_.stop();
  EXPECT_TRUE(b_.leftovers().empty()) << ::testing::PrintToString(b_.leftovers());
}

}  // namespace
}  // namespace boxd::testing
