// fsGroup ownership walk (reconcilers/volumes/fs_group.h) and its step: groups and modes as
// kubelet sets them, symlinks never followed nor changed, the root changed last, the walk
// bounded, OnRootMismatch. No root needed: without it the group is the test's own.
#include "reconcilers/volumes/fs_group.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/volumes/fs_group_step.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::TempDir;

gid_t testGid() { return ::geteuid() == 0 ? 54321 : ::getegid(); }

struct stat lst(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p;
  return st;
}

void write(const std::string& p, mode_t mode) {
  ASSERT_TRUE(writeFileAtomic(p, "x", mode).ok()) << p;
  ASSERT_EQ(::chmod(p.c_str(), mode), 0);
}

Fd openDir(const std::string& p) {
  return Fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

class FsGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir((t_ / "vol").c_str(), 0755), 0);
    ASSERT_EQ(::chmod((t_ / "vol").c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((t_ / "vol/sub").c_str(), 0700), 0);
    write(t_ / "vol/a", 0600);
    write(t_ / "vol/sub/b", 0644);
    write(t_ / "vol/ro", 0400);
    write(t_ / "outside", 0600);
    ASSERT_EQ(::symlink((t_ / "outside").c_str(), (t_ / "vol/link").c_str()), 0);
    ASSERT_EQ(::symlink(t_.path().c_str(), (t_ / "vol/sub/up").c_str()), 0);
    ASSERT_EQ(::mkfifo((t_ / "vol/fifo").c_str(), 0600), 0);
  }
  TempDir t_{"fsgroup"};
};

TEST_F(FsGroupTest, GroupAndModesAsKubelet) {
  Fd root = openDir(t_ / "vol");
  ASSERT_TRUE(root);
  FsGroupOptions o;
  o.gid = testGid();
  auto r = applyFsGroup(root.get(), o, "volume data");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->skipped);
  EXPECT_EQ(r->entries, 8u) << "root, sub, a, b, ro, fifo and the two links";
  for (const char* p : {"vol", "vol/sub", "vol/a", "vol/sub/b", "vol/ro", "vol/fifo"})
    EXPECT_EQ(lst(t_ / p).st_gid, o.gid) << p;
  EXPECT_EQ(lst(t_ / "vol").st_mode & 07777, 02775u);
  EXPECT_EQ(lst(t_ / "vol/sub").st_mode & 07777, 02770u);
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0660u);
  EXPECT_EQ(lst(t_ / "vol/sub/b").st_mode & 07777, 0664u);
  EXPECT_EQ(lst(t_ / "vol/ro").st_mode & 07777, 0660u) << "owner and group read-write, as kubelet";
  EXPECT_EQ(lst(t_ / "vol/fifo").st_mode & 07777, 0660u) << "changed through O_PATH, not opened";
  // Symlinks are neither followed nor changed: what they point at is untouched.
  EXPECT_EQ(lst(t_ / "outside").st_mode & 07777, 0600u);
  EXPECT_EQ(lst(t_.path()).st_mode & S_ISGID, 0u);
  if (::geteuid() == 0) {
    EXPECT_NE(lst(t_ / "vol/link").st_gid, o.gid) << "kubelet leaves symlinks alone";
    EXPECT_NE(lst(t_ / "outside").st_gid, o.gid);
  }
}

TEST_F(FsGroupTest, ReadOnlyVolumesGetNoGroupWrite) {
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  o.readOnly = true;
  ASSERT_TRUE(applyFsGroup(root.get(), o, "v").ok());
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0640u);
  EXPECT_EQ(lst(t_ / "vol/ro").st_mode & 07777, 0440u);
  EXPECT_EQ(lst(t_ / "vol/sub").st_mode & 07777, 02750u);
}

TEST_F(FsGroupTest, OnRootMismatchSkipsAFittingRoot) {
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  o.onRootMismatch = true;
  EXPECT_FALSE(fsGroupRootFits(root.get(), o));
  auto first = applyFsGroup(root.get(), o, "v");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->skipped);
  EXPECT_TRUE(fsGroupRootFits(root.get(), o));
  ASSERT_EQ(::chmod((t_ / "vol/a").c_str(), 0600), 0);
  auto second = applyFsGroup(root.get(), o, "v");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->skipped);
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0600u) << "skipped: the root fits";
  // The root without setgid, or without group write, no longer fits.
  ASSERT_EQ(::chmod((t_ / "vol").c_str(), 0775), 0);
  EXPECT_FALSE(fsGroupRootFits(root.get(), o));
  ASSERT_EQ(::chmod((t_ / "vol").c_str(), 02755), 0);
  EXPECT_FALSE(fsGroupRootFits(root.get(), o));
  o.onRootMismatch = false;  // Always
  ASSERT_EQ(::chmod((t_ / "vol").c_str(), 02775), 0);
  auto always = applyFsGroup(root.get(), o, "v");
  ASSERT_TRUE(always.ok());
  EXPECT_FALSE(always->skipped);
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0660u);
}

TEST_F(FsGroupTest, TheWalkIsBoundedAndACutWalkLeavesTheRootUnfit) {
  std::string deep = t_ / "vol";
  for (int i = 0; i < 6; ++i) {
    deep += "/d";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  }
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  o.onRootMismatch = true;
  o.maxDepth = 4;
  auto r = applyFsGroup(root.get(), o, "volume data");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper than 4 levels"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fsGroupRootFits(root.get(), o)) << "the root is changed last";
  o.maxDepth = 128;
  o.maxEntries = 3;
  r = applyFsGroup(root.get(), o, "volume data");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 3 entries"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fsGroupRootFits(root.get(), o));
}

TEST_F(FsGroupTest, AGroupChangeDropsSetuidOfFilesButDirectoriesKeepSetgid) {
  if (::geteuid() != 0) GTEST_SKIP() << "a group change needs root here";
  write(t_ / "vol/tool", 04755);
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  ASSERT_TRUE(applyFsGroup(root.get(), o, "v").ok());
  EXPECT_EQ(lst(t_ / "vol/tool").st_mode & 07777, 0775u);
  EXPECT_EQ(lst(t_ / "vol/sub").st_mode & 07777, 02770u);
}

TEST_F(FsGroupTest, TheStepRecordsWhatItDidAndUndoChangesNothing) {
  FsGroupStep step(t_ / "vol", "data", testGid(), false, true);
  ASSERT_TRUE(step.apply().ok());
  EXPECT_EQ(step.params()["result"], "group " + std::to_string(testGid()) + ": 8 entries walked");
  EXPECT_EQ(step.params()["policy"], "OnRootMismatch");
  FsGroupStep again(t_ / "vol", "data", testGid(), false, true);
  ASSERT_TRUE(again.apply().ok());
  EXPECT_EQ(again.params()["result"], "group " + std::to_string(testGid()) +
                                          ": root already fits, walk skipped "
                                          "(OnRootMismatch)");
  EXPECT_TRUE(again.undo().ok());
  EXPECT_EQ(lst(t_ / "vol").st_mode & 07777, 02775u);
  EXPECT_TRUE(again.observe().value());

  // Past its bound the step fails, naming the volume: the pod's error.
  nlohmann::json bounded = FsGroupStep(t_ / "vol", "data", testGid(), false, false, 3).params();
  EXPECT_EQ(bounded["maxEntries"], 3);
  testing::FakeMounter mounter;
  auto cgroups = makeCgroupsV1("/nonexistent");
  Host host{Paths{}, mounter, *cgroups};
  auto rebuilt = FsGroupStep::fromParams(bounded, host);
  ASSERT_TRUE(rebuilt.ok());
  Status over = (*rebuilt)->apply();
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("fsGroup " + std::to_string(testGid()) + " on volume data"),
            std::string::npos)
      << over.error().message;
  EXPECT_NE(over.error().message.find("more than 3 entries; fsGroup not applied to the rest"),
            std::string::npos)
      << over.error().message;

  ASSERT_EQ(::symlink((t_ / "vol").c_str(), (t_ / "alias").c_str()), 0);
  FsGroupStep viaLink(t_ / "alias", "data", testGid(), false, false);
  Status st = viaLink.apply();
  ASSERT_FALSE(st.ok()) << "the volume root is never reached through a symlink";
  EXPECT_NE(st.error().message.find("fsGroup " + std::to_string(testGid()) + " on volume data"),
            std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace boxd::reconcilers
