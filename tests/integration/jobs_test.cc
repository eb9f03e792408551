// batch/v1 Jobs on a real boxd (docs/workloads.md#jobs): a Job of 3 completions, 2 at a time,
// completes with 3 Succeeded pods kept; failing Jobs stop at their backoffLimit (Never: failed
// pods, spaced by the backoff; OnFailure: container restarts); activeDeadlineSeconds removes the
// running pod; a restart of boxd in mid-Job resumes it without running anything again; a changed
// Job is a new run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

std::string job(const std::string& name, const std::string& spec, const std::string& policy,
                const std::string& script) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name + "}\nspec:\n" + spec +
         "  template:\n"
         "    spec:\n"
         "      restartPolicy: " +
         policy +
         "\n"
         "      terminationGracePeriodSeconds: 1\n"
         "      containers:\n"
         "      - name: work\n"
         "        image: busybox\n"
         "        command: [sh, -c, '" +
         script + "']\n";
}

nlohmann::json jobOf(Boxd& b, const std::string& name) {
  nlohmann::json st = b.status();
  for (const auto& j : st.value("jobs", nlohmann::json::array())) {
    if (j.value("name", "") == name) return j;
  }
  return nullptr;
}

std::string conditionOf(Boxd& b, const std::string& name) {
  nlohmann::json j = jobOf(b, name);
  if (j.is_null() || !j.contains("condition")) return "";
  return j["condition"].value("type", "") + "/" + j["condition"].value("reason", "");
}

struct JobPods {
  std::map<std::string, std::string> phase;  // name -> phase
  std::map<std::string, int64_t> created;    // name -> createdAtMs
  int restarts = 0;
  int ready = 0;  // Running with its container running
  size_t count(const std::string& p) const {
    return static_cast<size_t>(
        std::count_if(phase.begin(), phase.end(), [&](const auto& e) { return e.second == p; }));
  }
};

JobPods podsOf(Boxd& b, const std::string& job) {
  JobPods out;
  nlohmann::json st = b.status();
  for (const auto& p : st["pods"]) {
    if (p.value("owner", "") != "Job/" + job) continue;
    out.phase[p["name"]] = p.value("phase", "");
    out.created[p["name"]] = p.value("createdAtMs", int64_t{0});
    out.restarts += p.value("restarts", 0);
    if (p.value("phase", "") == "Running" && p.value("ready", "") == "1/1") out.ready++;
  }
  return out;
}

size_t countIn(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.addConfig("jobBackoffSeconds: 0.3\n");
    b_.start();
    b_.importBusybox();
  }
  Boxd b_;
};

TEST_F(JobsTest, CompletionsWithParallelismThenAChangedJobRunsAgain) {
  b_.writeSpec("pi.yaml",
               job("pi", "  completions: 3\n  parallelism: 2\n", "Never", "sleep 1; echo done"));
  size_t mostActive = 0;
  bool complete = waitFor(
      [&] {
        JobPods p = podsOf(b_, "pi");
        mostActive = std::max(mostActive, p.phase.size() - p.count("Succeeded"));
        return conditionOf(b_, "pi") == "Complete/CompletionsReached";
      },
      60000);
  ASSERT_TRUE(complete) << b_.status().dump(2);
  EXPECT_LE(mostActive, 2u) << "parallelism 2";
  JobPods p = podsOf(b_, "pi");
  EXPECT_EQ(p.phase.size(), 3u) << b_.status().dump(2);
  EXPECT_EQ(p.count("Succeeded"), 3u) << "finished pods are kept";
  for (const auto& [name, phase] : p.phase) {
    EXPECT_EQ(name.size(), 8u) << name;  // pi-xxxxx
    EXPECT_EQ(b_.boxctl({"logs", name}).out, "done\n");
  }
  nlohmann::json j = jobOf(b_, "pi");
  EXPECT_EQ(j.value("succeeded", 0), 3);
  EXPECT_EQ(j.value("active", -1), 0);
  EXPECT_EQ(j.value("failed", -1), 0);

  std::string status = b_.boxctl({"status"}).out;
  EXPECT_NE(status.find("JOBS"), std::string::npos) << status;
  EXPECT_NE(status.find("Complete"), std::string::npos) << status;
  EXPECT_NE(status.find("3/3"), std::string::npos) << status;
  CmdResult d = b_.boxctl({"describe", "job/pi"});
  EXPECT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("Pods Statuses:   0 Active / 3 Succeeded / 0 Failed"), std::string::npos)
      << d.out;
  EXPECT_NE(d.out.find("Condition:       Complete (CompletionsReached): Job completed"),
            std::string::npos)
      << d.out;
  std::string events = b_.boxctl({"events", "job/pi"}).out;
  EXPECT_EQ(countIn(events, "SuccessfulCreate"), 3u) << events;
  EXPECT_EQ(countIn(events, "Completed"), 1u) << events;

  // A changed template: the old run's pods go, a new run completes with pods of its own.
  std::set<std::string> old;
  for (const auto& [name, phase] : p.phase) old.insert(name);
  b_.writeSpec("pi.yaml", job("pi", "  completions: 1\n", "Never", "echo again"));
  complete = waitFor(
      [&] {
        JobPods now = podsOf(b_, "pi");
        return now.phase.size() == 1 && !old.count(now.phase.begin()->first) &&
               now.count("Succeeded") == 1 &&
               conditionOf(b_, "pi") == "Complete/CompletionsReached";
      },
      60000);
  ASSERT_TRUE(complete) << b_.status().dump(2);
  EXPECT_NE(b_.boxctl({"events", "job/pi"}).out.find("SpecChanged"), std::string::npos);

  b_.removeSpec("pi.yaml");
  EXPECT_TRUE(
      waitFor([&] { return podsOf(b_, "pi").phase.empty() && jobOf(b_, "pi").is_null(); }, 30000))
      << b_.status().dump(2);
}

TEST_F(JobsTest, FailingJobsStopAtTheirBackoffLimit) {
  b_.writeSpec("fail.yaml", job("fail", "  backoffLimit: 2\n", "Never", "exit 3"));
  b_.writeSpec("crash.yaml", job("crash", "  backoffLimit: 2\n", "OnFailure", "exit 4"));
  ASSERT_TRUE(waitFor(
      [&] {
        return conditionOf(b_, "fail") == "Failed/BackoffLimitExceeded" &&
               conditionOf(b_, "crash") == "Failed/BackoffLimitExceeded";
      },
      90000))
      << b_.status().dump(2);
  // Never: backoffLimit + 1 failed pods, kept, each after a longer backoff (0.3 s, 0.6 s).
  JobPods fail = podsOf(b_, "fail");
  EXPECT_EQ(fail.phase.size(), 3u) << b_.status().dump(2);
  EXPECT_EQ(fail.count("Failed"), 3u);
  std::vector<int64_t> times;
  for (const auto& [name, t] : fail.created) times.push_back(t);
  std::sort(times.begin(), times.end());
  ASSERT_EQ(times.size(), 3u);
  EXPECT_GE(times[1] - times[0], 300) << "the first backoff";
  EXPECT_GE(times[2] - times[1], 600) << "the second backoff, doubled";
  nlohmann::json j = jobOf(b_, "fail");
  EXPECT_EQ(j.value("failed", 0), 3);
  EXPECT_EQ(j["condition"].value("message", ""), "Job has reached the specified backoff limit");
  // OnFailure: the container's restarts count; the pod that ran them is removed, counted failed.
  EXPECT_TRUE(waitFor([&] { return podsOf(b_, "crash").phase.empty(); }, 30000))
      << b_.status().dump(2);
  EXPECT_EQ(jobOf(b_, "crash").value("failed", 0), 1);
  // Nothing more happens to a failed Job.
  ::usleep(1500 * 1000);
  EXPECT_EQ(podsOf(b_, "fail").phase.size(), 3u);
  std::string events = b_.boxctl({"events", "job/fail"}).out;
  EXPECT_EQ(countIn(events, "SuccessfulCreate"), 3u) << events;
  EXPECT_EQ(countIn(events, "BackoffLimitExceeded"), 1u) << events;
}

TEST_F(JobsTest, ActiveDeadlineSecondsKillsTheRunningPod) {
  b_.writeSpec("slow.yaml",
               job("slow", "  activeDeadlineSeconds: 3\n", "Never", "exec sleep 1000"));
  ASSERT_TRUE(waitFor([&] { return podsOf(b_, "slow").count("Running") == 1; }, 30000))
      << b_.status().dump(2);
  ASSERT_TRUE(waitFor([&] { return conditionOf(b_, "slow") == "Failed/DeadlineExceeded"; }, 20000))
      << b_.status().dump(2);
  nlohmann::json j = jobOf(b_, "slow");
  EXPECT_GE(j.value("completionTimeMs", int64_t{0}) - j.value("startTimeMs", int64_t{0}), 3000);
  EXPECT_EQ(j["condition"].value("message", ""), "Job was active longer than specified deadline");
  EXPECT_TRUE(waitFor([&] { return podsOf(b_, "slow").phase.empty(); }, 30000))
      << "the running pod is removed\n"
      << b_.status().dump(2);
  EXPECT_EQ(jobOf(b_, "slow").value("failed", 0), 1);
}

TEST_F(JobsTest, ARestartOfBoxdInMidJobRunsNothingAgain) {
  b_.writeSpec("two.yaml", job("two", "  completions: 2\n", "Never", "sleep 2; echo ok"));
  ASSERT_TRUE(waitFor(
      [&] {
        JobPods p = podsOf(b_, "two");
        return p.count("Succeeded") == 1 && p.phase.size() == 2 && p.ready == 1;
      },
      60000))
      << b_.status().dump(2);
  JobPods before = podsOf(b_, "two");
  b_.stop();
  b_.start();
  ASSERT_TRUE(
      waitFor([&] { return conditionOf(b_, "two") == "Complete/CompletionsReached"; }, 60000))
      << b_.status().dump(2);
  JobPods after = podsOf(b_, "two");
  EXPECT_EQ(after.phase.size(), 2u) << b_.status().dump(2);
  for (const auto& [name, phase] : before.phase) EXPECT_EQ(after.phase.count(name), 1u) << name;
  EXPECT_EQ(after.count("Succeeded"), 2u);

  // Finished, then restarted again: still Complete, nothing created.
  b_.stop();
  b_.start();
  ASSERT_TRUE(waitFor([&] { return !jobOf(b_, "two").is_null(); }, 20000));
  ::usleep(1500 * 1000);
  EXPECT_EQ(conditionOf(b_, "two"), "Complete/CompletionsReached");
  EXPECT_EQ(podsOf(b_, "two").phase, after.phase);
  std::string events = b_.boxctl({"events", "job/two"}).out;
  EXPECT_EQ(countIn(events, "SuccessfulCreate"), 2u) << events;
}

}  // namespace
}  // namespace boxd::testing
