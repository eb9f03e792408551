// RealCommandRunner against real short-lived processes (sh, cat, sleep): exit codes, stdin,
// clean environment, no inherited fds, own process group, output caps, and the deadline killing
// the whole group. No root needed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/block/command_runner.h"

namespace boxd::reconcilers {
namespace {

CommandResult mustRun(const std::vector<std::string>& argv, int64_t timeoutMs = 10000,
                      const std::string& input = "") {
  RealCommandRunner runner;
  auto r = runner.run(argv, timeoutMs, input);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : CommandResult{};
}

// Waits (bounded) until pid is gone or a zombie; PID 1 may reap orphans late.
bool goneWithin(pid_t pid, int64_t ms) {
  int64_t until = monotonicMs() + ms;
  while (monotonicMs() < until) {
    if (!processAlive(pid)) return true;
    ::usleep(10000);
  }
  return !processAlive(pid);
}

TEST(CommandRunner, ReportsExitCodesAndOutput) {
  auto r = mustRun({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exitCode, 3);
  EXPECT_FALSE(r.timedOut);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(mustRun({"true"}).exitCode, 0);
}

TEST(CommandRunner, SignalDeathIs128PlusSignal) {
  auto r = mustRun({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.exitCode, 128 + SIGTERM);
  EXPECT_FALSE(r.timedOut);
}

TEST(CommandRunner, FeedsInputOnStdin) {
  EXPECT_EQ(mustRun({"cat"}, 10000, "secret-on-stdin\n").out, "secret-on-stdin\n");
  std::string big(200 * 1024, 'x');  // more than a default pipe holds
  EXPECT_EQ(trim(mustRun({"wc", "-c"}, 10000, big).out), std::to_string(big.size()));
  EXPECT_EQ(mustRun({"cat"}).out, "");  // no input: EOF at once
}

TEST(CommandRunner, RefusesInputAboveOneMiB) {
  RealCommandRunner runner;
  auto r = runner.run({"cat"}, 10000, std::string(1024 * 1024 + 1, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, E2BIG);
}

TEST(CommandRunner, CleanEnvironment) {
  ::setenv("BOXD_TEST_LEAK", "must-not-pass", 1);
  auto r = mustRun({"env"});
  ::unsetenv("BOXD_TEST_LEAK");
  EXPECT_EQ(r.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLC_ALL=C\n");
}

TEST(CommandRunner, NoInheritedDescriptors) {
  // An fd without O_CLOEXEC, as a careless library would leave one.
  Fd leak(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(leak);
  ASSERT_EQ(::dup2(leak.get(), 57), 57);
  Fd high(57);
  auto r = mustRun({"sh", "-c", "ls /proc/$$/fd; true"});
  auto fds = split(trim(r.out), '\n');
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2"})) << r.out;
}

TEST(CommandRunner, ChildLeadsItsOwnProcessGroup) {
  auto r = mustRun({"sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"});
  auto lines = split(trim(r.out), '\n');
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], lines[1]);
  EXPECT_NE(lines[1], std::to_string(::getpgrp()));
}

TEST(CommandRunner, DeadlineKillsTheChildAndItsChildren) {
  int64_t start = monotonicMs();
  auto r = mustRun({"sh", "-c", "sleep 100 & echo $!; sleep 100"}, 500);
  int64_t took = monotonicMs() - start;
  EXPECT_TRUE(r.timedOut);
  EXPECT_EQ(r.exitCode, 128 + SIGKILL);
  EXPECT_LT(took, 5000);
  auto grandchild = trim(r.out);
  ASSERT_FALSE(grandchild.empty());
  EXPECT_TRUE(goneWithin(static_cast<pid_t>(std::stoi(grandchild)), 5000))
      << "the background sleep survived the deadline";
}

TEST(CommandRunner, ReturnsWhenTheChildExitsEvenIfAGrandchildHoldsTheOutput) {
  // The background sleep keeps stdout open; the runner must not wait for its EOF.
  int64_t start = monotonicMs();
  auto r = mustRun({"sh", "-c", "sleep 3 & echo $!; exit 0"}, 20000);
  EXPECT_LT(monotonicMs() - start, 2500);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_FALSE(r.timedOut);
  auto pid = trim(r.out);
  if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);  // ours: started by this test
}

TEST(CommandRunner, CapsEachStreamAt64KiB) {
  auto r = mustRun({"sh", "-c", "head -c 300000 /dev/zero; head -c 100000 /dev/zero >&2; exit 4"});
  EXPECT_EQ(r.exitCode, 4);  // not blocked on a full pipe
  EXPECT_EQ(r.out.size(), 65536u);
  EXPECT_EQ(r.err.size(), 65536u);
}

TEST(CommandRunner, UnknownProgramIsAStartError) {
  RealCommandRunner runner;
  auto r = runner.run({"boxd-no-such-tool-" + randomHex(4)}, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find("not found in /usr/sbin:/usr/bin:/sbin:/bin"),
            std::string::npos);
  EXPECT_FALSE(runner.run({"/nonexistent/" + randomHex(4)}, 1000).ok());
}

TEST(CommandRunner, DescribeFailure) {
  CommandResult r;
  r.exitCode = 15;
  r.err = "\niscsiadm: session exists\nmore\n";
  EXPECT_EQ(describeFailure({"iscsiadm", "-m", "node"}, r),
            "iscsiadm -m node: exit 15: iscsiadm: session exists");
  CommandResult quiet;
  quiet.exitCode = 1;
  quiet.out = "only stdout\n";
  EXPECT_EQ(describeFailure({"x"}, quiet), "x: exit 1: only stdout");
  CommandResult slow;
  slow.timedOut = true;
  slow.exitCode = 137;
  EXPECT_EQ(describeFailure({"sleep", "100"}, slow), "sleep 100: timed out (killed)");
}

}  // namespace
}  // namespace boxd::reconcilers
