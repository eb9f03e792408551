// examples/gitops end to end, with the example's own scripts: setup.sh makes the bare specs
// repository, a clone pushes revisions, sync.sh publishes them (once, then as a loop) in the
// git-sync layout boxd reads, and boxd converges to each; `boxctl status` names the commit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

const std::string kExample = std::string(BOXD_TEST_SOURCE_DIR) + "/examples/gitops";

std::string podSpec(const std::string& message) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: gitops-web}\nspec:\n"
         "  terminationGracePeriodSeconds: 1\n  containers:\n  - name: web\n    image: busybox\n"
         "    command: [sh, -c, 'echo " +
         message + "; trap \"exit 0\" TERM; while true; do sleep 1 & wait; done']\n";
}

class GitopsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (run({"git", "--version"}).code != 0) GTEST_SKIP() << "needs git";
    root_ = b_.specs().substr(0, b_.specs().rfind('/'));
    ASSERT_EQ(::rmdir(b_.specs().c_str()), 0);  // sync.sh makes specs the link
    repo_ = tmp_ / "specs.git";
    work_ = tmp_ / "work";
  }
  void TearDown() override {
    for (pid_t p : {syncPid_, watchPid_}) {
      if (p <= 0) continue;
      ::kill(p, SIGTERM);
      ::waitpid(p, nullptr, 0);
    }
  }
  // `boxctl status -w` in the background, its output in outPath.
  void startWatch(const std::string& outPath) {
    watchPid_ = ::fork();
    if (watchPid_ == 0) {
      int fd = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(b_.bin("boxctl").c_str(), "boxctl", "--run-dir", b_.runDir().c_str(), "status", "-w",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  CmdResult git(std::vector<std::string> args) {
    std::vector<std::string> argv = {
        "git", "-C", work_, "-c", "user.name=boxd test", "-c", "user.email=test@localhost"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, 30000, {{"BOXCTL", b_.bin("boxctl")}});
  }
  // Commits web.yaml with content and pushes it; the push's result.
  CmdResult commitAndPush(const std::string& content, const std::string& message) {
    EXPECT_TRUE(writeFileAtomic(work_ + "/web.yaml", content).ok());
    EXPECT_EQ(git({"add", "web.yaml"}).code, 0);
    EXPECT_EQ(git({"commit", "-q", "-m", message}).code, 0);
    return git({"push", "-q", "origin", "HEAD:main"});
  }
  std::string head(const std::string& gitDir) {
    std::string out = run({"git", "--git-dir", gitDir, "rev-parse", "main"}).out;
    return out.substr(0, out.find('\n'));
  }
  std::string podLog() {
    auto p = b_.pod("gitops-web");
    if (p.is_null()) return "";
    auto log = readFile(b_.stateDir() + "/pods/" + p["uid"].get<std::string>() + "/logs/web.log");
    return log.ok() ? *log : "";
  }

  Boxd b_;
  TempDir tmp_{"gitops"};
  std::string root_, repo_, work_;
  pid_t syncPid_ = -1;
  pid_t watchPid_ = -1;
};

TEST_F(GitopsTest, APushIsPublishedAndBoxdConvergesToIt) {
  std::vector<std::string> setup = {"sh", kExample + "/setup.sh", "--boxctl", b_.bin("boxctl"),
                                    repo_};
  CmdResult made = run(setup);
  ASSERT_EQ(made.code, 0) << made.out;
  ASSERT_EQ(run({"git", "clone", "-q", repo_, work_}).code, 0);

  // Revision one: pushed, published once, run.
  CmdResult pushed = commitAndPush(podSpec("revision one"), "one");
  ASSERT_EQ(pushed.code, 0) << pushed.out;
  std::string rev1 = head(repo_);
  CmdResult synced = run({"sh", kExample + "/sync.sh", "--once", repo_, root_});
  ASSERT_EQ(synced.code, 0) << synced.out;
  EXPECT_EQ(synced.out, "sync.sh: published " + rev1 + "\n");
  b_.start();
  b_.importBusybox();
  ASSERT_TRUE(b_.waitPhase("gitops-web", "Running", 20000)) << b_.status().dump(2);
  EXPECT_EQ(b_.status()["revision"], rev1);
  CmdResult status = b_.boxctl({"status"});
  EXPECT_NE(status.out.find("(revision " + rev1 + ")"), std::string::npos) << status.out;
  EXPECT_TRUE(waitFor([&] { return podLog() == "revision one\n"; }, 10000)) << podLog();

  // Revision two: the sync loop picks it up; boxd replaces the pod, and a watch shows it.
  const std::string watchOut = tmp_ / "watch";
  startWatch(watchOut);
  auto watched = [&] {
    auto c = readFile(watchOut);
    return c.ok() ? *c : "";
  };
  ASSERT_TRUE(waitFor([&] { return watched().find("NAME") != std::string::npos; }, 10000));
  syncPid_ = ::fork();
  if (syncPid_ == 0) {
    ::execlp("sh", "sh", (kExample + "/sync.sh").c_str(), "--interval", "1", repo_.c_str(),
             root_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pushed = commitAndPush(podSpec("revision two"), "two");
  ASSERT_EQ(pushed.code, 0) << pushed.out;
  std::string rev2 = head(repo_);
  ASSERT_NE(rev1, rev2);
  ASSERT_TRUE(waitFor([&] { return b_.status()["revision"] == rev2; }, 20000))
      << b_.status().dump(2);
  EXPECT_TRUE(waitFor([&] { return podLog() == "revision two\n"; }, 20000)) << podLog();
  EXPECT_TRUE(b_.waitPhase("gitops-web", "Running", 20000));
  EXPECT_TRUE(waitFor(
      [&] {
        std::string w = watched();
        auto at = w.find("(revision " + rev2 + ")");
        return at != std::string::npos && w.find("Running", at) != std::string::npos;
      },
      10000))
      << watched();
  // The link and the revisions kept: the current one and the one before.
  char target[256] = {};
  ASSERT_GT(::readlink(b_.specs().c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(std::string(target), ".worktrees/" + rev2);

  // An invalid spec is refused at the push; the repository and the pod stay at revision two.
  pushed = commitAndPush(podSpec("three") + "    imagee: typo\n", "three");
  EXPECT_NE(pushed.code, 0) << pushed.out;
  EXPECT_NE(pushed.out.find("push refused"), std::string::npos) << pushed.out;
  EXPECT_NE(pushed.out.find("web.yaml"), std::string::npos) << pushed.out;
  EXPECT_EQ(head(repo_), rev2);
  EXPECT_EQ(b_.status()["revision"], rev2);
}

}  // namespace
}  // namespace boxd::testing
