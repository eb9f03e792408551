// boxd and boxctl end to end, on the real kernel, as an operator uses them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

class BoxdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  std::unique_ptr<Boxd> b_ = std::make_unique<Boxd>();
};

TEST_F(BoxdTest, SpecBecomesRunningPodAndRemovalLeavesNothing) {
  b_->start();
  ASSERT_TRUE(b_->running()) << b_->log();
  b_->importBusybox();
  b_->writeSpec("web.yaml", twoContainerPod("web"));
  ASSERT_TRUE(b_->waitPhase("web", "Running")) << b_->status().dump(2) << b_->log();
  ASSERT_TRUE(waitFor([&] { return b_->pod("web")["ready"] == "2/2"; }, 5000))
      << b_->status().dump(2);

  auto p = b_->pod("web");
  EXPECT_EQ(p["containers"].size(), 2u);
  EXPECT_EQ(p["containers"][0]["state"], "Running");
  EXPECT_EQ(p["containers"][0]["restarts"], 0);
  EXPECT_EQ(p["sourceFile"], "web.yaml");

  auto table = b_->boxctl({"status"});
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("NAME"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("web"), std::string::npos);
  EXPECT_NE(table.out.find("2/2"), std::string::npos);

  auto desc = b_->boxctl({"describe", "web"});
  EXPECT_EQ(desc.code, 0) << desc.out;
  EXPECT_NE(desc.out.find("Source:       web.yaml"), std::string::npos) << desc.out;
  EXPECT_NE(desc.out.find("rootfs"), std::string::npos) << desc.out;
  EXPECT_NE(desc.out.find(b_->cgroupParent()), std::string::npos) << desc.out;
  EXPECT_NE(desc.out.find("Started"), std::string::npos) << desc.out;

  ASSERT_TRUE(waitFor(
      [&] {
        return b_->boxctl({"logs", "web", "-c", "a"}).out.find("hello from a") != std::string::npos;
      },
      5000));
  auto noC = b_->boxctl({"logs", "web"});
  EXPECT_NE(noC.code, 0);
  EXPECT_NE(noC.out.find("choose one with -c (a, b)"), std::string::npos) << noC.out;

  // The container's cgroup carries its memory limit (32Mi; v1 layout on this machine).
  auto limit = readFile("/sys/fs/cgroup/memory/" + b_->cgroupParent() + "/web-" +
                        p["uid"].get<std::string>().substr(0, 8) + "/a/memory.limit_in_bytes");
  ASSERT_TRUE(limit.ok()) << limit.error().message;
  EXPECT_EQ(trim(*limit), std::to_string(32 * 1024 * 1024));
  b_->removeSpec("web.yaml");
  ASSERT_TRUE(b_->waitGone("web")) << b_->status().dump(2);
  EXPECT_EQ(b_->leftovers(), std::vector<std::string>{});
}

TEST_F(BoxdTest, MissingImageWaitsThenStartsOnImport) {
  b_->start();
  b_->writeSpec("late.yaml", twoContainerPod("late"));
  ASSERT_TRUE(waitFor([&] { return b_->pod("late")["reason"] == "ImageNotFound"; }, 5000))
      << b_->status().dump(2);
  EXPECT_NE(b_->boxctl({"status"}).out.find("ImageNotFound"), std::string::npos);
  b_->importBusybox();
  EXPECT_TRUE(b_->waitPhase("late", "Running")) << b_->status().dump(2);
  auto rm = b_->boxctl({"image", "rm", "busybox"});
  EXPECT_NE(rm.code, 0);
  EXPECT_NE(rm.out.find("used by pod late"), std::string::npos) << rm.out;
}

TEST_F(BoxdTest, BrokenFileKeepsLastGoodPodAndReportsTheError) {
  b_->start();
  b_->importBusybox();
  b_->writeSpec("web.yaml", twoContainerPod("web"));
  ASSERT_TRUE(b_->waitPhase("web", "Running"));
  auto uid = b_->pod("web")["uid"];
  b_->writeSpec("web.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - "
                "name: a\n    imagee: busybox\n");
  ASSERT_TRUE(waitFor([&] { return !b_->status()["specErrors"].empty(); }, 5000));
  auto s = b_->status();
  EXPECT_EQ(s["specErrors"][0]["file"], "web.yaml");
  EXPECT_NE(s["specErrors"].dump().find("web.yaml:8:5"), std::string::npos)
      << s["specErrors"].dump();
  EXPECT_NE(s["specErrors"].dump().find("imagee"), std::string::npos);
  auto p = b_->pod("web");
  EXPECT_EQ(p["phase"], "Running");
  EXPECT_EQ(p["uid"], uid) << "the running pod was not replaced";
}

TEST_F(BoxdTest, DuplicatePodNameReportsBothFiles) {
  b_->start();
  b_->importBusybox();
  b_->writeSpec("a.yaml", twoContainerPod("dup"));
  ASSERT_TRUE(b_->waitPhase("dup", "Running"));
  auto uid = b_->pod("dup")["uid"];
  b_->writeSpec("b.yaml", twoContainerPod("dup", 7));
  ASSERT_TRUE(waitFor([&] { return b_->status()["specErrors"].size() == 2; }, 5000))
      << b_->status().dump(2);
  EXPECT_EQ(b_->pod("dup")["uid"], uid);
  b_->removeSpec("b.yaml");
  ASSERT_TRUE(waitFor([&] { return b_->status()["specErrors"].empty(); }, 5000));
  EXPECT_EQ(b_->pod("dup")["uid"], uid);
}

TEST_F(BoxdTest, RestartPolicyWithBackoffAndCompletion) {
  b_->start();
  b_->importBusybox();
  b_->writeSpec(
      "crash.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: crash}\nspec:\n  restartPolicy: OnFailure\n"
      "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo run; exit "
      "3']\n");
  b_->writeSpec(
      "job.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: job}\nspec:\n  restartPolicy: OnFailure\n"
      "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo done']\n");
  b_->writeSpec(
      "never.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: never}\nspec:\n  restartPolicy: Never\n"
      "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'exit 2']\n");
  EXPECT_TRUE(b_->waitPhase("job", "Succeeded")) << b_->status().dump(2);
  EXPECT_TRUE(b_->waitPhase("never", "Failed")) << b_->status().dump(2);
  // Backoff here is 1 s (test config): the first restart is immediate, then 1 s, 2 s.
  ASSERT_TRUE(waitFor(
      [&] {
        auto p = b_->pod("crash");
        return !p.is_null() && p.value("restarts", 0) >= 2;
      },
      10000))
      << b_->status().dump(2);
  auto ev = b_->boxctl({"events", "crash"});
  EXPECT_NE(ev.out.find("BackOff"), std::string::npos) << ev.out;
  EXPECT_EQ(b_->pod("never")["containers"][0]["exitCode"], 2);
}

TEST_F(BoxdTest, ApplyAndDeleteThroughBoxctl) {
  b_->start();
  b_->importBusybox();
  std::string file = b_->stateDir() + "/../pod-in.yaml";
  ASSERT_TRUE(writeFileAtomic(file, twoContainerPod("applied")).ok());
  auto r = b_->boxctl({"apply", "-f", file});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pod/applied configured"), std::string::npos) << r.out;
  ASSERT_TRUE(b_->waitPhase("applied", "Running"));

  ASSERT_TRUE(
      writeFileAtomic(file, "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {}\n")
          .ok());
  r = b_->boxctl({"apply", "-f", file});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("metadata.name"), std::string::npos) << r.out;

  b_->writeSpec("two.yaml", twoContainerPod("one") + "---\n" + twoContainerPod("two"));
  ASSERT_TRUE(b_->waitPhase("two", "Running"));
  r = b_->boxctl({"delete", "one"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("also declares two"), std::string::npos) << r.out;
  r = b_->boxctl({"delete", "applied"});
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(b_->waitGone("applied"));
  EXPECT_EQ(b_->boxctl({"describe", "nope"}).code, 1);
}

TEST_F(BoxdTest, MalformedApiRequestsNeverHurtBoxd) {
  b_->start();
  for (const char* req : {"{\"op\":\"describe\",\"name\":7}", "[1,2]", "not json",
                          "{\"op\":\"events\",\"limit\":\"x\"}", "{\"op\":\"nope\"}"}) {
    std::string reply = b_->rawRequest(req);
    EXPECT_NE(reply.find("\"ok\":false"), std::string::npos) << req << " -> " << reply;
  }
  EXPECT_TRUE(b_->running());
  EXPECT_EQ(b_->boxctl({"status"}).code, 0);
}

TEST_F(BoxdTest, CliErrorsAreOneLineAndNonZero) {
  Boxd& b = *b_;
  auto r = run({b.bin("boxctl"), "--run-dir", b.runDir(), "status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("cannot reach boxd"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  r = run({b.bin("boxd"), "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown option --bogus"), std::string::npos);
  EXPECT_EQ(run({b.bin("boxd"), "--help"}).code, 0);
  EXPECT_EQ(run({b.bin("boxctl"), "--help"}).code, 0);
}

TEST_F(BoxdTest, GitSyncSwapIsFollowedAndShownAsRevision) {
  // specs -> .worktrees/<rev>, swapped by renaming a new link over the old one.
  std::string root = b_->specs().substr(0, b_->specs().rfind('/')) + "/git";
  ASSERT_TRUE(mkdirAll(root + "/.worktrees/rev1").ok());
  ASSERT_TRUE(mkdirAll(root + "/.worktrees/rev2").ok());
  ASSERT_TRUE(writeFileAtomic(root + "/.worktrees/rev1/pods.yaml", twoContainerPod("one")).ok());
  ASSERT_TRUE(writeFileAtomic(root + "/.worktrees/rev2/pods.yaml", twoContainerPod("two")).ok());
  ASSERT_TRUE(removeAll(b_->specs()).ok());
  ASSERT_EQ(::symlink((root + "/.worktrees/rev1").c_str(), b_->specs().c_str()), 0);
  b_->start();
  b_->importBusybox();
  ASSERT_TRUE(b_->waitPhase("one", "Running")) << b_->status().dump(2);
  EXPECT_EQ(b_->status()["revision"], "rev1");
  EXPECT_NE(b_->boxctl({"status"}).out.find("(revision rev1)"), std::string::npos);
  std::string tmp = b_->specs() + ".tmp";
  ASSERT_EQ(::symlink((root + "/.worktrees/rev2").c_str(), tmp.c_str()), 0);
  ASSERT_EQ(::rename(tmp.c_str(), b_->specs().c_str()), 0);
  ASSERT_TRUE(b_->waitPhase("two", "Running")) << b_->status().dump(2);
  EXPECT_TRUE(b_->waitGone("one"));
  EXPECT_EQ(b_->status()["revision"], "rev2");
  auto r = b_->boxctl({"apply", "-f", root + "/.worktrees/rev1/pods.yaml"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("managed by a symlink swap"), std::string::npos) << r.out;
  ASSERT_EQ(::unlink(b_->specs().c_str()), 0);  // the harness tears down through a plain dir
  ASSERT_TRUE(mkdirAll(b_->specs()).ok());
}

TEST_F(BoxdTest, WritesNextToTheSpecsDirDoNotWakeBoxd) {
  b_->start();
  b_->importBusybox();
  b_->writeSpec("web.yaml", twoContainerPod("web"));
  ASSERT_TRUE(b_->waitPhase("web", "Running"));
  int64_t before = b_->status()["specPasses"];
  std::string neighbour = b_->specs() + "/../busy.log";
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(writeFileAtomic(neighbour, std::to_string(i)).ok());
    ::usleep(10 * 1000);
  }
  int64_t after = b_->status()["specPasses"];
  // Only the periodic rescan (every 2 s in tests) may have run meanwhile.
  EXPECT_LE(after - before, 1) << "the specs dir was re-read on unrelated writes";
  b_->writeSpec("other.yaml", twoContainerPod("other"));
  EXPECT_TRUE(b_->waitPhase("other", "Running")) << "a real change is still seen at once";
}

TEST_F(BoxdTest, TarballImageImportAndList) {
  b_->start();
  std::string tarball = b_->stateDir() + "/../busybox.tar.gz";
  auto tar = run({"/bin/tar", "-czf", tarball, "-C", busyboxRootfs(), "."});
  ASSERT_EQ(tar.code, 0) << tar.out;
  auto r = b_->boxctl({"image", "import", "bb:1.0", tarball}, 120000);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("imported bb:1.0"), std::string::npos) << r.out;
  auto ls = b_->boxctl({"image", "ls"});
  EXPECT_NE(ls.out.find("bb"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("1.0"), std::string::npos) << ls.out;
  std::string notImage = b_->stateDir() + "/../notes.txt";
  ASSERT_TRUE(writeFileAtomic(notImage, "just text\n").ok());
  auto bad = b_->boxctl({"image", "import", "x", notImage});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("notes.txt"), std::string::npos) << bad.out;
  EXPECT_EQ(b_->boxctl({"image", "rm", "bb:1.0"}).code, 0);
  EXPECT_EQ(b_->boxctl({"image", "ls"}).out.find("bb "), std::string::npos);
}

TEST_F(BoxdTest, CorruptOrNewerStateDatabaseIsRefusedAtStart) {
  ASSERT_TRUE(mkdirAll(b_->stateDir()).ok());
  std::string db = b_->stateDir() + "/boxd.db";
  ASSERT_TRUE(writeFileAtomic(db, std::string(8192, 'x')).ok());
  auto r = run({b_->bin("boxd"), "--specs", b_->specs(), "--state-dir", b_->stateDir(), "--run-dir",
                b_->runDir(), "--cgroup-parent", b_->cgroupParent()},
               10000);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(db), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("corrupt"), std::string::npos) << r.out;
  EXPECT_EQ(*readFile(db), std::string(8192, 'x')) << "never recreated silently";
  ASSERT_TRUE(removeAll(db).ok());
}

}  // namespace
}  // namespace boxd::testing
