// Project quotas for real (reconcilers/quota/project_quota.h): a filesystem made on a loop
// device by the test (xfs, and ext4 with the project feature), mounted with prjquota in a
// private dir; a directory tagged with a project, a hard limit, writes past it refused, and the
// usage the filesystem counts. A tmpfs (no project quotas) answers "not supported". Skipped on
// a kernel that refuses the prjquota mount (this project's test host: CONFIG_XFS_QUOTA and
// CONFIG_QFMT_V2 are not set).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/quota/project_quota.h"
#include "tests/fixtures/block_tools.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {
namespace {

using namespace boxd::reconcilers;

bool runTool(const std::vector<std::string>& argv) {
  std::string cmd = "timeout 60";
  for (const auto& a : argv) cmd += " '" + a + "'";
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

// Writes up to bytes to path in 64 KiB writes; the bytes written and the errno that stopped it.
std::pair<int64_t, int> writeUpTo(const std::string& path, int64_t bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return {-1, errno};
  std::string block(1 << 16, 'q');
  int64_t done = 0;
  while (done < bytes) {
    ssize_t n = ::write(fd.get(), block.data(), block.size());
    if (n < 0) return {done, errno};
    done += n;
  }
  if (::fsync(fd.get()) != 0) return {done, errno};
  return {done, 0};
}

class QuotaTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  // mkfs on a sparse image, attach a loop device, mount with prjquota; all undone by td_.
  void makeFs(const std::string& type) {
    const std::string image = dir_ / "fs.img", mnt = dir_ / "mnt";
    Fd f(::open(image.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(::ftruncate(f.get(), int64_t{320} << 20), 0);
    if (type == "xfs")
      ASSERT_TRUE(runTool({"mkfs.xfs", "-q", "-f", image}));
    else
      ASSERT_TRUE(runTool(
          {"mkfs.ext4", "-q", "-F", "-O", "quota,project", "-E", "quotatype=prjquota", image}));
    auto dev = attachLoop(image);
    ASSERT_TRUE(dev.ok()) << dev.error().message;
    td_.add([d = *dev] { (void)detachLoop(d); });
    ASSERT_TRUE(mkdirAll(mnt, 0755).ok());
    if (::mount(dev->c_str(), mnt.c_str(), type.c_str(), 0, "prjquota") != 0) {
      // EINVAL: a kernel without project quotas for it (CONFIG_XFS_QUOTA, CONFIG_QFMT_V2).
      ASSERT_EQ(errno, EINVAL) << "mount " << type << " prjquota: " << std::strerror(errno);
      return;
    }
    td_.add([mnt] { (void)unmountBounded(mnt); });
    mnt_ = mnt;
  }
  TempDir dir_{"quota"};
  Teardown td_;
  std::string mnt_;
};

TEST_P(QuotaTest, AProjectsWritesStopAtItsLimitAndAreCounted) {
  makeFs(GetParam());
  if (HasFatalFailure()) return;
  if (mnt_.empty())
    GTEST_SKIP() << "this kernel cannot mount " << GetParam() << " with prjquota (EINVAL)";
  Fd root(::open(mnt_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root.valid());
  auto supported = projectQuotaSupported(root.get());
  ASSERT_TRUE(supported.ok()) << supported.error().message;
  ASSERT_TRUE(*supported);

  const std::string upper = mnt_ + "/upper";
  ASSERT_TRUE(mkdirAll(upper + "/pre", 0755).ok());
  Fd dir(::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());
  const uint32_t id = 4242;
  ASSERT_TRUE(assignProject(dir.get(), id).ok());
  ASSERT_TRUE(setProjectLimit(root.get(), id, 8 << 20).ok());
  ASSERT_TRUE(mkdirAll(upper + "/a/b", 0755).ok());
  Fd sub(::open((upper + "/a/b").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto inherited = projectOf(sub.get());
  ASSERT_TRUE(inherited.ok());
  EXPECT_EQ(*inherited, id) << "what is created beneath carries the project";

  auto [written, err] = writeUpTo(upper + "/a/b/fill", 32 << 20);
  EXPECT_TRUE(err == EDQUOT || err == ENOSPC) << std::strerror(err);
  EXPECT_LE(written, 8 << 20);
  EXPECT_GT(written, 4 << 20);
  auto used = projectUsage(root.get(), id);
  ASSERT_TRUE(used.ok()) << used.error().message;
  EXPECT_GE(*used, written - (1 << 20));
  EXPECT_LE(*used, (8 << 20) + (1 << 20));

  // Outside the project: the filesystem's other 300 MiB are untouched by the limit.
  auto [other, otherErr] = writeUpTo(mnt_ + "/other", 16 << 20);
  EXPECT_EQ(otherErr, 0) << std::strerror(otherErr);
  EXPECT_EQ(other, 16 << 20);
  // Removed, it is counted off; the limit lifted, the project writes again.
  ASSERT_EQ(::unlink((upper + "/a/b/fill").c_str()), 0);
  ::sync();
  used = projectUsage(root.get(), id);
  ASSERT_TRUE(used.ok());
  EXPECT_LT(*used, 1 << 20);
  ASSERT_TRUE(setProjectLimit(root.get(), id, 0).ok());
  auto [again, againErr] = writeUpTo(upper + "/big", 12 << 20);
  EXPECT_EQ(againErr, 0) << std::strerror(againErr);
}

INSTANTIATE_TEST_SUITE_P(Filesystems, QuotaTest, ::testing::Values("xfs", "ext4"));

TEST(QuotaSupport, ATmpfsHasNoProjectQuotas) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TempDir d("quota-tmpfs");
  ASSERT_EQ(::mount("tmpfs", d.path().c_str(), "tmpfs", 0, "size=1m"), 0);
  Fd root(::open(d.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto supported = projectQuotaSupported(root.get());
  root = Fd();
  ASSERT_EQ(::umount2(d.path().c_str(), 0), 0);
  ASSERT_TRUE(supported.ok()) << supported.error().message;
  EXPECT_FALSE(*supported);
}

}  // namespace
}  // namespace boxd::testing
