// The v1 and v2 Cgroups on a temp root through FakeCgroupFs (see cgroup_fs.h for the design).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "reconcilers/cgroup/kernel_cgroups.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/unit/host_test_util.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeCgroupFs;
using boxd::testing::SleepingChild;
using boxd::testing::TempDir;

std::string read(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? trim(*r) : "<" + r.error().message + ">";
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

CgroupLimits sampleLimits() {
  CgroupLimits l;
  l.memoryBytes = 128 << 20;
  l.cpuLimitMilli = 500;
  l.cpuRequestMilli = 250;
  l.pidsMax = 64;
  return l;
}

TEST(CgroupConversions, SharesWeightQuota) {
  EXPECT_EQ(cpuSharesFromMilli(250), 256);
  EXPECT_EQ(cpuSharesFromMilli(1000), 1024);
  EXPECT_EQ(cpuSharesFromMilli(1), 2);
  EXPECT_EQ(cpuWeightFromShares(2), 1);
  EXPECT_EQ(cpuWeightFromShares(1024), 39);
  EXPECT_EQ(cpuWeightFromShares(262144), 10000);
  EXPECT_EQ(cpuQuotaFromMilli(500), 50000);
  EXPECT_EQ(cpuQuotaFromMilli(2000), 200000);
  EXPECT_EQ(cpuQuotaFromMilli(1), 1000);  // the kernel's minimum quota is 1 ms
}

// ---- v2 ----

class CgroupsV2Test : public ::testing::Test {
 protected:
  void SetUp() override { offer("cpuset cpu io memory hugetlb pids rdma misc"); }
  void offer(const std::string& controllers) {
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.controllers", controllers + "\n").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.subtree_control", "").ok());
    cg = makeCgroupsV2(dir.path(), fs);
  }

  TempDir dir;
  std::shared_ptr<FakeCgroupFs> fs = std::make_shared<FakeCgroupFs>();
  std::unique_ptr<Cgroups> cg;
};

TEST_F(CgroupsV2Test, CreateEnablesControllersInAncestorsAndWritesLimits) {
  ASSERT_TRUE(cg->create("boxd/pod/app", sampleLimits()).ok());
  EXPECT_EQ(cg->version(), "v2");
  EXPECT_EQ(read(dir / "cgroup.subtree_control"), "memory cpu pids");
  EXPECT_EQ(read(dir / "boxd/cgroup.subtree_control"), "memory cpu pids");
  EXPECT_EQ(read(dir / "boxd/pod/cgroup.subtree_control"), "memory cpu pids");
  EXPECT_EQ(read(dir / "boxd/pod/app/cgroup.subtree_control"), "");  // a leaf may hold processes
  const std::string leaf = dir / "boxd/pod/app";
  EXPECT_EQ(read(leaf + "/memory.max"), std::to_string(128 << 20));
  EXPECT_EQ(read(leaf + "/cpu.max"), "50000 100000");
  EXPECT_EQ(read(leaf + "/cpu.weight"), "10");  // 250m -> 256 shares -> weight 10
  EXPECT_EQ(read(leaf + "/pids.max"), "64");
  EXPECT_TRUE(*cg->exists("boxd/pod/app"));
  EXPECT_EQ(cg->dirs("boxd/pod/app"), std::vector<std::string>{leaf});
  EXPECT_EQ(cg->procsFiles("boxd/pod/app"), std::vector<std::string>{leaf + "/cgroup.procs"});
  EXPECT_TRUE(cg->missingControllers().empty());

  size_t writes = fs->writes.size();
  ASSERT_TRUE(
      cg->create("boxd/pod/app", sampleLimits()).ok());  // idempotent: only the limits again
  EXPECT_EQ(fs->writes.size() - writes, 4u);
}

TEST_F(CgroupsV2Test, SkipsControllersTheHostDoesNotOffer) {
  offer("memory pids");
  ASSERT_TRUE(cg->create("boxd/p", sampleLimits()).ok());
  EXPECT_EQ(cg->missingControllers(), std::vector<std::string>{"cpu"});
  EXPECT_EQ(read(dir / "cgroup.subtree_control"), "memory pids");
  EXPECT_FALSE(exists(dir / "boxd/p/cpu.max"));
  EXPECT_FALSE(exists(dir / "boxd/p/cpu.weight"));
  EXPECT_EQ(read(dir / "boxd/p/pids.max"), "64");
}

TEST_F(CgroupsV2Test, RemoveGoesDeepestFirstAndAbsentIsSuccess) {
  ASSERT_TRUE(cg->create("boxd/pod/a", {}).ok());
  ASSERT_TRUE(cg->create("boxd/pod/b/c", {}).ok());
  ASSERT_TRUE(cg->remove("boxd/pod").ok());
  EXPECT_FALSE(exists(dir / "boxd/pod"));
  EXPECT_TRUE(exists(dir / "boxd"));
  EXPECT_FALSE(*cg->exists("boxd/pod"));
  ASSERT_TRUE(cg->remove("boxd/pod").ok());
  ASSERT_TRUE(cg->remove("never/created").ok());
}

TEST_F(CgroupsV2Test, RemoveFailsWhileAProcessLivesThereAndKillAllEmptiesIt) {
  ASSERT_TRUE(cg->create("boxd/pod/app", {}).ok());
  SleepingChild child;
  ASSERT_TRUE(fs->write(dir / "boxd/pod/app/cgroup.procs", std::to_string(child.pid())).ok());
  EXPECT_EQ(*cg->pids("boxd/pod"), std::vector<pid_t>{child.pid()});
  Status busy = cg->remove("boxd/pod");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, EBUSY);
  ASSERT_TRUE(cg->killAll("boxd/pod", 5000).ok());
  int status = child.reap();
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE(cg->remove("boxd/pod").ok());
  EXPECT_FALSE(exists(dir / "boxd/pod"));
}

TEST_F(CgroupsV2Test, KillAllUsesCgroupKillWhenPresent) {
  ASSERT_TRUE(cg->create("boxd/p", {}).ok());
  ASSERT_TRUE(writeFileAtomic(dir / "boxd/p/cgroup.kill", "").ok());
  SleepingChild child;
  ASSERT_TRUE(fs->write(dir / "boxd/p/cgroup.procs", std::to_string(child.pid())).ok());
  ASSERT_TRUE(cg->killAll("boxd/p", 5000).ok());
  EXPECT_NE(std::find(fs->writes.begin(), fs->writes.end(), dir / "boxd/p/cgroup.kill=1"),
            fs->writes.end());
  EXPECT_NE(child.reap(), -1);
}

TEST_F(CgroupsV2Test, KillAllIsBoundedByItsTimeout) {
  ASSERT_TRUE(cg->create("boxd/p", {}).ok());
  SleepingChild child;
  ASSERT_TRUE(fs->write(dir / "boxd/p/cgroup.procs", std::to_string(child.pid())).ok());
  Status st = cg->killAll("boxd/p", 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ETIMEDOUT);
  EXPECT_NE(st.error().message.find(std::to_string(child.pid())), std::string::npos)
      << st.error().message;
  EXPECT_NE(child.reap(), -1);  // it was sent SIGKILL all the same
}

TEST_F(CgroupsV2Test, KillAllRefusesACgroupHoldingThisProcess) {
  ASSERT_TRUE(cg->create("boxd/p", {}).ok());
  ASSERT_TRUE(fs->write(dir / "boxd/p/cgroup.procs", std::to_string(::getpid())).ok());
  ASSERT_TRUE(writeFileAtomic(dir / "boxd/p/cgroup.kill", "").ok());
  Status st = cg->killAll("boxd/p", 1000);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EPERM);
  EXPECT_EQ(std::find(fs->writes.begin(), fs->writes.end(), dir / "boxd/p/cgroup.kill=1"),
            fs->writes.end());
}

TEST_F(CgroupsV2Test, PidsLimitHitsAndOomEventsFile) {
  ASSERT_TRUE(cg->create("boxd/pod/c", sampleLimits()).ok());
  ASSERT_TRUE(fs->write(dir / "boxd/pod/pids.events", "max 3\n").ok());
  auto hits = cg->pidsLimitHits("boxd/pod");
  ASSERT_TRUE(hits.ok()) << hits.error().message;
  EXPECT_EQ(hits->value_or(-1), 3);
  EXPECT_EQ(cg->oomEventsFile("boxd/pod/c"), dir / "boxd/pod/c/memory.events");
  offer("cpu io");
  EXPECT_FALSE(cg->pidsLimitHits("boxd/pod")->has_value());
  EXPECT_EQ(cg->oomEventsFile("boxd/pod/c"), "");
}

TEST_F(CgroupsV2Test, RefusesPathsThatReachTheRoot) {
  for (const char* bad : {"", "/boxd", "boxd/../..", "boxd//p", "./boxd"}) {
    EXPECT_EQ(cg->create(bad, {}).error().code, EINVAL) << bad;
    EXPECT_EQ(cg->remove(bad).error().code, EINVAL) << bad;
    EXPECT_EQ(cg->killAll(bad, 10).error().code, EINVAL) << bad;
  }
}

// ---- v1 ----

class CgroupsV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* c : {"memory", "cpu", "pids", "freezer"}) ASSERT_TRUE(mkdirAll(dir / c).ok());
    cg = makeCgroupsV1(dir.path(), {"memory", "cpu", "pids"}, fs);
  }

  TempDir dir;
  std::shared_ptr<FakeCgroupFs> fs = std::make_shared<FakeCgroupFs>();
  std::unique_ptr<Cgroups> cg;
};

TEST_F(CgroupsV1Test, CreateWritesOneDirPerController) {
  ASSERT_TRUE(cg->create("boxd/pod", sampleLimits()).ok());
  EXPECT_EQ(cg->version(), "v1");
  EXPECT_EQ(read(dir / "memory/boxd/pod/memory.limit_in_bytes"), std::to_string(128 << 20));
  EXPECT_EQ(read(dir / "cpu/boxd/pod/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(dir / "cpu/boxd/pod/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read(dir / "cpu/boxd/pod/cpu.shares"), "256");
  EXPECT_EQ(read(dir / "pids/boxd/pod/pids.max"), "64");
  EXPECT_FALSE(exists(dir / "freezer/boxd"));
  EXPECT_EQ(cg->dirs("boxd/pod"),
            (std::vector<std::string>{dir / "memory/boxd/pod", dir / "cpu/boxd/pod",
                                      dir / "pids/boxd/pod"}));
  EXPECT_EQ(cg->procsFiles("boxd/pod").size(), 3u);
  EXPECT_TRUE(*cg->exists("boxd/pod"));
}

TEST_F(CgroupsV1Test, WritesOnlyTheLimitsGiven) {
  CgroupLimits l;
  l.memoryBytes = 1 << 20;
  ASSERT_TRUE(cg->create("boxd/pod", l).ok());
  EXPECT_FALSE(exists(dir / "cpu/boxd/pod/cpu.cfs_quota_us"));
  EXPECT_FALSE(exists(dir / "pids/boxd/pod/pids.max"));
}

// The kernel counts each fork refused at a pod's pids.max in pids.events; v1 has the file too.
TEST_F(CgroupsV1Test, PidsLimitHitsAndOomEventsFile) {
  ASSERT_TRUE(cg->create("boxd/pod/c", sampleLimits()).ok());
  EXPECT_EQ(read(dir / "pids/boxd/pod/c/pids.max"), "64");
  auto none = cg->pidsLimitHits("boxd/pod");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->has_value()) << "a kernel without pids.events: nothing to report";
  // v1 counts a refused fork in the cgroup of the process that forked, a container's here.
  ASSERT_TRUE(fs->write(dir / "pids/boxd/pod/pids.events", "max 0\n").ok());
  ASSERT_TRUE(fs->write(dir / "pids/boxd/pod/c/pids.events", "max 17\n").ok());
  auto hits = cg->pidsLimitHits("boxd/pod");
  ASSERT_TRUE(hits.ok()) << hits.error().message;
  EXPECT_EQ(hits->value_or(-1), 17);
  ASSERT_TRUE(fs->write(dir / "pids/boxd/pod/pids.events", "garbage\n").ok());
  EXPECT_FALSE(cg->pidsLimitHits("boxd/pod").ok());
  EXPECT_EQ(cg->pidsLimitHits("../x").error().code, EINVAL);
  EXPECT_EQ(cg->oomEventsFile("boxd/pod/c"), dir / "memory/boxd/pod/c/memory.oom_control");

  auto bare = makeCgroupsV1(dir.path(), {"cpu"}, fs);
  EXPECT_FALSE(bare->pidsLimitHits("boxd/pod")->has_value());
  EXPECT_EQ(bare->oomEventsFile("boxd/pod/c"), "");
}

TEST_F(CgroupsV1Test, SkipsAMissingControllerAndReportsIt) {
  ASSERT_EQ(::rmdir((dir / "cpu").c_str()), 0);
  cg = makeCgroupsV1(dir.path(), {"memory", "cpu", "pids"}, fs);
  ASSERT_TRUE(cg->create("boxd/pod", sampleLimits()).ok());
  EXPECT_EQ(cg->missingControllers(), std::vector<std::string>{"cpu"});
  EXPECT_EQ(cg->dirs("boxd/pod").size(), 2u);
  EXPECT_FALSE(exists(dir / "cpu"));
}

TEST_F(CgroupsV1Test, ExistsOnlyWhenEveryControllerHasTheDir) {
  ASSERT_TRUE(cg->create("boxd/pod", {}).ok());
  ASSERT_TRUE(fs->removeDir(dir / "cpu/boxd/pod").ok());
  EXPECT_FALSE(*cg->exists("boxd/pod"));
  ASSERT_TRUE(cg->create("boxd/pod", {}).ok());  // repairs
  EXPECT_TRUE(*cg->exists("boxd/pod"));
}

TEST_F(CgroupsV1Test, PidsAreTheUnionOverControllersAndKillAllRemoveEmptyEverything) {
  ASSERT_TRUE(cg->create("boxd/pod/c", {}).ok());
  SleepingChild a, b;
  ASSERT_TRUE(fs->write(dir / "memory/boxd/pod/c/cgroup.procs", std::to_string(a.pid())).ok());
  ASSERT_TRUE(fs->write(dir / "pids/boxd/pod/cgroup.procs", std::to_string(b.pid())).ok());
  auto pids = cg->pids("boxd/pod");
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(pids->size(), 2u);
  ASSERT_TRUE(cg->killAll("boxd/pod", 5000).ok());
  EXPECT_NE(a.reap(), -1);
  EXPECT_NE(b.reap(), -1);
  ASSERT_TRUE(cg->remove("boxd").ok());
  for (const char* c : {"memory", "cpu", "pids"})
    EXPECT_FALSE(exists(dir / (std::string(c) + "/boxd"))) << c;
}

// ---- detection ----

TEST(DetectCgroups, PicksTheLayoutFromTheRoot) {
  auto fs = std::make_shared<FakeCgroupFs>();
  TempDir v2;
  ASSERT_TRUE(writeFileAtomic(v2 / "cgroup.controllers", "memory pids\n").ok());
  auto a = detectCgroups(v2.path(), fs);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)->version(), "v2");

  TempDir hybrid;
  ASSERT_TRUE(mkdirAll(hybrid / "memory").ok());
  ASSERT_TRUE(mkdirAll(hybrid / "unified").ok());
  ASSERT_TRUE(writeFileAtomic(hybrid / "unified/cgroup.controllers", "").ok());
  auto b = detectCgroups(hybrid.path(), fs);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)->version(), "v1");
  EXPECT_EQ((*b)->missingControllers(), (std::vector<std::string>{"cpu", "cpuacct", "pids"}));

  TempDir empty;
  auto c = detectCgroups(empty.path(), fs);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find(empty.path()), std::string::npos);
}

}  // namespace
}  // namespace boxd::reconcilers
