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

TEST(RealMounter, FindsTargetsInAMountinfoFileIncludingEscapedSpaces) {
  TempDir dir;
  const std::string table = dir / "mountinfo";
  ASSERT_TRUE(writeFileAtomic(table,
                              "22 1 0:21 / /proc rw,relatime - proc proc rw\n"
                              "40 22 254:0 /x /var/lib/my\\040pods rw,relatime - ext4 /dev/vda rw\n"
                              "41 22 0:50 / /run/boxd/a rw - overlay overlay rw,lowerdir=/l\n")
                  .ok());
  RealMounter m(table);
  EXPECT_TRUE(*m.isMountPoint("/proc"));
  EXPECT_TRUE(*m.isMountPoint("/proc/"));
  EXPECT_TRUE(*m.isMountPoint("/var/lib/my pods"));
  EXPECT_TRUE(*m.isMountPoint("/run//boxd/a"));
  EXPECT_FALSE(*m.isMountPoint("/run/boxd"));
  EXPECT_FALSE(*m.isMountPoint("/var/lib/my"));
}

TEST(RealMounter, RejectsRelativeTargetsAndReportsAnUnreadableTable) {
  RealMounter m("/nonexistent/mountinfo-" + randomHex(4));
  auto rel = m.isMountPoint("relative/path");
  ASSERT_FALSE(rel.ok());
  EXPECT_EQ(rel.error().code, EINVAL);
  auto missing = m.isMountPoint("/proc");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/mountinfo-"), std::string::npos)
      << missing.error().message;
}

TEST(RealMounter, ReadsThisProcessMountTable) {
  RealMounter m;
  EXPECT_TRUE(*m.isMountPoint("/"));
  EXPECT_TRUE(*m.isMountPoint("/proc"));
  EXPECT_FALSE(*m.isMountPoint("/proc/self"));
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
