// boxctl logs end to end: rotated files shown in order, --previous after a restart, and logs
// that keep flowing while boxd itself is restarted (the shim owns the pipes).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  void start() {
    b_.start();
    b_.importBusybox();
  }
  std::string logDir(const std::string& pod) {
    return b_.stateDir() + "/pods/" + b_.pod(pod)["uid"].get<std::string>() + "/logs";
  }
  Boxd b_;
};

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A container that counts its runs in an emptyDir, prints "run N" and exits; the third run
// stays up. A second one never restarts.
constexpr const char* kCounterPod = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 1
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: counter
    image: busybox
    command: [sh, -c, 'n=$(( $(cat /s/n 2>/dev/null || echo 0) + 1 )); echo $n > /s/n; echo run $n; if [ $n -ge 3 ]; then exec sleep 1000; fi']
    volumeMounts: [{name: state, mountPath: /s}]
  - name: steady
    image: busybox
    command: [sh, -c, 'echo steady; trap "exit 0" TERM; while true; do sleep 1 & wait; done']
)";

TEST_F(LogsTest, PreviousShowsTheRunBeforeTheLastRestart) {
  start();
  b_.writeSpec("p.yaml", kCounterPod);
  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"logs", "p", "-c", "counter"}).out == "run 3\n";
      },
      20000))
      << b_.boxctl({"logs", "p", "-c", "counter"}).out << b_.status().dump(2);
  EXPECT_GE(b_.pod("p")["containers"][0]["restarts"].get<int>(), 2);
  CmdResult prev = b_.boxctl({"logs", "p", "-c", "counter", "--previous"});
  EXPECT_EQ(prev.code, 0) << prev.out;
  EXPECT_EQ(prev.out, "run 2\n");
  EXPECT_EQ(b_.boxctl({"logs", "p", "-c", "counter", "-p"}).out, "run 2\n");

  CmdResult never = b_.boxctl({"logs", "p", "-c", "steady", "--previous"});
  EXPECT_NE(never.code, 0);
  EXPECT_EQ(never.out, "boxctl: container steady has not been restarted\n");
  CmdResult both = b_.boxctl({"logs", "p", "-c", "counter", "-f", "--previous"});
  EXPECT_NE(both.code, 0);
  EXPECT_NE(both.out.find("-f and --previous cannot be combined"), std::string::npos) << both.out;
  EXPECT_EQ(b_.boxctl({"logs", "p", "-c", "steady"}).out, "steady\n");
}

TEST_F(LogsTest, RotatedFilesAreShownInOrderWithinTheBound) {
  b_.addConfig("logMaxBytes: 64Ki\nlogMaxFiles: 3\n");
  start();
  b_.writeSpec("r.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: r}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: [seq, '1', '100000']}
)");
  ASSERT_TRUE(b_.waitPhase("r", "Succeeded", 20000)) << b_.status().dump(2);
  std::string dir = logDir("r");
  EXPECT_TRUE(exists(dir + "/c.log.1"));
  EXPECT_TRUE(exists(dir + "/c.log.2"));
  EXPECT_FALSE(exists(dir + "/c.log.3")) << "logMaxFiles: 3 keeps three files";
  CmdResult logs = b_.boxctl({"logs", "r"});
  ASSERT_EQ(logs.code, 0) << logs.out.substr(0, 200);
  // Three files of 64 KiB, each allowed to finish a line begun before the bound (7 bytes).
  EXPECT_LE(logs.out.size(), 3u * (65536 + 7));
  EXPECT_GT(logs.out.size(), 2u * 65536);
  auto lines = split(trim(logs.out), '\n');
  ASSERT_GT(lines.size(), 1000u);
  EXPECT_EQ(lines.back(), "100000");
  int first = std::stoi(lines.front());
  EXPECT_GT(first, 1) << "the oldest output was dropped";
  size_t gaps = 0;
  for (size_t i = 0; i < lines.size(); ++i)
    gaps += lines[i] != std::to_string(first + static_cast<int>(i));
  EXPECT_EQ(gaps, 0u) << "whole lines, in order, without a gap";
}

TEST_F(LogsTest, OutputKeepsFlowingWhileBoxdIsDownAndAfterItComesBack) {
  start();
  b_.writeSpec("t.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: t}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "exit 0" TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1 & wait; done']
)");
  ASSERT_TRUE(b_.waitContainersRunning("t")) << b_.status().dump(2);
  std::string log = logDir("t") + "/c.log";
  int pid = b_.pod("t")["containers"][0]["pid"];
  b_.kill9();
  auto size = [&] {
    struct stat st {};
    return ::stat(log.c_str(), &st) == 0 ? st.st_size : -1;
  };
  off_t before = size();
  EXPECT_TRUE(waitFor([&] { return size() > before + 20; }, 5000))
      << "the shim keeps writing the log without boxd";
  b_.start();
  ASSERT_TRUE(waitFor([&] { return b_.pod("t")["phase"] == "Running"; }, 10000));
  EXPECT_EQ(b_.pod("t")["containers"][0]["pid"], pid) << "re-adopted, not restarted";
  std::string first = b_.boxctl({"logs", "t"}).out;
  ASSERT_TRUE(waitFor([&] { return b_.boxctl({"logs", "t"}).out.size() > first.size(); }, 5000));
  auto lines = split(trim(b_.boxctl({"logs", "t"}).out), '\n');
  ASSERT_GT(lines.size(), 2u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i], "tick " + std::to_string(i + 1));
  EXPECT_EQ(b_.boxctl({"logs", "t", "--previous"}).out,
            "boxctl: container c has not been restarted\n");
}

// A start that fails (exec of a missing binary) is a run whose output is the error: logs shows
// it, and --previous shows the failed run before the last one.
TEST_F(LogsTest, AFailedStartIsARunWithItsErrorAsOutput) {
  b_.addConfig("restartBackoffSeconds: 0.3\n");
  start();
  b_.writeSpec("bad.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: [/no/such/binary]}
)");
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b_.pod("bad");
        return p.is_object() && p.contains("containers") && !p["containers"].empty() &&
               p["containers"][0].value("restarts", 0) >= 2;
      },
      20000))
      << b_.status().dump(2);
  // The current run may be a start just under way (its output not written yet): every failed
  // start writes its error as its output, so the current run shows it within a backoff.
  CmdResult now;
  EXPECT_TRUE(waitFor(
      [&] {
        now = b_.boxctl({"logs", "bad"});
        return now.out.find("boxd: the container did not start: ") != std::string::npos;
      },
      10000))
      << now.out;
  EXPECT_NE(now.out.find("/no/such/binary"), std::string::npos) << now.out;
  CmdResult prev = b_.boxctl({"logs", "bad", "--previous"});
  EXPECT_EQ(prev.code, 0) << prev.out;
  EXPECT_NE(prev.out.find("boxd: the container did not start: "), std::string::npos) << prev.out;
}

}  // namespace
}  // namespace boxd::testing
