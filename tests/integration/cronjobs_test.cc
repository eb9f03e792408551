// batch/v1 CronJobs on a real boxd (docs/workloads.md#cronjobs): a CronJob of `* * * * *` makes
// the Job <name>-<minute> at the next minute, its pod runs to completion, `boxctl status` and
// `describe cronjob/NAME` show it with Kubernetes' events; a restart of boxd keeps the record
// (nothing runs again); removing the CronJob removes its Job and pod. A Job of the specs and a
// Job of the CronJob of one name, in both orders: the one there first keeps the name.
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

// A Job of the specs, named as `tick`'s Job of a minute.
std::string specsJob(const std::string& name) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name +
         "}\nspec:\n  template:\n    spec:\n"
         "      restartPolicy: Never\n      terminationGracePeriodSeconds: 1\n"
         "      containers: [{name: work, image: busybox, command: [sh, -c, 'echo mine']}]\n";
}

nlohmann::json jobNamed(Boxd& b, const std::string& name) {
  for (const auto& j : b.status().value("jobs", nlohmann::json::array()))
    if (j.value("name", "") == name) return j;
  return nullptr;
}

// A Job of the specs named as the Job of a run (<cronjob>-<minutes since the epoch>) is kept as
// the specs say; that run is not started and the CronJob says why, as Kubernetes refuses to
// create a Job whose name exists.
TEST_F(CronJobsTest, AJobOfTheSpecsNamedAsARunsJobIsKept) {
  // The next two minutes' names: the CronJob's first run is one of them, even when a minute
  // starts while the files are written.
  const int64_t next = nowMs() / 60000 + 1;
  const std::string first = "tick-" + std::to_string(next),
                    second = "tick-" + std::to_string(next + 1);
  b_.writeSpec("jobs.yaml", specsJob(first) + "---\n" + specsJob(second));
  b_.writeSpec("tick.yaml", kCronJob);
  ASSERT_TRUE(waitFor([&] { return !jobNamed(b_, first).is_null(); }, 10000))
      << b_.status().dump(2);
  std::string taken;
  ASSERT_TRUE(waitFor(
      [&] {
        std::string d = b_.boxctl({"describe", "cronjob/tick"}).out;
        for (const std::string& name : {first, second})
          if (d.find("jobs.batch \"" + name + "\" already exists") != std::string::npos)
            taken = name;
        return !taken.empty();
      },
      80000))
      << b_.boxctl({"describe", "cronjob/tick"}).out << b_.log();
  CmdResult d = b_.boxctl({"describe", "cronjob/tick"});
  EXPECT_NE(d.out.find("FailedCreate"), std::string::npos) << d.out;
  EXPECT_EQ(countIn(d.out, "Error creating job: jobs.batch \"" + taken +
                               "\" already exists (declared in jobs.yaml); this run is not "
                               "started"),
            1u)
      << d.out;
  EXPECT_EQ(d.out.find("Created job"), std::string::npos) << d.out;

  // The Job is the specs' one, and runs as they say; the CronJob shows no run.
  EXPECT_TRUE(jobsOf(b_, "tick").empty()) << b_.status().dump(2);
  nlohmann::json job;
  ASSERT_TRUE(waitFor(
      [&] {
        job = jobNamed(b_, taken);
        return !job.is_null() && job.contains("condition");
      },
      60000))
      << b_.status().dump(2);
  EXPECT_EQ(job.value("sourceFile", ""), "jobs.yaml");
  EXPECT_FALSE(job.contains("annotations")) << "not the CronJob's: " << job.dump(2);
  EXPECT_EQ(job["condition"].value("type", ""), "Complete") << job.dump(2);
  ASSERT_EQ(job["pods"].size(), 1u) << job.dump(2);
  const std::string pod = job["pods"][0];
  EXPECT_EQ(b_.boxctl({"logs", pod}).out, "mine\n");
  nlohmann::json cj = cronJobOf(b_, "tick");
  ASSERT_TRUE(cj.is_object()) << b_.status().dump(2);
  EXPECT_TRUE(cj.value("active", nlohmann::json::array()).empty()) << cj.dump(2);
  EXPECT_FALSE(cj.contains("lastScheduleTimeMs")) << cj.dump(2);

  // Both Jobs of the specs may have run by now (the second minute's too): all go with the files.
  b_.removeSpec("tick.yaml");
  b_.removeSpec("jobs.yaml");
  EXPECT_TRUE(b_.waitGone(pod, 30000)) << b_.status().dump(2);
  EXPECT_TRUE(waitFor(
      [&] {
        nlohmann::json st = b_.status();
        return st.value("jobs", nlohmann::json::array()).empty() &&
               st.value("pods", nlohmann::json::array()).empty();
      },
      30000))
      << b_.status().dump(2);
  b_.stop();
  EXPECT_TRUE(b_.leftovers().empty()) << ::testing::PrintToString(b_.leftovers());
}

// The mirror case: a Job of the specs added with the name of a Job the CronJob made before. That
// Job keeps its name and runs on, as Kubernetes refuses the second create (AlreadyExists); the
// file is told, where boxctl shows spec errors, until the CronJob's Job is gone; then the Job of
// the specs runs as they say.
TEST_F(CronJobsTest, AJobOfTheSpecsNamedAsAMadeJobWaitsForIt) {
  std::string tick = kCronJob;  // its first Job kept for the whole test
  const std::string limit = "successfulJobsHistoryLimit: 1";
  tick.replace(tick.find(limit), limit.size(), "successfulJobsHistoryLimit: 3");
  b_.writeSpec("tick.yaml", tick);
  nlohmann::json made;
  ASSERT_TRUE(waitFor(
      [&] {
        auto jobs = jobsOf(b_, "tick");
        if (jobs.empty() || !jobs[0].contains("condition")) return false;
        made = jobs[0];
        return made["condition"].value("type", "") == "Complete";
      },
      80000))
      << b_.status().dump(2) << b_.log();
  const std::string name = made.value("name", "");
  ASSERT_EQ(made["pods"].size(), 1u) << made.dump(2);
  const std::string cronPod = made["pods"][0];

  b_.writeSpec("jobs.yaml", specsJob(name));
  const std::string told = "jobs.yaml: metadata.name: Job \"" + name +
                           "\" already exists (created by CronJob \"tick\"): its declaration "
                           "in jobs.yaml is not run until that Job is gone";
  ASSERT_TRUE(waitFor(
      [&] { return b_.boxctl({"status"}).out.find("  " + told + "\n") != std::string::npos; },
      10000))
      << b_.boxctl({"status"}).out << b_.log();
  // The CronJob's Job is the one of that name, as it was: same run, same pod, nothing else run.
  nlohmann::json job = jobNamed(b_, name);
  EXPECT_EQ(job.value("uid", ""), made.value("uid", "x")) << job.dump(2);
  EXPECT_EQ(job["annotations"].value("boxd.io/owner", ""), "CronJob/tick") << job.dump(2);
  EXPECT_EQ(job["pods"], made["pods"]) << job.dump(2);
  EXPECT_EQ(b_.boxctl({"logs", cronPod}).out, "tick\n");
  CmdResult d = b_.boxctl({"describe", "job/" + name});
  EXPECT_NE(d.out.find("AlreadyExists"), std::string::npos) << d.out;
  // `boxctl plan` of the specs says it too, as an error of the file (exit 1).
  CmdResult plan = b_.boxctl({"plan"});
  EXPECT_EQ(plan.code, 1) << plan.out;
  EXPECT_NE(plan.out.find("error: " + told), std::string::npos) << plan.out;
  EXPECT_EQ(countIn(d.out, told), 1u) << d.out;
  ::usleep(2 * 1000 * 1000);  // later passes keep it so, and say it no more
  EXPECT_EQ(jobNamed(b_, name).value("uid", ""), made.value("uid", "x"));
  EXPECT_EQ(countIn(b_.boxctl({"status"}).out, told), 1u);
  EXPECT_EQ(countIn(b_.boxctl({"describe", "job/" + name}).out, told), 1u);

  // The CronJob goes with its Jobs: the Job of the specs runs, and the file is no longer told.
  b_.removeSpec("tick.yaml");
  EXPECT_TRUE(b_.waitGone(cronPod, 30000)) << b_.status().dump(2);
  ASSERT_TRUE(waitFor(
      [&] {
        job = jobNamed(b_, name);
        return !job.is_null() && job.value("sourceFile", "") == "jobs.yaml" &&
               job.contains("condition");
      },
      60000))
      << b_.status().dump(2) << b_.log();
  EXPECT_FALSE(job.contains("annotations")) << job.dump(2);
  EXPECT_NE(job.value("uid", ""), made.value("uid", ""));
  EXPECT_EQ(job["condition"].value("type", ""), "Complete") << job.dump(2);
  ASSERT_EQ(job["pods"].size(), 1u) << job.dump(2);
  const std::string pod = job["pods"][0];
  EXPECT_EQ(b_.boxctl({"logs", pod}).out, "mine\n");
  EXPECT_TRUE(b_.status().value("specErrors", nlohmann::json::array()).empty())
      << b_.status().dump(2);

  b_.removeSpec("jobs.yaml");
  EXPECT_TRUE(b_.waitGone(pod, 30000)) << b_.status().dump(2);
  EXPECT_TRUE(
      waitFor([&] { return b_.status().value("jobs", nlohmann::json::array()).empty(); }, 30000))
      << b_.status().dump(2);
  b_.stop();
  EXPECT_TRUE(b_.leftovers().empty()) << ::testing::PrintToString(b_.leftovers());
}

}  // namespace
}  // namespace boxd::testing
