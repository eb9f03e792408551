// iSCSI volumes end to end against a real target (tgtd, one per test): a blank LUN formatted
// and its data kept across pods, xfs, readOnly, two pods on two LUNs sharing one session and
// the logout after the last, CHAP and target errors as pod reasons, the same LUN refused twice
// read-write, a killed helper, and kill -9 of boxd at every attach and detach step. fsGroup on
// the first: the LUN's files walked for the first pod, the walk skipped (OnRootMismatch) for
// the second.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "common/util.h"
#include "tests/fixtures/tgt_target.h"
#include "tests/integration/crash_cycles.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

constexpr const char* kIqn = "iqn.2026-11.io.boxd:store";
constexpr const char* kUser = "boxd-store";
constexpr const char* kPassword = "chap-secret-4711";

std::string chapSecret(const std::string& password = kPassword, const std::string& name = "chap") {
  return std::string("apiVersion: v1\nkind: Secret\nmetadata: {name: ") + name + "}\n" +
         std::string(
             "type: kubernetes.io/iscsi-chap\nstringData:\n"
             "  node.session.auth.username: ") +
         kUser + "\n  node.session.auth.password: " + password + "\n---\n";
}

struct PodOpts {
  int lun = 1;
  std::string fsType = "ext4";
  bool readOnly = false;
  std::string portals;  // extra portals, YAML list items
  std::string secret = "chap";
  std::string securityContext;  // YAML flow, "" = none
  std::string command =
      "echo $(cat /data/marker 2>/dev/null) > /dev/null; trap 'exit 0' TERM; "
      "while true; do sleep 1 & wait; done";
};

std::string iscsiPod(const std::string& name, const std::string& portal, const PodOpts& o) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n" +
         (o.securityContext.empty() ? "" : "  securityContext: " + o.securityContext + "\n") +
         "  containers:\n  - name: app\n"
         "    image: busybox\n    command: [sh, -c, \"" +
         o.command +
         "\"]\n    volumeMounts: [{name: data, mountPath: /data}]\n  volumes:\n  - name: data\n"
         "    iscsi:\n      targetPortal: " +
         portal + "\n" + (o.portals.empty() ? "" : "      portals: [" + o.portals + "]\n") +
         "      iqn: " + kIqn + "\n      lun: " + std::to_string(o.lun) +
         "\n      fsType: " + o.fsType + "\n      readOnly: " + (o.readOnly ? "true" : "false") +
         "\n      chapAuthSession: true\n      secretRef: {name: " + o.secret + "}\n";
}

class IscsiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_TRUE(tgt_.start().ok()) << tgt_.log();
    ASSERT_TRUE(tgt_.addTarget(1, kIqn).ok());
    ASSERT_TRUE(tgt_.addLun(1, 1, 64 << 20).ok());
    ASSERT_TRUE(tgt_.addLun(1, 2, 64 << 20).ok());
    ASSERT_TRUE(tgt_.addAccount(kUser, kPassword).ok());
    ASSERT_TRUE(tgt_.bindAccount(1, kUser).ok());
    b_.addConfig("block: {connectTimeoutSeconds: 3, ioTimeoutSeconds: 5}\n");
    b_.start();
    b_.importBusybox();
  }
  void TearDown() override {
    if (::geteuid() != 0) return;
    for (const auto& f : files_) b_.removeSpec(f);
    for (const auto& p : pods_) EXPECT_TRUE(b_.waitGone(p, 30000)) << b_.log();
    EXPECT_TRUE(tgt_.waitSessions(1, 0, 10000)) << "session left logged in";
  }
  // Writes the Secret and the pod in one file (mode 0600: it holds a Secret).
  void apply(const std::string& file, const std::string& pod, const std::string& text) {
    std::string path = b_.specs() + "/" + file;
    ASSERT_TRUE(writeFileAtomic(path, text, 0600).ok());
    files_.push_back(file);
    pods_.push_back(pod);
  }
  std::string exec(const std::string& pod, const std::string& cmd) {
    return b_.boxctl({"exec", pod, "--", "sh", "-c", cmd}, 20000).out;
  }
  bool running(const std::string& pod, int ms = 30000) {
    return waitFor([&] { return b_.pod(pod)["ready"] == "1/1"; }, ms);
  }
  void removePod(const std::string& file, const std::string& pod) {
    b_.removeSpec(file);
    ASSERT_TRUE(b_.waitGone(pod, 30000)) << b_.log();
  }
  std::string reason(const std::string& pod) {
    auto p = b_.pod(pod);
    return p.is_null() ? ""
                       : p["reason"].get<std::string>() + ": " + p["message"].get<std::string>();
  }

  TgtTarget tgt_;
  Boxd b_;
  std::vector<std::string> files_, pods_;
};

TEST_F(IscsiTest, BlankLunIsFormattedAndItsDataOutlivesThePod) {
  PodOpts first;
  first.securityContext = "{fsGroup: 2000}";
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), first));
  ASSERT_TRUE(running("a")) << b_.status().dump(2) << b_.log();
  // The fresh filesystem was walked (its root and lost+found): what the container creates gets
  // the group. "other" is taken out of it, for the next pod to show it is not walked again.
  EXPECT_EQ(trim(exec("a",
                      "echo kept-across-pods > /data/marker; touch /data/other; chgrp 0 "
                      "/data/other; sync; stat -c '%g %a' /data /data/marker /data/other")),
            "2000 2775\n2000 644\n0 644");
  auto describe = b_.boxctl({"describe", "a"}).out;
  EXPECT_NE(describe.find("group 2000: 2 entries walked"), std::string::npos) << describe;
  EXPECT_NE(describe.find("formatted by boxd"), std::string::npos) << describe;
  EXPECT_NE(describe.find("/dev/loop"), std::string::npos) << describe;
  auto ls = b_.boxctl({"volume", "ls"}).out;
  EXPECT_NE(ls.find(kIqn), std::string::npos) << ls;
  EXPECT_NE(ls.find("a/data(rw)"), std::string::npos) << ls;
  EXPECT_EQ(describe.find(kPassword), std::string::npos) << "the CHAP secret leaked into describe";
  removePod("a.yaml", "a");
  EXPECT_TRUE(tgt_.waitSessions(1, 0, 10000)) << "logged out after the last user";
  EXPECT_TRUE(b_.leftovers().empty()) << b_.leftovers().front();

  PodOpts second;
  second.securityContext = "{fsGroup: 2000, fsGroupChangePolicy: OnRootMismatch}";
  apply("b.yaml", "b", chapSecret() + iscsiPod("b", tgt_.portal(), second));
  ASSERT_TRUE(running("b")) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(trim(exec("b", "cat /data/marker; stat -c %g /data/other")), "kept-across-pods\n0")
      << "OnRootMismatch: the root fits, nothing below it is walked again";
  EXPECT_NE(b_.boxctl({"describe", "b"}).out.find("root already fits, walk skipped"),
            std::string::npos);
  EXPECT_EQ(b_.boxctl({"describe", "b"}).out.find("formatted by boxd"), std::string::npos)
      << "a LUN with a filesystem is never formatted again";
  // Nothing secret in boxd's log, nor on any command line it started.
  EXPECT_EQ(b_.log().find(kPassword), std::string::npos);
  auto ps = run({"ps", "-eo", "args"});
  EXPECT_EQ(ps.out.find(kPassword), std::string::npos);
}

TEST_F(IscsiTest, TwoLunsOfOneTargetShareOneSession) {
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), {}));
  ASSERT_TRUE(running("a")) << b_.log();
  int one = tgt_.sessionCount(1);
  ASSERT_GT(one, 0);
  PodOpts second;
  second.lun = 2;
  apply("b.yaml", "b", chapSecret() + iscsiPod("b", tgt_.portal(), second));
  ASSERT_TRUE(running("b")) << b_.log();
  EXPECT_EQ(tgt_.sessionCount(1), one) << "the second LUN logged in again";
  removePod("a.yaml", "a");
  EXPECT_EQ(tgt_.sessionCount(1), one) << "logged out while pod b still uses the target";
  exec("b", "echo still-here > /data/x && sync");
  EXPECT_EQ(trim(exec("b", "cat /data/x")), "still-here");
  removePod("b.yaml", "b");
  EXPECT_TRUE(tgt_.waitSessions(1, 0, 10000));
  EXPECT_TRUE(b_.leftovers().empty()) << b_.leftovers().front();
}

TEST_F(IscsiTest, XfsAndReadOnly) {
  ASSERT_TRUE(tgt_.addLun(1, 3, 512 << 20).ok());  // mkfs.xfs needs 300 MB
  PodOpts xfs;
  xfs.lun = 3;
  xfs.fsType = "xfs";
  apply("x.yaml", "x", chapSecret() + iscsiPod("x", tgt_.portal(), xfs));
  ASSERT_TRUE(running("x", 60000)) << reason("x") << b_.log();
  EXPECT_NE(exec("x", "grep ' /data ' /proc/mounts"), "");
  EXPECT_NE(exec("x", "grep ' /data ' /proc/mounts").find("xfs"), std::string::npos);
  exec("x", "echo on-xfs > /data/f; sync");
  removePod("x.yaml", "x");

  PodOpts ro = xfs;
  ro.readOnly = true;
  apply("r.yaml", "r", chapSecret() + iscsiPod("r", tgt_.portal(), ro));
  ASSERT_TRUE(running("r", 60000)) << reason("r") << b_.log();
  EXPECT_EQ(trim(exec("r", "cat /data/f")), "on-xfs");
  EXPECT_NE(exec("r", "touch /data/g 2>&1").find("Read-only"), std::string::npos);
}

TEST_F(IscsiTest, ReadOnlyBlankLunIsAnErrorNotAFormat) {
  PodOpts ro;
  ro.readOnly = true;
  apply("r.yaml", "r", chapSecret() + iscsiPod("r", tgt_.portal(), ro));
  ASSERT_TRUE(waitFor([&] { return reason("r").find("blank") != std::string::npos; }, 30000))
      << reason("r") << b_.log();
}

TEST_F(IscsiTest, TheSameLunTwiceReadWriteIsRefused) {
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), {}));
  ASSERT_TRUE(running("a")) << b_.log();
  apply("b.yaml", "b", chapSecret() + iscsiPod("b", tgt_.portal(), {}));
  ASSERT_TRUE(waitFor(
      [&] { return reason("b").find("read-write at most once") != std::string::npos; }, 30000))
      << reason("b");
  EXPECT_EQ(b_.pod("a")["ready"], "1/1") << "the first pod is not disturbed";
}

TEST_F(IscsiTest, ErrorsAreClearPodReasonsAndLeaveNothing) {
  struct Case {
    std::string name, text, expect;
  };
  std::string dead = TgtTarget::deadPortal();
  // Each pod with its own Secret: one name declared in two files is used by neither.
  auto own = [](const std::string& name) {
    PodOpts o;
    o.secret = name;
    return o;
  };
  std::vector<Case> cases = {
      {"wrongpw",
       chapSecret("not-the-password", "wrongpw") +
           iscsiPod("wrongpw", tgt_.portal(), own("wrongpw")),
       "uthentication"},
      {"deadportal",
       chapSecret(kPassword, "deadportal") + iscsiPod("deadportal", dead, own("deadportal")),
       "refused"},
      {"nosecret", iscsiPod("nosecret", tgt_.portal(), own("nosecret")), "secret \"nosecret\""},
  };
  // Wrong IQN: the target's name with a typo.
  std::string wrongIqn =
      chapSecret(kPassword, "wrongiqn") + iscsiPod("wrongiqn", tgt_.portal(), own("wrongiqn"));
  wrongIqn.replace(wrongIqn.find("io.boxd:store"), 13, "io.boxd:stor3");
  cases.push_back({"wrongiqn", wrongIqn, "arget"});
  // An iSCSI interface other than "default" needs the kernel initiator, which this host lacks.
  std::string iface =
      chapSecret(kPassword, "iface") + iscsiPod("iface", tgt_.portal(), own("iface"));
  iface.replace(iface.find("      lun:"), 0, "      iscsiInterface: iface0\n");
  cases.push_back({"iface", iface, "needs the kernel initiator"});
  int64_t t0 = monotonicMs();
  for (const auto& c : cases) apply(c.name + ".yaml", c.name, c.text);
  for (const auto& c : cases) {
    EXPECT_TRUE(waitFor([&] { return reason(c.name).find(c.expect) != std::string::npos; }, 20000))
        << c.name << ": " << reason(c.name) << "\n"
        << b_.boxctl({"describe", c.name}).out;
    EXPECT_EQ(reason(c.name).find(kPassword), std::string::npos);
  }
  EXPECT_LT(monotonicMs() - t0, 20000);
  EXPECT_EQ(tgt_.sessionCount(1), 0);
  // Failed attaches roll back: no helper, loop or mount while they wait for their retry.
  std::vector<std::string> left;
  for (const auto& l : b_.leftovers()) {
    if (!startsWith(l, "cgroup ")) left.push_back(l);  // the pods' own cgroups come and go
  }
  EXPECT_TRUE(left.empty()) << left.front();
}

TEST_F(IscsiTest, OnePortalOfTwoDownStillAttaches) {
  std::string dead = TgtTarget::deadPortal();
  PodOpts o;
  o.portals = tgt_.portal();
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", dead, o));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
}

TEST_F(IscsiTest, AKilledHelperIsAClearErrorAndTeardownCompletes) {
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), {}));
  ASSERT_TRUE(running("a")) << b_.log();
  auto pids = run({"pgrep", "-f", "boxd-blockd .*" + b_.runDir()});
  pid_t helper = std::atoi(trim(pids.out).c_str());
  ASSERT_GT(helper, 0) << pids.out;
  ::kill(helper, SIGKILL);
  EXPECT_NE(
      exec("a", "dd if=/dev/zero of=/data/y bs=4k count=1 conv=fsync 2>/dev/null; echo rc=$?"),
      "rc=0\n")
      << "writes fail once the helper is gone";
  removePod("a.yaml", "a");
  EXPECT_TRUE(waitFor([&] { return b_.leftovers().empty(); }, 15000)) << b_.leftovers().front();
}

TEST_F(IscsiTest, APortalLostMidWriteFailsOver) {
  auto second = tgt_.addPortal();
  ASSERT_TRUE(second.ok()) << second.error().message;
  ASSERT_TRUE(tgt_.addLun(1, 4, 512 << 20).ok());
  PodOpts o;
  o.lun = 4;
  o.portals = *second;
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), o));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  std::string first = tgt_.portal();
  // The write runs while the first portal goes away with its connections.
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    (void)tgt_.deletePortal(first);
    (void)tgt_.dropConnections(1);
  });
  auto out = exec("a", "dd if=/dev/zero of=/data/big bs=1M count=256 conv=fsync 2>&1; echo rc=$?");
  writer.join();
  EXPECT_NE(out.find("rc=0"), std::string::npos)
      << out << run({"sh", "-c", "cat " + b_.runDir() + "/block/*/blockd.log"}).out;
  EXPECT_EQ(trim(exec("a", "wc -c < /data/big")), std::to_string(256 << 20));
}

// A dead target: the writer gets EIO within the I/O bound (5 s here), never a D state that
// lasts, and the pod still tears down completely.
TEST_F(IscsiTest, TargetKilledMidWriteGivesEioWithinTheBoundAndTearsDown) {
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), {}));
  ASSERT_TRUE(running("a")) << b_.log();
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    (void)tgt_.kill9();
  });
  int64_t t0 = monotonicMs();
  auto out = exec("a", "dd if=/dev/zero of=/data/big bs=1M count=400 conv=fsync 2>&1; echo rc=$?");
  int64_t took = monotonicMs() - t0;
  killer.join();
  EXPECT_EQ(out.find("rc=0"), std::string::npos) << "the write cannot succeed: " << out;
  EXPECT_LT(took, 20000) << out;
  removePod("a.yaml", "a");
  EXPECT_TRUE(waitFor([&] { return b_.leftovers().empty(); }, 20000)) << b_.leftovers().front();
  files_.clear();
  pods_.clear();
  ASSERT_TRUE(tgt_.restart().ok());  // for TearDown's session check
}

// kill -9 of boxd at every attach step (before and after its apply) and at every detach step
// (before and after its undo), then a restart: the journal finishes or undoes the half-done
// work; the pod ends Running (or gone), and nothing is left: no helper, loop, mount, session.
TEST_F(IscsiTest, Kill9AtEveryAttachAndDetachStepRecovers) {
  apply("a.yaml", "a", chapSecret() + iscsiPod("a", tgt_.portal(), {}));
  ASSERT_TRUE(running("a")) << b_.log();
  auto steps = b_.planSteps("a", "block");
  ASSERT_EQ(steps.size(), 3u);
  removePod("a.yaml", "a");
  files_.clear();
  pods_.clear();
  b_.stop();
  CrashCycle c;
  c.file = "a.yaml";
  c.pod = "a";
  c.write = [&] {
    ASSERT_TRUE(writeFileAtomic(b_.specs() + "/a.yaml",
                                chapSecret() + iscsiPod("a", tgt_.portal(), {}), 0600)
                    .ok());
  };
  c.running = [&] { return running("a"); };
  c.checkGone = [&] { EXPECT_TRUE(tgt_.waitSessions(1, 0, 10000)); };
  crashAtEveryStep(b_, steps, c);
  b_.start();
}

}  // namespace
}  // namespace boxd::testing
