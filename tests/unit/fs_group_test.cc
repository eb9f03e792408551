// fsGroup ownership walk (reconcilers/volumes/fs_group.h): groups and modes as kubelet sets
// them, symlinks never followed, the walk bounded, OnRootMismatch. No root needed: without it
// the group is the test's own.
#include "reconcilers/volumes/fs_group.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/util.h"
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
    ASSERT_EQ(::mkdir((t_ / "vol/sub").c_str(), 0700), 0);
    write(t_ / "vol/a", 0600);
    write(t_ / "vol/sub/b", 0644);
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
  EXPECT_EQ(r->entries, 7u) << "root, sub, a, b, fifo and the two links themselves";
  for (const char* p : {"vol", "vol/sub", "vol/a", "vol/sub/b", "vol/fifo", "vol/link"})
    EXPECT_EQ(lst(t_ / p).st_gid, o.gid) << p;
  EXPECT_EQ(lst(t_ / "vol").st_mode & 07777, 02775u);
  EXPECT_EQ(lst(t_ / "vol/sub").st_mode & 07777, 02770u);
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0660u);
  EXPECT_EQ(lst(t_ / "vol/sub/b").st_mode & 07777, 0664u);
  EXPECT_EQ(lst(t_ / "vol/fifo").st_mode & 07777, 0660u) << "changed through O_PATH, not opened";
  // Symlinks are not followed: what they point at is untouched.
  EXPECT_EQ(lst(t_ / "outside").st_mode & 07777, 0600u);
  EXPECT_EQ(lst(t_.path()).st_mode & S_ISGID, 0u);
}

TEST_F(FsGroupTest, ReadOnlyVolumesGetNoGroupWrite) {
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  o.readOnly = true;
  ASSERT_TRUE(applyFsGroup(root.get(), o, "v").ok());
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0640u);
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
  ASSERT_EQ(::chmod((t_ / "vol/a").c_str(), 0600), 0);
  auto second = applyFsGroup(root.get(), o, "v");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->skipped);
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0600u) << "skipped: the root fits";
  o.onRootMismatch = false;  // Always
  ASSERT_TRUE(applyFsGroup(root.get(), o, "v").ok());
  EXPECT_EQ(lst(t_ / "vol/a").st_mode & 07777, 0660u);
}

TEST_F(FsGroupTest, TheWalkIsBounded) {
  std::string deep = t_ / "vol";
  for (int i = 0; i < 6; ++i) {
    deep += "/d";
    ASSERT_EQ(::mkdir(deep.c_str(), 0755), 0);
  }
  Fd root = openDir(t_ / "vol");
  FsGroupOptions o;
  o.gid = testGid();
  o.maxDepth = 4;
  auto r = applyFsGroup(root.get(), o, "volume data");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper than 4 levels"), std::string::npos) << r.error().message;
  o.maxDepth = 128;
  o.maxEntries = 3;
  r = applyFsGroup(root.get(), o, "volume data");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("more than 3 entries"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace boxd::reconcilers
