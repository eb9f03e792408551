// RealMounter's mountinfo lookup (no root needed) and the FakeMounter's own contract.
#include <gtest/gtest.h>

#include "reconcilers/host/real_mounter.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/unit/host_test_util.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeMounter;
using boxd::testing::TempDir;

TEST(NormalizeMountPath, CollapsesSlashesAndDots) {
  EXPECT_EQ(normalizeMountPath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(normalizeMountPath("/"), "/");
  EXPECT_EQ(normalizeMountPath("//"), "/");
  EXPECT_EQ(normalizeMountPath("/a/../b"), "/a/../b");
}

TEST(RealMounter, RejectsRelativeTargetsAndDotDot) {
  RealMounter m;
  auto rel = m.isMountPoint("relative/path");
  ASSERT_FALSE(rel.ok());
  EXPECT_EQ(rel.error().code, EINVAL);
  auto up = m.isMountPoint("/proc/../proc");
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, EINVAL);
}

TEST(RealMounter, JudgesThisProcessMountsByMountId) {
  RealMounter m;
  EXPECT_TRUE(*m.isMountPoint("/"));
  EXPECT_TRUE(*m.isMountPoint("/proc"));
  EXPECT_TRUE(*m.isMountPoint("//proc/"));
  EXPECT_FALSE(*m.isMountPoint("/proc/self")) << "a symlink is never a mount point";
  EXPECT_FALSE(*m.isMountPoint("/proc/sys/kernel"));
  EXPECT_FALSE(*m.isMountPoint("/nonexistent-" + randomHex(4) + "/x"));
}

// A symlink on the way to a mount point is refused, not followed: boxd's paths have none, and
// one planted in a tree a container writes must never lead a check (or an unmount) elsewhere.
TEST(RealMounter, RefusesAPathThroughASymlink) {
  TempDir dir;
  ASSERT_EQ(::symlink("/", (dir / "root").c_str()), 0);
  RealMounter m;
  auto through = m.isMountPoint(dir / "root/proc");
  ASSERT_FALSE(through.ok());
  EXPECT_EQ(through.error().code, ELOOP);
  EXPECT_NE(through.error().message.find("symlink"), std::string::npos) << through.error().message;
  Status st = m.unmount(dir / "root/proc");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ELOOP);
  EXPECT_FALSE(*m.isMountPoint(dir / "root")) << "the link itself is looked at, not followed";
  EXPECT_TRUE(m.unmount(dir / "root").ok()) << "nothing mounted there";
}

TEST(FakeMounter, RecordsCallsAndInjectsErrors) {
  FakeMounter m;
  m.failTarget("/b", makeError("busy", EBUSY), 1);
  m.failCall(3, makeError("nth", EIO));
  EXPECT_TRUE(m.mount("overlay", "/a", "overlay", 0, "lowerdir=/l").ok());
  EXPECT_EQ(m.mount("overlay", "/b", "overlay", 0, "").error().code, EBUSY);
  EXPECT_TRUE(m.mount("overlay", "/b", "overlay", 0, "").ok());
  EXPECT_EQ(m.unmount("/a").error().code, EIO);
  EXPECT_TRUE(m.unmount("/a", true).ok());
  EXPECT_EQ(m.calls,
            (std::vector<std::string>{"mount overlay /a", "mount overlay /b", "mount overlay /b",
                                      "unmount /a", "unmount-detach /a"}));
  EXPECT_EQ(m.mounted, (std::set<std::string>{"/b"}));
  EXPECT_EQ(m.data["/a"], "lowerdir=/l");
  EXPECT_TRUE(m.unmount("/never-mounted").ok());
}

}  // namespace
}  // namespace boxd::reconcilers
