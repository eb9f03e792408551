// boxctl exec's pure parts: arguments, picking the container, environment, /proc checks.
#include "agent/exec.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>

namespace boxd::agent {
namespace {

using Args = std::vector<std::string>;
using nlohmann::json;

ExecOptions parseOk(const Args& a) {
  auto r = parseExecArgs(a);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : ExecOptions{};
}

std::string parseError(const Args& a) {
  auto r = parseExecArgs(a);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(ExecArgs, PodContainerFlagsAndCommandAfterDashDash) {
  auto o = parseOk({"web", "-c", "a", "-i", "-t", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(o.pod, "web");
  EXPECT_EQ(o.container, "a");
  EXPECT_TRUE(o.stdin);
  EXPECT_TRUE(o.tty);
  EXPECT_EQ(o.argv, (Args{"sh", "-c", "exit 7"}));
}

TEST(ExecArgs, OptionsInAnyOrderAndCombinedFlags) {
  auto o = parseOk({"-it", "--container=b", "web", "--", "ls"});
  EXPECT_EQ(o.pod, "web");
  EXPECT_EQ(o.container, "b");
  EXPECT_TRUE(o.stdin && o.tty);
  auto p = parseOk({"-ti", "web", "ls"});
  EXPECT_TRUE(p.stdin && p.tty);
  auto q = parseOk({"--stdin", "web", "--tty", "--container", "x", "--", "ls"});
  EXPECT_TRUE(q.stdin && q.tty);
  EXPECT_EQ(q.container, "x");
  auto plain = parseOk({"web", "--", "ls"});
  EXPECT_FALSE(plain.stdin || plain.tty);
  EXPECT_EQ(plain.container, "");
}

TEST(ExecArgs, TheFirstWordAfterThePodStartsTheCommand) {
  // Like docker: "-c" after "sh" belongs to sh, not to boxctl.
  auto o = parseOk({"web", "sh", "-c", "echo hi"});
  EXPECT_EQ(o.container, "");
  EXPECT_EQ(o.argv, (Args{"sh", "-c", "echo hi"}));
  // Everything after "--" is the command, even words that look like options.
  auto p = parseOk({"web", "--", "-i", "--", "x"});
  EXPECT_FALSE(p.stdin);
  EXPECT_EQ(p.argv, (Args{"-i", "--", "x"}));
}

TEST(ExecArgs, EnvironmentOverrides) {
  auto o = parseOk({"web", "-e", "A=1", "--env", "B=", "--env=C=x=y", "--", "env"});
  EXPECT_EQ(o.env, (Args{"A=1", "B=", "C=x=y"}));
  EXPECT_NE(parseError({"web", "-e", "NOEQUALS", "--", "env"}).find("-e needs KEY=VALUE"),
            std::string::npos);
  EXPECT_NE(parseError({"web", "-e", "=v", "--", "env"}).find("-e needs KEY=VALUE"),
            std::string::npos);
}

TEST(ExecArgs, ClearErrors) {
  EXPECT_NE(parseError({}).find("no pod given"), std::string::npos);
  EXPECT_NE(parseError({"--", "ls"}).find("no pod given"), std::string::npos);
  EXPECT_NE(parseError({"web"}).find("no command given"), std::string::npos);
  EXPECT_NE(parseError({"web", "--"}).find("no command given"), std::string::npos);
  EXPECT_NE(parseError({"web", "-x", "--", "ls"}).find("unknown option -x"), std::string::npos);
  EXPECT_NE(parseError({"web", "-ix", "--", "ls"}).find("unknown option -ix"), std::string::npos);
  EXPECT_NE(parseError({"web", "-c"}).find("-c needs a container name"), std::string::npos);
  // Every usage error carries the usage line.
  EXPECT_NE(parseError({"web"}).find(kExecUsage), std::string::npos);
}

json describeReply() {
  return json::parse(R"({
    "name": "web",
    "containers": [
      {"name": "a", "state": "Running", "pid": 4242,
       "cgroupProcs": ["/sys/fs/cgroup/memory/boxd/web-1a2b3c4d/a/cgroup.procs",
                       "/sys/fs/cgroup/pids/boxd/web-1a2b3c4d/a/cgroup.procs"]},
      {"name": "b", "state": "Terminated", "pid": 0, "cgroupProcs": []}
    ],
    "initContainers": [
      {"name": "init", "state": "Running", "pid": 77, "cgroupProcs": []}
    ]
  })");
}

ExecOptions forContainer(const std::string& c) {
  ExecOptions o;
  o.pod = "web";
  o.container = c;
  o.argv = {"ls"};
  return o;
}

TEST(ExecTarget, PicksTheNamedRunningContainer) {
  auto t = pickExecTarget(describeReply(), forContainer("a"));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->label, "web/a");
  EXPECT_EQ(t->pid, 4242);
  EXPECT_EQ(t->cgroupProcs.size(), 2u);
  auto init = pickExecTarget(describeReply(), forContainer("init"));
  ASSERT_TRUE(init.ok()) << init.error().message;
  EXPECT_EQ(init->pid, 77);
}

TEST(ExecTarget, TheSameErrorsAsLogs) {
  auto several = pickExecTarget(describeReply(), forContainer(""));
  ASSERT_FALSE(several.ok());
  EXPECT_EQ(several.error().message, "pod web has several containers; choose one with -c (a, b)");
  auto missing = pickExecTarget(describeReply(), forContainer("zz"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "pod web has no container \"zz\" (a, b)");
  auto stopped = pickExecTarget(describeReply(), forContainer("b"));
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().message, "container web/b is not running (state Terminated)");
}

TEST(ExecTarget, TheOnlyContainerNeedsNoName) {
  json d = describeReply();
  d["containers"].erase(1);
  auto t = pickExecTarget(d, forContainer(""));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->label, "web/a");
}

TEST(ExecTarget, AnOlderBoxdWithoutCgroupsIsRefused) {
  json d = describeReply();
  d["containers"][0].erase("cgroupProcs");
  auto t = pickExecTarget(d, forContainer("a"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("did not name the cgroups"), std::string::npos);
}

TEST(ExecEnv, ParsesEnvironAndOverrides) {
  std::string raw("PATH=/bin\0HOME=/root\0WEIRD\0EMPTY=\0", 34);
  auto env = parseEnviron(raw);
  EXPECT_EQ(env, (Args{"PATH=/bin", "HOME=/root", "EMPTY="}));
  EXPECT_EQ(mergeEnv(env, {"HOME=/tmp", "NEW=1"}),
            (Args{"PATH=/bin", "HOME=/tmp", "EMPTY=", "NEW=1"}));
  EXPECT_EQ(parseEnviron(""), Args{});
}

TEST(ExecProc, PidNamespaceInit) {
  EXPECT_TRUE(isPidNamespaceInit("Name:\tsh\nNSpid:\t4242\t1\nNSpgid:\t4242\t1\n"));
  EXPECT_TRUE(isPidNamespaceInit("NSpid:\t9\t4242\t1\n"));
  EXPECT_FALSE(isPidNamespaceInit("NSpid:\t4242\t7\n"));  // a process inside, not its init
  EXPECT_FALSE(isPidNamespaceInit("NSpid:\t1\n"));        // the host's init
  EXPECT_FALSE(isPidNamespaceInit("Name:\tsh\n"));
}

TEST(ExecProc, InCgroupOfTheContainer) {
  std::vector<std::string> v1 = {"/sys/fs/cgroup/memory/boxd/web-1a2b3c4d/a/cgroup.procs"};
  EXPECT_TRUE(inCgroupOf("9:name=systemd:/\n4:memory:/boxd/web-1a2b3c4d/a\n", v1));
  EXPECT_FALSE(inCgroupOf("4:memory:/boxd/web-1a2b3c4d/b\n", v1));
  EXPECT_FALSE(inCgroupOf("4:memory:/\n0::/\n", v1));
  EXPECT_FALSE(inCgroupOf("garbage\n", v1));
  std::vector<std::string> v2 = {"/sys/fs/cgroup/boxd/web-1a2b3c4d/a/cgroup.procs"};
  EXPECT_TRUE(inCgroupOf("0::/boxd/web-1a2b3c4d/a\n", v2));
  EXPECT_FALSE(inCgroupOf("0::/boxd/web-1a2b3c4d\n", v2));  // the pod's cgroup, not the container's
}

TEST(ExecExit, CodesAsAShellReportsThem) {
  EXPECT_EQ(exitCodeFromWaitStatus(7 << 8), 7);
  EXPECT_EQ(exitCodeFromWaitStatus(0), 0);
  EXPECT_EQ(exitCodeFromWaitStatus(SIGKILL), 128 + SIGKILL);
  EXPECT_EQ(exitCodeFromWaitStatus(SIGTERM), 128 + SIGTERM);
  EXPECT_EQ(execFailureExitCode(ENOENT), kExecNotFound);
  EXPECT_EQ(execFailureExitCode(EACCES), kExecCannotRun);
  EXPECT_EQ(execFailureExitCode(ENOEXEC), kExecCannotRun);
}

}  // namespace
}  // namespace boxd::agent
