// Init containers end to end: in order, each to exit 0, before the containers; failures retried
// with backoff or failing the pod; the deprecated annotation still works, with a warning.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

using InitTest = BoxdBusyboxTest;

std::string pod(const std::string& name, const std::string& policy, const std::string& init1,
                const std::string& init2) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  restartPolicy: " + policy +
         "\n  terminationGracePeriodSeconds: 1\n  initContainers:\n"
         "  - {name: first, image: busybox, command: [sh, -c, '" +
         init1 +
         "']}\n"
         "  - {name: second, image: busybox, command: [sh, -c, '" +
         init2 +
         "']}\n"
         "  containers:\n"
         "  - {name: main, image: busybox, command: [sh, -c, 'echo main; trap \"exit 0\" TERM; "
         "while true; do "
         "sleep 1 & wait; done']}\n";
}

TEST_F(InitTest, RunInOrderEachToCompletionBeforeTheContainers) {
  b_.writeSpec("p.yaml", pod("p", "Always", "echo one; sleep 1", "echo two"));
  ASSERT_TRUE(waitFor([&] { return b_.pod("p")["reason"] == "Init:0/2"; }, 5000))
      << b_.status().dump(2);
  EXPECT_EQ(b_.pod("p")["containers"][0]["state"], "Waiting");
  EXPECT_NE(b_.boxctl({"status"}).out.find("Init:0/2"), std::string::npos);
  ASSERT_TRUE(b_.waitPhase("p", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(waitFor([&] { return b_.pod("p")["ready"] == "1/1"; }, 5000));
  auto p = b_.pod("p");
  auto first = p["initContainers"][0], second = p["initContainers"][1], main = p["containers"][0];
  EXPECT_EQ(first["state"], "Terminated");
  EXPECT_EQ(first["exitCode"], 0);
  EXPECT_EQ(first["restarts"], 0)
      << "a completed init container is never restarted, even with Always";
  EXPECT_LE(first["finishedAtMs"].get<int64_t>(), second["startedAtMs"].get<int64_t>());
  EXPECT_LE(second["finishedAtMs"].get<int64_t>(), main["startedAtMs"].get<int64_t>());
  EXPECT_NE(b_.boxctl({"logs", "p", "-c", "first"}).out.find("one"), std::string::npos);
  EXPECT_NE(b_.boxctl({"logs", "p", "-c", "second"}).out.find("two"), std::string::npos);
  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"logs", "p"}).out.find("main") != std::string::npos;
      },
      5000))
      << "without -c, logs shows the only container";
  auto desc = b_.boxctl({"describe", "p"}).out;
  EXPECT_NE(desc.find("Init Containers:"), std::string::npos) << desc;
}

TEST_F(InitTest, InstantlyExitingInitContainersAllComplete) {
  // Each exits before its start is acknowledged: the exit must still count, in order.
  std::string spec =
      "apiVersion: v1\nkind: Pod\nmetadata: {name: fast}\nspec:\n  initContainers:\n";
  for (int i = 0; i < 5; ++i)
    spec += "  - {name: i" + std::to_string(i) + ", image: busybox, command: ['true']}\n";
  spec +=
      "  containers:\n  - {name: main, image: busybox, command: [sleep, '3600']}\n"
      "  terminationGracePeriodSeconds: 0\n";
  b_.writeSpec("fast.yaml", spec);
  ASSERT_TRUE(waitFor([&] { return b_.pod("fast")["ready"] == "1/1"; }, 10000))
      << b_.status().dump(2);
  ASSERT_TRUE(b_.waitPhase("fast", "Running", 5000)) << b_.status().dump(2);
  for (const auto& c : b_.pod("fast")["initContainers"]) {
    EXPECT_EQ(c["state"], "Terminated") << c.dump();
    EXPECT_EQ(c["restarts"], 0) << c.dump();
  }
}

TEST_F(InitTest, FailingInitIsRetriedWithBackoffAndHoldsTheContainers) {
  b_.writeSpec("p.yaml", pod("p", "OnFailure", "echo trying; exit 3", "true"));
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b_.pod("p");  // null until boxd has read the spec
        return !p.is_null() && p["initContainers"][0].value("restarts", 0) >= 2;
      },
      10000))
      << b_.status().dump(2);
  auto p = b_.pod("p");
  EXPECT_EQ(p["phase"], "Pending");
  // Held at its first init container: failed, backing off, or in its next attempt (Init:0/2).
  EXPECT_TRUE(p["reason"] == "Init:Error" || p["reason"] == "Init:CrashLoopBackOff" ||
              p["reason"] == "Init:0/2")
      << p.dump();
  EXPECT_EQ(p["initContainers"][1]["state"], "Waiting") << "the next init container waits";
  EXPECT_EQ(p["containers"][0]["state"], "Waiting");
  // The failed runs' output stays readable. The current run may have just begun (its log still
  // empty), so read the run before it, which has exited and been drained.
  auto previous = b_.boxctl({"logs", "p", "-c", "first", "--previous"});
  EXPECT_NE(previous.out.find("trying"), std::string::npos) << previous.out;
  EXPECT_NE(b_.boxctl({"events", "p"}).out.find("BackOff"), std::string::npos);
}

TEST_F(InitTest, FailingInitWithRestartPolicyNeverFailsThePod) {
  b_.writeSpec("p.yaml", pod("p", "Never", "true", "exit 4"));
  ASSERT_TRUE(b_.waitPhase("p", "Failed")) << b_.status().dump(2);
  auto p = b_.pod("p");
  EXPECT_EQ(p["reason"], "Init:Error");
  EXPECT_EQ(p["initContainers"][1]["exitCode"], 4);
  EXPECT_EQ(p["containers"][0]["state"], "Waiting") << "the containers never started";
  EXPECT_NE(b_.boxctl({"status"}).out.find("Init:Error"), std::string::npos);
}

TEST_F(InitTest, DeprecatedAnnotationStillWorksWithAWarning) {
  b_.writeSpec(
      "p.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
      "    pod.beta.kubernetes.io/init-containers: '[{\"name\": \"old\", \"image\": \"busybox\", "
      "\"command\": [\"sh\", \"-c\", \"echo legacy\"]}]'\n"
      "spec:\n  containers:\n  - {name: main, image: busybox, command: [sleep, '3600']}\n"
      "  terminationGracePeriodSeconds: 0\n");
  ASSERT_TRUE(b_.waitPhase("p", "Running")) << b_.status().dump(2);
  EXPECT_EQ(b_.pod("p")["initContainers"][0]["exitCode"], 0);
  EXPECT_NE(b_.boxctl({"logs", "p", "-c", "old"}).out.find("legacy"), std::string::npos);
  auto ev = b_.boxctl({"events", "p"}).out;
  EXPECT_NE(ev.find("Deprecated"), std::string::npos) << ev;
}

}  // namespace
}  // namespace boxd::testing
