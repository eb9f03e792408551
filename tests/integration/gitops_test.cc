// examples/gitops end to end: a bare repository whose pre-receive hook runs boxctl validate, the
// sync loop's atomic symlink swap as boxd's specs path, and boxctl status showing the commit.
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

std::string example(const std::string& file) {
  return std::string(BOXD_TEST_SOURCE_DIR) + "/examples/gitops/" + file;
}

class GitopsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (run({"git", "--version"}).code != 0) GTEST_SKIP() << "no git";
    repo_ = work_ / "specs.git";
    clone_ = work_ / "clone";
    node_ = b_.specs().substr(0, b_.specs().rfind('/'));
    ASSERT_EQ(git({"init", "-q", "--bare", "-b", "main", repo_}).code, 0);
    ASSERT_EQ(run({"cp", example("pre-receive"), repo_ + "/hooks/pre-receive"}).code, 0);
    ASSERT_EQ(git({"clone", "-q", repo_, clone_}).code, 0);
  }
  CmdResult git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-c", "user.name=boxd-test", "-c",
                               "user.email=boxd-test@localhost", "-c", "init.defaultBranch=main"});
    return run(args, 30000, {{"BOXCTL", b_.bin("boxctl")}});
  }
  CmdResult commitAndPush(const std::string& file, const std::string& content) {
    EXPECT_TRUE(writeFileAtomic(clone_ + "/" + file, content).ok());
    EXPECT_EQ(git({"-C", clone_, "add", file}).code, 0);
    EXPECT_EQ(git({"-C", clone_, "commit", "-qm", "change " + file}).code, 0);
    return git({"-C", clone_, "push", "origin", "HEAD:main"});
  }
  std::string head() { return trim(git({"-C", repo_, "rev-parse", "main"}).out); }
  CmdResult sync() { return run({example("sync.sh"), "--once", repo_, node_, "specs"}); }

  Boxd b_;
  TempDir work_{"gitops"};
  std::string repo_, clone_, node_;
};

TEST_F(GitopsTest, HookRefusesBrokenSpecsAndSyncPublishesEachRevision) {
  auto web = readFile(example("web.yaml"));
  ASSERT_TRUE(web.ok());
  CmdResult first = commitAndPush("web.yaml", *web);
  ASSERT_EQ(first.code, 0) << first.out;
  const std::string rev1 = head();

  // The specs path becomes the sync loop's symlink.
  ASSERT_EQ(::rmdir(b_.specs().c_str()), 0);
  CmdResult s1 = sync();
  ASSERT_EQ(s1.code, 0) << s1.out;
  EXPECT_EQ(s1.out, "sync: specs -> " + rev1 + "\n");
  b_.start();
  b_.importBusybox();
  ASSERT_TRUE(b_.waitPhase("gitops-web", "Running", 20000)) << b_.status().dump(2);
  EXPECT_EQ(b_.status()["revision"], rev1);
  EXPECT_NE(b_.boxctl({"status"}).out.find(rev1.substr(0, 12)), std::string::npos)
      << b_.boxctl({"status"}).out;

  // A broken spec is refused by the hook, with its position; the branch does not move.
  std::string broken = *web;
  broken.replace(broken.find("    image: busybox"), 18, "    imagee: busybox");
  CmdResult refused = commitAndPush("web.yaml", broken);
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_NE(refused.out.find("web.yaml:10:5: spec.containers[0].imagee: unknown field"),
            std::string::npos)
      << refused.out;
  EXPECT_NE(refused.out.find("pre-receive hook declined"), std::string::npos) << refused.out;
  EXPECT_EQ(head(), rev1);
  ASSERT_EQ(git({"-C", clone_, "reset", "-q", "--hard", "origin/main"}).code, 0);

  // Two pods declaring one name across files: refused too (a check boxd alone cannot make).
  CmdResult dup = commitAndPush("copy.yaml", *web);
  EXPECT_NE(dup.code, 0);
  EXPECT_NE(dup.out.find("copy.yaml:5:9: metadata.name: pod \"gitops-web\" is also declared at "
                         "web.yaml:2; boxd applies neither"),
            std::string::npos)
      << dup.out;
  ASSERT_EQ(git({"-C", clone_, "reset", "-q", "--hard", "origin/main"}).code, 0);

  // A good change: the next sync swaps the link, boxd applies it and shows the new commit.
  std::string second = *web;
  second.replace(second.find("gitops-web"), 10, "gitops-api");
  CmdResult ok = commitAndPush("api.yaml", second);
  ASSERT_EQ(ok.code, 0) << ok.out;
  const std::string rev2 = head();
  ASSERT_NE(rev2, rev1);
  ASSERT_EQ(sync().code, 0);
  ASSERT_TRUE(b_.waitPhase("gitops-api", "Running", 20000)) << b_.status().dump(2);
  EXPECT_EQ(b_.status()["revision"], rev2);
  EXPECT_EQ(b_.pod("gitops-web")["phase"], "Running");
  // Planned through the link, the revision is the commit, and there is nothing left to do.
  CmdResult plan = b_.boxctl({"plan", node_ + "/specs"});
  EXPECT_EQ(plan.code, 0) << plan.out;
  EXPECT_NE(plan.out.find("(revision " + rev2 + ")"), std::string::npos) << plan.out;
  // The revision replaced is kept until the next swap; nothing older.
  CmdResult kept = run({"ls", node_ + "/.worktrees"});
  EXPECT_EQ(kept.out, std::min(rev1, rev2) + "\n" + std::max(rev1, rev2) + "\n");
}

}  // namespace
}  // namespace boxd::testing
