// Rollback and crash recovery: fail or kill boxd at every step of a pod's creation and prove
// that nothing is left behind and that running pods survive a boxd restart untouched.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  // Starts boxd with the busybox image and a running two-container pod "web"; returns its uid.
  static std::string runWeb(Boxd& b) {
    b.start();
    b.importBusybox();
    b.writeSpec("web.yaml", twoContainerPod("web"));
    EXPECT_TRUE(b.waitPhase("web", "Running")) << b.status().dump(2);
    return b.pod("web").value("uid", "");
  }
  // The number of steps in web's plan (poddir, pod cgroup, netns, veth, pod files, then per
  // container cgroup and rootfs, then the shim), read from the Created event
  // of a real run, so these tests cover every step as the plan grows.
  static int planSteps() {
    static const int n = [] {
      Boxd b;
      runWeb(b);
      std::string ev = b.boxctl({"events", "web"}).out;
      size_t at = ev.find("pod sandbox ready (");
      return at == std::string::npos ? 0 : std::atoi(ev.c_str() + at + 19);
    }();
    return n;
  }
};

TEST_F(RecoveryTest, RunningPodsSurviveKill9AndAreReadopted) {
  Boxd b;
  b.start();
  b.importBusybox();
  b.writeSpec("web.yaml", twoContainerPod("web"));
  b.writeSpec("gone.yaml", twoContainerPod("gone"));
  ASSERT_TRUE(b.waitPhase("web", "Running"));
  ASSERT_TRUE(b.waitPhase("gone", "Running"));
  ASSERT_TRUE(waitFor([&] { return b.pod("web")["ready"] == "2/2"; }, 5000));
  auto before = b.pod("web");
  int pidA = before["containers"][0]["pid"];
  ASSERT_GT(pidA, 0);
  ASSERT_EQ(before["containers"][0]["restarts"], 0)
      << "restarted before boxd was killed:\n"
      << b.boxctl({"events", "web"}).out << b.boxctl({"logs", "web", "-c", "a"}).out;

  b.kill9();
  b.removeSpec("gone.yaml");  // removed while boxd is down
  EXPECT_TRUE(processAlive(pidA)) << "containers must outlive boxd";
  b.start();
  ASSERT_TRUE(waitFor([&] { return b.pod("web")["ready"] == "2/2"; }, 2000)) << b.status().dump(2);
  auto after = b.pod("web");
  EXPECT_EQ(after["uid"], before["uid"]);
  EXPECT_EQ(after["containers"][0]["pid"], pidA) << "same process, not restarted";
  EXPECT_EQ(after["containers"][0]["restarts"], 0) << b.boxctl({"events", "web"}).out;
  EXPECT_TRUE(b.waitGone("gone", 5000)) << b.status().dump(2);

  // The re-adopted shim still reports exits: kill a container behind boxd's back.
  ::kill(pidA, SIGKILL);
  EXPECT_TRUE(
      waitFor([&] { return b.pod("web")["containers"][0]["restarts"].get<int>() >= 1; }, 5000))
      << b.status().dump(2);
}

TEST_F(RecoveryTest, AfterARebootNothingRecordedIsAssumedToExist) {
  Boxd b;
  std::string uid = runWeb(b);
  ASSERT_FALSE(uid.empty());
  b.stop();
  // What a reboot looks like to boxd: another boot id than the one recorded.
  auto r = run({"/usr/bin/sqlite3", b.stateDir() + "/boxd.db",
                "UPDATE meta SET value='old-boot' WHERE key='bootId'"});
  ASSERT_EQ(r.code, 0) << r.out;
  b.start();
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b.pod("web");
        return !p.is_null() && p["uid"] != uid && p["ready"] == "2/2";
      },
      10000))
      << b.status().dump(2) << b.log();
  EXPECT_NE(b.log().find("host rebooted"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(b.stateDir() + "/pods/" + uid))
      << "the old incarnation was undone";
}

TEST_F(RecoveryTest, KilledShimIsRepaired) {
  Boxd b;
  std::string uid = runWeb(b);
  ASSERT_FALSE(uid.empty());
  auto pidFile = readFile(b.runDir() + "/shims/" + uid + ".pid");
  ASSERT_TRUE(pidFile.ok());
  ::kill(std::atoi(pidFile->c_str()), SIGKILL);
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b.pod("web");
        return !p.is_null() && p["uid"] != uid && p["phase"] == "Running";
      },
      10000))
      << b.status().dump(2);
}

TEST_F(RecoveryTest, UnmountedRootfsIsRepairedOnResync) {
  Boxd b;
  std::string uid = runWeb(b);
  ASSERT_FALSE(uid.empty());
  std::string rootfs = b.stateDir() + "/pods/" + uid + "/containers/a/rootfs";
  ASSERT_EQ(::umount2(rootfs.c_str(), MNT_DETACH), 0) << rootfs;
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b.pod("web");
        return !p.is_null() && p["uid"] != uid && p["ready"] == "2/2";
      },
      10000))
      << b.status().dump(2);
  EXPECT_NE(b.boxctl({"events", "web"}).out.find("DriftDetected"), std::string::npos);
}

TEST_F(RecoveryTest, FailureAtEveryStepRollsBackCompletely) {
  const int steps = planSteps();
  ASSERT_GE(steps, 7);
  for (int n = 1; n <= steps; ++n) {
    SCOPED_TRACE("failing step " + std::to_string(n));
    Boxd b;
    b.start({{"BOXD_FAULT_FAIL_STEP", std::to_string(n)}});
    b.importBusybox();
    b.writeSpec("web.yaml", twoContainerPod("web"));
    ASSERT_TRUE(waitFor([&] { return b.pod("web")["reason"] == "CreateFailed"; }, 10000))
        << b.status().dump(2);
    auto p = b.pod("web");
    EXPECT_NE(p["message"].get<std::string>().find("fault injected at step " + std::to_string(n)),
              std::string::npos)
        << p.dump();
    EXPECT_EQ(b.leftovers(), std::vector<std::string>{}) << "after rollback of step " << n;
    auto desc = b.boxctl({"describe", "web"}).out;
    EXPECT_NE(desc.find("FailedCreate"), std::string::npos) << desc;
  }
}

TEST_F(RecoveryTest, CrashAtEveryStepRecoversOnRestart) {
  const int steps = planSteps();
  ASSERT_GE(steps, 7);
  for (int n = 1; n <= steps; ++n) {
    for (const char* when : {"", ":after"}) {
      std::string at = std::to_string(n) + when;
      SCOPED_TRACE("crash at step " + at);
      Boxd b;
      b.start();
      b.importBusybox();
      b.stop();
      b.start({{"BOXD_FAULT_CRASH_STEP", at}});
      b.writeSpec("web.yaml", twoContainerPod("web"));
      ASSERT_TRUE(waitFor([&] { return !b.running(); }, 10000))
          << "boxd did not crash at step " << at;
      b.start();
      ASSERT_TRUE(b.waitPhase("web", "Running", 10000)) << b.status().dump(2) << b.log();
      ASSERT_TRUE(waitFor([&] { return b.pod("web")["ready"] == "2/2"; }, 5000))
          << b.status().dump(2);
      b.removeSpec("web.yaml");
      ASSERT_TRUE(b.waitGone("web")) << b.status().dump(2);
      EXPECT_EQ(b.leftovers(), std::vector<std::string>{});
    }
  }
}

}  // namespace
}  // namespace boxd::testing
