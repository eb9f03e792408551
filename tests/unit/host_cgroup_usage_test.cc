// Cgroups::usage on the fake cgroupfs, v2 and v1: the files the kernel keeps, read with
// cAdvisor's rules (working set = usage - inactive_file, never below 0).
#include <gtest/gtest.h>

#include "reconcilers/cgroup/kernel_cgroups.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeCgroupFs;
using boxd::testing::TempDir;

class UsageV2 : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.controllers", "cpu memory pids\n").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.subtree_control", "").ok());
    cg = makeCgroupsV2(dir.path(), fs);
    ASSERT_TRUE(cg->create("boxd/pod/c", {}).ok());
  }
  void put(const std::string& rel, const std::string& content) {
    ASSERT_TRUE(writeFileAtomic(dir / rel, content).ok());
  }
  TempDir dir{"usage"};
  std::shared_ptr<FakeCgroupFs> fs = std::make_shared<FakeCgroupFs>();
  std::unique_ptr<Cgroups> cg;
};

TEST_F(UsageV2, CpuMemoryAndPidsFromTheUnifiedFiles) {
  put("boxd/pod/c/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
  put("boxd/pod/c/memory.current", "104857600\n");
  put("boxd/pod/c/memory.stat", "anon 1000\nfile 9000\nactive_file 100\ninactive_file 4194304\n");
  put("boxd/pod/c/pids.current", "3\n");
  auto u = cg->usage("boxd/pod/c");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->cpuUsageNs, 1500000000);
  EXPECT_EQ(u->memoryWorkingSetBytes, 104857600 - 4194304);
  EXPECT_EQ(u->pids, 3);
}

TEST_F(UsageV2, WorkingSetNeverNegativeAndMissingFilesAreUnknown) {
  put("boxd/pod/memory.current", "100\n");
  put("boxd/pod/memory.stat", "inactive_file 4096\n");
  auto u = cg->usage("boxd/pod");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->memoryWorkingSetBytes, 0);
  EXPECT_FALSE(u->cpuUsageNs.has_value());
  EXPECT_FALSE(u->pids.has_value());
}

TEST_F(UsageV2, AbsentCgroupIsENOENT) {
  auto u = cg->usage("boxd/gone");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().code, ENOENT);
  EXPECT_EQ(cg->usage("../x").error().code, EINVAL);
}

TEST(UsageV1, CpuacctMemoryAndPidsHierarchies) {
  TempDir dir{"usage"};
  auto fs = std::make_shared<FakeCgroupFs>();
  for (const char* c : {"memory", "cpu", "cpuacct", "pids"}) ASSERT_TRUE(mkdirAll(dir / c).ok());
  auto cg = makeCgroupsV1(dir.path(), {"memory", "cpu", "cpuacct", "pids"}, fs);
  ASSERT_TRUE(cg->create("boxd/pod", {}).ok());
  auto put = [&](const std::string& rel, const std::string& content) {
    ASSERT_TRUE(writeFileAtomic(dir / rel, content).ok());
  };
  put("cpuacct/boxd/pod/cpuacct.usage", "2500000000\n");
  put("memory/boxd/pod/memory.usage_in_bytes", "52428800\n");
  // v1 memory.stat: the cgroup's own counters, then the hierarchy's (total_*): the subtree's.
  put("memory/boxd/pod/memory.stat", "inactive_file 1\ntotal_inactive_file 2097152\n");
  put("pids/boxd/pod/pids.current", "7\n");
  auto u = cg->usage("boxd/pod");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->cpuUsageNs, 2500000000);
  EXPECT_EQ(u->memoryWorkingSetBytes, 52428800 - 2097152);
  EXPECT_EQ(u->pids, 7);

  // Without cpuacct (a host that lacks it), CPU is unknown; the rest is still read.
  auto noAcct = makeCgroupsV1(dir.path(), {"memory", "cpu", "pids"}, fs);
  auto v = noAcct->usage("boxd/pod");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_FALSE(v->cpuUsageNs.has_value());
  EXPECT_EQ(v->pids, 7);
  EXPECT_EQ(cg->usage("boxd/none").error().code, ENOENT);
}

TEST(DetectCgroupsV1, IncludesCpuacct) {
  TempDir dir{"usage"};
  auto fs = std::make_shared<FakeCgroupFs>();
  for (const char* c : {"memory", "cpu", "cpuacct", "pids"}) ASSERT_TRUE(mkdirAll(dir / c).ok());
  auto cg = detectCgroups(dir.path(), fs);
  ASSERT_TRUE(cg.ok()) << cg.error().message;
  ASSERT_TRUE((*cg)->create("boxd/p", {}).ok());
  EXPECT_EQ((*cg)->dirs("boxd/p"),
            (std::vector<std::string>{dir / "memory/boxd/p", dir / "cpu/boxd/p",
                                      dir / "cpuacct/boxd/p", dir / "pids/boxd/p"}));
}

}  // namespace
}  // namespace boxd::reconcilers
