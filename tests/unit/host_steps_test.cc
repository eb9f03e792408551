// The poddir, rootfs (overlay) and cgroup steps against FakeMounter, a FakeCgroupFs and temp dirs.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "reconcilers/cgroup/cgroup_step.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/poddir/poddir_step.h"
#include "reconcilers/rootfs/overlay_step.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/unit/host_test_util.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeCgroupFs;
using boxd::testing::FakeMounter;
using boxd::testing::SleepingChild;
using boxd::testing::TempDir;

bool isDir(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

mode_t modeOf(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- rootfs (overlay) ----

class OverlayStepTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(mkdirAll(paths.lowers[0]).ok()); }

  OverlayStep step(UnmountRetry retry = {0, 1}) { return OverlayStep(mounter, paths, retry); }

  TempDir dir;
  FakeMounter mounter;
  OverlayPaths paths{
      {dir / "image/rootfs"}, dir / "pod/c1/upper", dir / "pod/c1/work", dir / "pod/c1/rootfs"};
};

TEST_F(OverlayStepTest, ApplyCreatesDirsAndMountsOverlayOnce) {
  auto s = step();
  EXPECT_FALSE(*s.observe());
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE(s.apply().ok());  // already mounted: nothing to do
  EXPECT_EQ(mounter.calls, std::vector<std::string>{"mount overlay " + paths.target});
  EXPECT_EQ(mounter.data[paths.target],
            "lowerdir=" + paths.lowers[0] + ",upperdir=" + paths.upper + ",workdir=" + paths.work);
  EXPECT_TRUE(isDir(paths.upper));
  EXPECT_TRUE(isDir(paths.work));
  EXPECT_TRUE(isDir(paths.target));
  EXPECT_TRUE(*s.observe());
  EXPECT_EQ(s.kind(), "rootfs");
  EXPECT_EQ(s.resource(), paths.target);
}

TEST_F(OverlayStepTest, UndoUnmountsAndRemovesTargetAndIsIdempotent) {
  auto s = step();
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE(s.undo().ok());
  EXPECT_FALSE(isDir(paths.target));
  EXPECT_TRUE(isDir(paths.upper));  // the poddir step owns it
  ASSERT_TRUE(s.undo().ok());
  EXPECT_EQ(mounter.calls,
            (std::vector<std::string>{"mount overlay " + paths.target, "unmount " + paths.target}));
}

TEST_F(OverlayStepTest, UndoRetriesABusyUnmount) {
  auto s = step({3, 1});
  ASSERT_TRUE(s.apply().ok());
  mounter.failTarget(paths.target, makeError("unmount: busy", EBUSY), 2);
  ASSERT_TRUE(s.undo().ok());
  EXPECT_EQ(std::count(mounter.calls.begin(), mounter.calls.end(), "unmount " + paths.target), 3);
  EXPECT_FALSE(mounter.mounted.count(paths.target));
  EXPECT_FALSE(isDir(paths.target));
}

TEST_F(OverlayStepTest, UndoDetachesLazilyWhenStillBusyAndSaysSo) {
  auto s = step({2, 1});
  ASSERT_TRUE(s.apply().ok());
  mounter.failTarget(paths.target, makeError("unmount: busy", EBUSY), 3);
  Status st = s.undo();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EBUSY);
  EXPECT_TRUE(contains(st.error().message, "detached lazily")) << st.error().message;
  EXPECT_EQ(mounter.calls.back(), "unmount-detach " + paths.target);
  EXPECT_FALSE(isDir(paths.target));
  EXPECT_TRUE(s.undo().ok());  // a retry of the undo finds nothing left
}

TEST_F(OverlayStepTest, UndoReportsOtherUnmountErrorsAndKeepsTarget) {
  auto s = step();
  ASSERT_TRUE(s.apply().ok());
  mounter.failTarget(paths.target,
                     makeError("unmount " + paths.target + ": Invalid argument", EINVAL));
  Status st = s.undo();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EINVAL);
  EXPECT_TRUE(isDir(paths.target));
  EXPECT_EQ(mounter.calls.back(), "unmount " + paths.target);  // no detach for non-busy errors
}

TEST_F(OverlayStepTest, ApplyReportsMountFailure) {
  mounter.failTarget(paths.target,
                     makeError("mount overlay on " + paths.target + ": No such device", ENODEV));
  auto s = step();
  Status st = s.apply();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.error().message, "No such device"));
  EXPECT_FALSE(*s.observe());
}

TEST_F(OverlayStepTest, RejectsPathsOverlayOptionsCannotCarry) {
  for (const char* bad : {"/x,upperdir=/etc", "/a:b", "relative"}) {
    OverlayPaths p = paths;
    p.lowers = {bad};
    Status st = OverlayStep(mounter, p).apply();
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code, EINVAL);
  }
  EXPECT_TRUE(mounter.calls.empty());
}

TEST_F(OverlayStepTest, ApplyFailsWithoutTheImageRootfs) {
  paths.lowers = {dir / "missing-image"};
  Status st = step().apply();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.error().message, "missing-image")) << st.error().message;
  EXPECT_TRUE(mounter.calls.empty());
}

TEST_F(OverlayStepTest, RebuildsFromParams) {
  auto cg = makeCgroupsV2(dir / "cg", std::make_shared<FakeCgroupFs>());
  Host host{Paths{}, mounter, *cg};
  auto s = step();
  auto rebuilt = OverlayStep::fromParams(s.params(), host);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ((*rebuilt)->params(), s.params());
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE((*rebuilt)->undo().ok());  // undo works from params alone
  EXPECT_FALSE(mounter.mounted.count(paths.target));
  auto bad = OverlayStep::fromParams({{"lower", "/l"}}, host);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.error().message, "upper"));
  // A row journaled before layers names one "lower"; it is read back as one layer.
  auto old = OverlayStep::fromParams(
      {{"lower", "/l"}, {"upper", "/u"}, {"work", "/w"}, {"target", "/t"}}, host);
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ((*old)->params()["lowers"], nlohmann::json::array({"/l"}));
}

TEST_F(OverlayStepTest, StacksLayersTopFirstAndRecordsTheImage) {
  paths.lowers = {dir / "image/top", dir / "image/rootfs"};
  paths.image = "sha256:" + std::string(64, 'a');
  paths.container = "web";
  ASSERT_TRUE(mkdirAll(paths.lowers[0]).ok());
  ASSERT_TRUE(step().apply().ok());
  EXPECT_EQ(mounter.data[paths.target], "lowerdir=" + paths.lowers[0] + ":" + paths.lowers[1] +
                                            ",upperdir=" + paths.upper + ",workdir=" + paths.work);
  EXPECT_EQ(step().params()["image"], paths.image);
  EXPECT_EQ(step().params()["container"], "web");
}

TEST_F(OverlayStepTest, RefusesMoreLayersThanOverlayfsStacks) {
  paths.lowers.assign(kMaxLayers, dir / "image/rootfs");
  ASSERT_TRUE(overlayOptions(paths).ok());  // long options are the mounter's to pass on
  paths.lowers.push_back(dir / "image/rootfs");
  auto options = overlayOptions(paths);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.error().code, E2BIG);
  EXPECT_TRUE(contains(options.error().message, "501 layers")) << options.error().message;
}

// ---- poddir ----

TEST(PodDirStep, CreatesPrivateDirAndRemovesItWithContents) {
  TempDir dir;
  PodDirStep s(dir / "pods/uid-1");
  EXPECT_FALSE(*s.observe());
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE(s.apply().ok());
  EXPECT_TRUE(*s.observe());
  EXPECT_EQ(modeOf(dir / "pods/uid-1"), 0700u);
  ASSERT_TRUE(mkdirAll(dir / "pods/uid-1/c1/upper/etc").ok());
  ASSERT_TRUE(writeFileAtomic(dir / "pods/uid-1/c1/upper/etc/x", "x").ok());
  ASSERT_TRUE(s.undo().ok());
  EXPECT_FALSE(*s.observe());
  EXPECT_TRUE(isDir(dir / "pods"));
  ASSERT_TRUE(s.undo().ok());
  EXPECT_EQ(s.params(), (nlohmann::json{{"path", dir / "pods/uid-1"}}));
}

// A container's upper dir holds whatever the container made: symlinks to host directories and
// files are removed as links, never followed.
TEST(PodDirStep, UndoRemovesPlantedSymlinksWithoutFollowingThem) {
  TempDir dir, host;
  ASSERT_TRUE(writeFileAtomic(host / "file", "host data").ok());
  ASSERT_TRUE(mkdirAll(host / "dir/sub").ok());
  ASSERT_TRUE(writeFileAtomic(host / "dir/sub/keep", "host data").ok());
  PodDirStep s(dir / "pods/uid-1");
  ASSERT_TRUE(s.apply().ok());
  const std::string upper = dir / "pods/uid-1/containers/c/upper";
  ASSERT_TRUE(mkdirAll(upper + "/x").ok());
  for (const auto& [target, link] :
       {std::pair{host / "dir", upper + "/dir"}, std::pair{host / "file", upper + "/x/file"},
        std::pair{host / "dir/sub", upper + "/x/sub"},
        std::pair{std::string("../../../../../.."), upper + "/up"}})
    ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << link;
  ASSERT_TRUE(s.undo().ok());
  EXPECT_FALSE(*s.observe());
  EXPECT_TRUE(isDir(host / "dir/sub"));
  EXPECT_EQ(*readFile(host / "dir/sub/keep"), "host data");
  EXPECT_EQ(*readFile(host / "file"), "host data");
}

TEST(PodDirStep, RefusesUnsafePaths) {
  for (const char* bad : {"", "/", "relative/pod", "/var/lib/boxd/pods/../../etc"}) {
    PodDirStep s(bad);
    EXPECT_FALSE(s.apply().ok()) << bad;
    EXPECT_FALSE(s.undo().ok()) << bad;
  }
}

// ---- cgroup ----

class CgroupStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.controllers", "cpuset cpu io memory pids\n").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "cgroup.subtree_control", "").ok());
    cgroups = makeCgroupsV2(dir.path(), fs);
  }

  TempDir dir;
  std::shared_ptr<FakeCgroupFs> fs = std::make_shared<FakeCgroupFs>();
  std::unique_ptr<Cgroups> cgroups;
  FakeMounter mounter;
};

TEST_F(CgroupStepTest, ApplyObserveUndo) {
  CgroupLimits limits;
  limits.memoryBytes = 64 << 20;
  limits.pidsMax = 50;
  CgroupStep s(*cgroups, "boxd/web-1", limits);
  EXPECT_EQ(s.kind(), "cgroup");
  EXPECT_EQ(s.resource(), dir / "boxd/web-1");
  EXPECT_FALSE(*s.observe());
  ASSERT_TRUE(s.apply().ok());
  ASSERT_TRUE(s.apply().ok());
  EXPECT_TRUE(*s.observe());
  EXPECT_EQ(*readFile(dir / "boxd/web-1/memory.max"), std::to_string(64 << 20));

  SleepingChild child;
  ASSERT_TRUE(fs->write(dir / "boxd/web-1/cgroup.procs", std::to_string(child.pid())).ok());
  ASSERT_TRUE(s.undo().ok());
  int status = child.reap();
  ASSERT_NE(status, -1) << "child still running after undo";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(*s.observe());
  EXPECT_TRUE(isDir(dir / "boxd"));  // only the step's own cgroup goes
  ASSERT_TRUE(s.undo().ok());
}

TEST_F(CgroupStepTest, ParamsRoundTripThroughTheJournal) {
  CgroupLimits limits;
  limits.cpuLimitMilli = 500;
  limits.cpuRequestMilli = 250;
  CgroupStep s(*cgroups, "boxd/p", limits);
  EXPECT_EQ(s.params(),
            (nlohmann::json{{"rel", "boxd/p"},
                            {"limits", {{"cpuLimitMilli", 500}, {"cpuRequestMilli", 250}}}}));
  Host host{Paths{}, mounter, *cgroups};
  auto rebuilt = CgroupStep::fromParams(s.params(), host);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ((*rebuilt)->params(), s.params());
  EXPECT_FALSE(CgroupStep::fromParams({{"rel", 3}}, host).ok());
  EXPECT_FALSE(
      CgroupStep::fromParams({{"rel", "x"}, {"limits", {{"pidsMax", "many"}}}}, host).ok());
}

TEST_F(CgroupStepTest, ApplyReportsAFailedLimitWrite) {
  fs->writeErrors[dir / "boxd/p/pids.max"] = sysError("open", dir / "boxd/p/pids.max", EACCES);
  CgroupLimits limits;
  limits.pidsMax = 10;
  Status st = CgroupStep(*cgroups, "boxd/p", limits).apply();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(contains(st.error().message, "create cgroup boxd/p")) << st.error().message;
  EXPECT_TRUE(contains(st.error().message, "pids.max")) << st.error().message;
}

}  // namespace
}  // namespace boxd::reconcilers
