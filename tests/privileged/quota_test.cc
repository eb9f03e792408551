// Project quotas on a real filesystem: a small xfs (and ext4 -O project) image the test makes on
// a loop device and removes. What this host's kernel runs for real: project IDs with the inherit
// flag set and read through FS_IOC_FSSETXATTR / FS_IOC_FSGETXATTR on directory fds, inherited by
// what is created beneath, and detection reporting "no quotas" for it, so boxd keeps the
// measured path. Where the kernel mounts the image with prjquota (not this project's test host:
// no CONFIG_XFS_QUOTA, no CONFIG_QFMT_V2), the same test runs the projquota step for real:
// the hard limit refuses a write with EDQUOT and Q_GETQUOTA reports the usage.
//
// Every command is bounded (runCommand's deadline); the mount and the loop device are undone by
// a Teardown even when an assertion fails half-way.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/quota/project_quota.h"
#include "reconcilers/quota/quota_step.h"
#include "tests/fixtures/block_tools.h"
#include "tests/fixtures/process.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::runCommand;
using boxd::testing::Teardown;
using boxd::testing::TempDir;

constexpr int64_t kCommandMs = 60000;
constexpr uint32_t kProject = 1500000001;

struct Image {
  std::string fsType;
  std::vector<std::string> mkfs;  // the image path is appended
  int64_t bytes;
};
// gtest shows a parameter in test listings and skips: the filesystem's name, not raw bytes.
void PrintTo(const Image& i, std::ostream* os) { *os << i.fsType; }

class ProjectQuotaFsTest : public ::testing::TestWithParam<Image> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    const Image& img = GetParam();
    const std::string file = dir_ / "fs.img";
    Fd f(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(f) << std::strerror(errno);
    ASSERT_EQ(::ftruncate(f.get(), img.bytes), 0) << std::strerror(errno);
    std::vector<std::string> mkfs = img.mkfs;
    mkfs.push_back(file);
    auto made = runCommand(mkfs, kCommandMs);
    ASSERT_TRUE(made.ok()) << made.error().message;
    if (!made->ok()) GTEST_SKIP() << mkfs[0] << " refused: " << made->output;
    auto loop = runCommand({"losetup", "--find", "--show", file}, kCommandMs);
    ASSERT_TRUE(loop.ok() && loop->ok()) << (loop.ok() ? loop->output : loop.error().message);
    device_ = trim(loop->output);
    teardown_.add([dev = device_] { (void)runCommand({"losetup", "-d", dev}, kCommandMs); });
    mnt_ = dir_ / "mnt";
    ASSERT_TRUE(mkdirAll(mnt_, 0755).ok());
    // prjquota where the kernel can (then the full quota path runs), plain mount otherwise.
    prjquota_ = ::mount(device_.c_str(), mnt_.c_str(), img.fsType.c_str(), 0, "prjquota") == 0;
    if (!prjquota_ && ::mount(device_.c_str(), mnt_.c_str(), img.fsType.c_str(), 0, "") != 0) {
      const std::string why = std::strerror(errno);
      // ext4's project feature needs CONFIG_QFMT_V2, which this project's test host lacks; xfs
      // keeps project IDs in its inodes without quota support, so it must mount.
      if (img.fsType != "xfs") GTEST_SKIP() << "the kernel refuses " << img.fsType << ": " << why;
      FAIL() << "mount " << img.fsType << " " << device_ << ": " << why;
    }
    teardown_.add([m = mnt_] {
      if (::umount2(m.c_str(), 0) != 0) (void)::umount2(m.c_str(), MNT_DETACH);
    });
    pods_ = mnt_ + "/pods";
    ASSERT_TRUE(mkdirAll(pods_ + "/u1", 0700).ok());
    auto sys = RealProjectQuotaSys::open(pods_, device_);
    ASSERT_TRUE(sys.ok()) << sys.error().message;
    sys_ = std::move(*sys);
  }
  void TearDown() override {
    sys_.reset();  // its fd keeps the filesystem busy
    teardown_.run();
  }

  Fd openDir(const std::string& path) {
    return Fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }

  TempDir dir_{"quota-fs"};
  Teardown teardown_;
  std::string device_, mnt_, pods_;
  bool prjquota_ = false;
  std::unique_ptr<RealProjectQuotaSys> sys_;
};

TEST_P(ProjectQuotaFsTest, ProjectIdsAreSetOnDirectoryFdsAndInheritedBeneath) {
  ASSERT_TRUE(mkdirAll(pods_ + "/u1/containers/app/upper", 0755).ok());
  Fd upper = openDir(pods_ + "/u1/containers/app/upper");
  ASSERT_TRUE(upper) << std::strerror(errno);
  auto before = sys_->getProject(upper.get());
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before->projectId, 0u);
  EXPECT_FALSE(before->inherit);

  Status set = sys_->setProject(upper.get(), {kProject, true});
  ASSERT_TRUE(set.ok()) << set.error().message;
  auto after = sys_->getProject(upper.get());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->projectId, kProject);
  EXPECT_TRUE(after->inherit);

  // What a container then writes in its layer carries the ID: a dir and a file beneath.
  ASSERT_TRUE(mkdirAll(pods_ + "/u1/containers/app/upper/etc/app", 0755).ok());
  Fd file(::open((pods_ + "/u1/containers/app/upper/etc/app/conf").c_str(),
                 O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(file);
  auto inherited = sys_->getProject(file.get());
  ASSERT_TRUE(inherited.ok()) << inherited.error().message;
  EXPECT_EQ(inherited->projectId, kProject);
  Fd nested = openDir(pods_ + "/u1/containers/app/upper/etc/app");
  auto nestedAttr = sys_->getProject(nested.get());
  ASSERT_TRUE(nestedAttr.ok());
  EXPECT_EQ(nestedAttr->projectId, kProject);
  EXPECT_TRUE(nestedAttr->inherit) << "directories pass the flag on";

  // Cleared again: ID 0, no inherit, the other flags kept.
  ASSERT_TRUE(sys_->setProject(upper.get(), {0, false}).ok());
  auto cleared = sys_->getProject(upper.get());
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->projectId, 0u);
  EXPECT_FALSE(cleared->inherit);
}

TEST_P(ProjectQuotaFsTest, DetectionMatchesWhatTheKernelMounted) {
  QuotaSupport s = detectProjectQuotaAt(pods_, sys_.get());
  if (!prjquota_) {
    EXPECT_FALSE(s.enabled) << s.detail;
    EXPECT_NE(s.detail.find("is not mounted with prjquota"), std::string::npos) << s.detail;
    EXPECT_NE(s.detail.find(GetParam().fsType + " on " + device_), std::string::npos) << s.detail;
    // And Q_GETQUOTA itself: no project quotas on this filesystem.
    auto q = sys_->getQuota(kProject);
    EXPECT_FALSE(q.ok());
    return;
  }
  EXPECT_TRUE(s.enabled) << s.detail;
}

// Runs only where the kernel mounts the image with prjquota (skipped on this project's host).
TEST_P(ProjectQuotaFsTest, TheStepEnforcesAHardLimitWhereTheKernelHasQuotas) {
  if (!prjquota_) GTEST_SKIP() << "this kernel mounts " << GetParam().fsType << " without prjquota";
  ProjectQuotaParams p{pods_ + "/u1",
                       kProject,
                       4 << 20,
                       "container app",
                       {{"containers/app/upper", 0755}, {"containers/app/work", 0700}}};
  ProjectQuotaStep step(*sys_, p);
  ASSERT_TRUE(step.apply().ok());
  Fd f(::open((pods_ + "/u1/containers/app/upper/big").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC,
              0644));
  ASSERT_TRUE(f);
  std::string chunk(1 << 20, 'x');
  int err = 0;
  for (int i = 0; i < 8 && err == 0; ++i) {
    if (::write(f.get(), chunk.data(), chunk.size()) < 0) err = errno;
    if (err == 0 && ::fsync(f.get()) != 0) err = errno;
  }
  EXPECT_EQ(err, EDQUOT);
  auto used = sys_->getQuota(kProject);
  ASSERT_TRUE(used.ok()) << used.error().message;
  EXPECT_GT(used->bytes, 3 << 20);
  EXPECT_EQ(used->hardLimitBytes, 4 << 20);
  f.reset();
  ASSERT_TRUE(step.undo().ok());
  auto after = sys_->getQuota(kProject);
  if (after.ok()) {
    EXPECT_EQ(after->bytes, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Filesystems, ProjectQuotaFsTest,
                         ::testing::Values(Image{"xfs", {"mkfs.xfs", "-q", "-f"}, 300 << 20},
                                           Image{"ext4",
                                                 {"mkfs.ext4", "-q", "-F", "-I", "256", "-O",
                                                  "project"},
                                                 64 << 20}),
                         [](const auto& p) { return p.param.fsType; });

}  // namespace
}  // namespace boxd::reconcilers
