// Real kernel objects: overlay mounts of a busybox rootfs, tmpfs mounts, v1 cgroups and the
// cgroup2 tree. Skipped unless root. The test process moves into a private mount namespace
// first, so its mounts never reach the host; each test also unmounts what it mounted (by
// path, at scope exit) and removes the cgroups and kills the processes it created (by pid).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/fd.h"
#include "reconcilers/cgroup/cgroup_step.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/host/real_mounter.h"
#include "reconcilers/poddir/files_step.h"
#include "reconcilers/poddir/poddir_step.h"
#include "reconcilers/rootfs/overlay_step.h"
#include "reconcilers/step.h"
#include "reconcilers/volumes/legacy_bind_step.h"
#include "tests/unit/host_test_util.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::SleepingChild;
using boxd::testing::TempDir;

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

std::string read(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? trim(*r) : "<" + r.error().message + ">";
}

// Runs argv (optionally chrooted) and returns its wait status; kills it (by pid) at the deadline.
int run(const std::vector<std::string>& argv, const std::string& chrootDir = "",
        int timeoutMs = 10000) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    ::dup2(devnull, 1);
    if (!chrootDir.empty() && (::chroot(chrootDir.c_str()) != 0 || ::chdir("/") != 0)) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    if (monotonicMs() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    ::usleep(5000);
  }
}

// Detaches whatever is still mounted on `target` at scope exit (declare after the TempDir).
class MountGuard {
 public:
  explicit MountGuard(std::string target) : target_(std::move(target)) {}
  ~MountGuard() {
    RealMounter m;
    for (int i = 0; i < 8; ++i) {
      auto mounted = m.isMountPoint(target_);
      if (!mounted.ok() || !*mounted) break;
      (void)m.unmount(target_, true);
    }
  }

 private:
  std::string target_;
};

class HostPrivilegedTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    if (::unshare(CLONE_NEWNS) == 0)
      (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
};

// ---- overlay rootfs ----

class OverlayPrivilegedTest : public HostPrivilegedTest {
 protected:
  void SetUp() override {
    HostPrivilegedTest::SetUp();
    if (IsSkipped()) return;
    if (!exists("/bin/busybox")) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
    ASSERT_TRUE(mkdirAll(paths.lowers[0] + "/bin").ok());
    auto bytes = readFile("/bin/busybox");
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(writeFileAtomic(paths.lowers[0] + "/bin/busybox", *bytes, 0755).ok());
    int status = run({paths.lowers[0] + "/bin/busybox", "--install", "-s", paths.lowers[0] + "/bin"});
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "busybox --install: " << status;
    ASSERT_TRUE(exists(paths.lowers[0] + "/bin/sh"));
  }

  TempDir dir{"overlay"};
  OverlayPaths paths{{dir / "image/rootfs"}, dir / "pod/c1/upper", dir / "pod/c1/work",
                     dir / "pod/c1/rootfs"};
  MountGuard guard{paths.target};
  RealMounter mounter;
};

TEST_F(OverlayPrivilegedTest, MountsAUsableRootfsAndUnmounts) {
  OverlayStep step(mounter, paths);
  ASSERT_TRUE(step.apply().ok());
  ASSERT_TRUE(step.apply().ok());
  EXPECT_TRUE(*step.observe());
  auto table = readFile("/proc/self/mountinfo");
  ASSERT_TRUE(table.ok());
  size_t count = 0;
  std::istringstream lines(*table);
  for (std::string line; std::getline(lines, line);)
    if (split(line, ' ').size() > 4 && split(line, ' ')[4] == paths.target) ++count;
  EXPECT_EQ(count, 1u) << "apply twice must mount once";

  int status = run({"/bin/busybox", "true"}, paths.target);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "chroot into the overlay: " << status;
  ASSERT_TRUE(writeFileAtomic(paths.target + "/hello", "from the container").ok());
  EXPECT_EQ(read(paths.upper + "/hello"), "from the container");
  EXPECT_FALSE(exists(paths.lowers[0] + "/hello"));

  ASSERT_TRUE(step.undo().ok());
  EXPECT_FALSE(*step.observe());
  EXPECT_FALSE(exists(paths.target));
  EXPECT_TRUE(exists(paths.upper + "/hello"));
  ASSERT_TRUE(step.undo().ok());
}

TEST_F(OverlayPrivilegedTest, ABusyOverlayIsDetachedLazilyAndReported) {
  OverlayStep step(mounter, paths, UnmountRetry{1, 10});
  ASSERT_TRUE(step.apply().ok());
  ASSERT_TRUE(mkdirAll(paths.target + "/tmp").ok());
  Fd cwdHolder(::open((paths.target + "/tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(cwdHolder.valid());
  Fd busy(::openat(cwdHolder.get(), "held", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(busy.valid());
  Status st = step.undo();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EBUSY);
  EXPECT_NE(st.error().message.find("detached lazily"), std::string::npos) << st.error().message;
  EXPECT_FALSE(*step.observe());
  EXPECT_FALSE(exists(paths.target));
  busy.reset();
  cwdHolder.reset();
  EXPECT_TRUE(step.undo().ok());
}

// ---- RealMounter, poddir ----

TEST_F(HostPrivilegedTest, RealMounterMountsUnmountsAndToleratesAbsentMounts) {
  TempDir dir{"mounter"};
  const std::string target = dir / "with space";
  MountGuard guard(target);
  ASSERT_TRUE(mkdirAll(target).ok());
  RealMounter m;
  EXPECT_TRUE(m.unmount(target).ok());           // not a mount point
  EXPECT_TRUE(m.unmount(dir / "missing").ok());  // no such path
  ASSERT_TRUE(
      m.mount("boxd-test", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755").ok());
  EXPECT_TRUE(*m.isMountPoint(target));
  EXPECT_TRUE(*m.isMountPoint(target + "/"));
  Status bad = m.mount("none", dir / "missing", "tmpfs", 0, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("mount tmpfs (none) on " + dir / "missing"), std::string::npos)
      << bad.error().message;
  ASSERT_TRUE(m.unmount(target).ok());
  EXPECT_FALSE(*m.isMountPoint(target));
}

TEST_F(HostPrivilegedTest, PodDirUndoRefusesToCrossAMountPoint) {
  TempDir dir{"poddir"};
  PodDirStep step(dir / "pods/uid");
  MountGuard guard(dir / "pods/uid/vol");
  ASSERT_TRUE(step.apply().ok());
  ASSERT_TRUE(mkdirAll(dir / "pods/uid/vol").ok());
  RealMounter m;
  ASSERT_TRUE(m.mount("boxd-test", dir / "pods/uid/vol", "tmpfs", 0, "size=1m").ok());
  ASSERT_TRUE(writeFileAtomic(dir / "pods/uid/vol/data", "precious").ok());
  Status st = step.undo();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("mount point"), std::string::npos) << st.error().message;
  EXPECT_EQ(read(dir / "pods/uid/vol/data"), "precious");
  ASSERT_TRUE(m.unmount(dir / "pods/uid/vol").ok());
  ASSERT_TRUE(step.undo().ok());
  EXPECT_FALSE(*step.observe());
}

TEST_F(HostPrivilegedTest, RemoveAllRefusesABindMountOfTheSameFilesystem) {
  TempDir dir{"rmbind"}, host{"rmbind-host"};
  ASSERT_TRUE(writeFileAtomic(host / "precious", "host data").ok());
  ASSERT_TRUE(mkdirAll(dir / "pod/upper/bound").ok());
  MountGuard guard(dir / "pod/upper/bound");
  // Same filesystem (both in /tmp): st_dev alone cannot tell the bind from a plain directory.
  ASSERT_EQ(
      ::mount(host.path().c_str(), (dir / "pod/upper/bound").c_str(), nullptr, MS_BIND, nullptr),
      0);
  Status st = removeAll(dir / "pod");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("mount point"), std::string::npos) << st.error().message;
  EXPECT_EQ(read(host / "precious"), "host data");
}

// ---- pod files ----

TEST_F(HostPrivilegedTest, PodFilesAreRewrittenInPlaceUnderAContainersBind) {
  TempDir dir{"podfiles"};
  const std::string etc = dir / "pod/etc", rootfs = dir / "rootfs";
  MountGuard g1(rootfs + "/etc/hosts");
  ASSERT_TRUE(mkdirAll(rootfs + "/etc").ok());
  ASSERT_TRUE(writeFileAtomic(rootfs + "/etc/hosts", "image's\n").ok());
  FilesStep files(etc, {{"hosts", "10.88.0.5\tweb\n"}, {"resolv.conf", "nameserver 10.0.0.2\n"}});
  ASSERT_TRUE(files.apply().ok());
  // As the shim binds it in a container's namespace (agent/shim/mounts.h).
  ASSERT_EQ(
      ::mount((etc + "/hosts").c_str(), (rootfs + "/etc/hosts").c_str(), nullptr, MS_BIND, nullptr),
      0);
  EXPECT_EQ(read(rootfs + "/etc/hosts"), "10.88.0.5\tweb");
  // A file edited behind boxd's back is drift that apply rewrites in place: the container's bind
  // holds the same inode, so it sees boxd's content again.
  ASSERT_TRUE(writeFile(etc + "/hosts", "edited\n").ok());
  EXPECT_EQ(read(rootfs + "/etc/hosts"), "edited");
  EXPECT_FALSE(*files.observe());
  ASSERT_TRUE(files.repairableInPlace());
  ASSERT_TRUE(files.apply().ok());
  EXPECT_TRUE(*files.observe());
  EXPECT_EQ(read(rootfs + "/etc/hosts"), "10.88.0.5\tweb");
  ASSERT_EQ(::umount2((rootfs + "/etc/hosts").c_str(), 0), 0);
  ASSERT_TRUE(files.undo().ok());
  EXPECT_FALSE(exists(etc));
}

// ---- legacy "bind"/"binds" journal rows (undo only) ----

class LegacyBindTest : public HostPrivilegedTest {
 protected:
  void SetUp() override {
    HostPrivilegedTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(mkdirAll(rootfs + "/x/run").ok());
    ASSERT_TRUE(mkdirAll(dir / "volume").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "volume/data", "volume").ok());
    // What an older boxd did on the host: the volume bound into the container's rootfs.
    ASSERT_EQ(
        ::mount((dir / "volume").c_str(), (rootfs + "/x/run").c_str(), nullptr, MS_BIND, nullptr),
        0);
  }
  std::unique_ptr<Step> legacy(const std::string& kind) {
    nlohmann::json bind = {
        {"source", dir / "volume"},       {"subPath", ""},     {"rootfs", rootfs},
        {"mountPath", "/x/run"},          {"readOnly", false}, {"createSubPath", true},
        {"hostTarget", rootfs + "/x/run"}};
    nlohmann::json params = kind == "bind" ? bind : nlohmann::json{{"binds", {bind}}};
    auto step = stepFromJournal(kind, params, host);
    EXPECT_TRUE(step.ok()) << step.error().message;
    return step.ok() ? std::move(*step) : nullptr;
  }

  TempDir dir{"legacy"};
  const std::string rootfs = dir / "rootfs";
  MountGuard guard{rootfs + "/x/run"}, moved{rootfs + "/x2/run"};
  RealMounter mounter;
  std::unique_ptr<Cgroups> cgroups = makeCgroupsV1(dir / "no-cgroups");
  Host host{Paths{}, mounter, *cgroups};
};

TEST_F(LegacyBindTest, UndoUnmountsThroughTheResolvedFdAndIsIdempotent) {
  for (const char* kind : {"bind", "binds"}) {
    if (std::string(kind) == "binds") {  // bound again for the second kind
      ASSERT_EQ(
          ::mount((dir / "volume").c_str(), (rootfs + "/x/run").c_str(), nullptr, MS_BIND, nullptr),
          0);
    }
    auto step = legacy(kind);
    ASSERT_TRUE(step);
    EXPECT_TRUE(*step->observe()) << "legacy rows never report drift";
    Status apply = step->apply();
    ASSERT_FALSE(apply.ok()) << kind;
    EXPECT_NE(apply.error().message.find("no longer planned"), std::string::npos);
    ASSERT_TRUE(*mounter.isMountPoint(rootfs + "/x/run"));
    ASSERT_TRUE(step->undo().ok()) << kind;
    EXPECT_FALSE(*mounter.isMountPoint(rootfs + "/x/run")) << kind;
    EXPECT_TRUE(step->undo().ok()) << kind << ": undo twice";
  }
  ASSERT_TRUE(removeAll(rootfs).ok());
  EXPECT_TRUE(legacy("bind")->undo().ok()) << "no rootfs left: nothing to undo";
}

// The attack of issue 10 against a legacy row: the container renamed /x and put a symlink to a
// host dir holding a mount at run in its place. The undo refuses, the host mount stays.
TEST_F(LegacyBindTest, UndoRefusesASymlinkedPathAndLeavesTheHostAlone) {
  TempDir victim{"legacy-victim"};
  ASSERT_TRUE(mkdirAll(victim / "run").ok());
  MountGuard victimGuard(victim / "run");
  ASSERT_TRUE(mounter.mount("boxd-test", victim / "run", "tmpfs", 0, "size=1m").ok());
  ASSERT_TRUE(writeFileAtomic(victim / "run/marker", "host data").ok());
  ASSERT_EQ(::rename((rootfs + "/x").c_str(), (rootfs + "/x2").c_str()), 0);
  ASSERT_EQ(::symlink(victim.path().c_str(), (rootfs + "/x").c_str()), 0);

  for (const char* kind : {"bind", "binds"}) {
    Status st = legacy(kind)->undo();
    ASSERT_FALSE(st.ok()) << kind;
    EXPECT_EQ(st.error().code, ELOOP) << st.error().message;
    EXPECT_NE(st.error().message.find("/x/run"), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("refused"), std::string::npos) << st.error().message;
    EXPECT_TRUE(*mounter.isMountPoint(victim / "run")) << kind;
    EXPECT_EQ(read(victim / "run/marker"), "host data");
    EXPECT_TRUE(*mounter.isMountPoint(rootfs + "/x2/run")) << "left to the rootfs unmount";
  }
  // A last component swapped for a symlink is refused as well.
  ASSERT_EQ(::unlink((rootfs + "/x").c_str()), 0);
  ASSERT_TRUE(mkdirAll(rootfs + "/x").ok());
  ASSERT_EQ(::symlink((victim / "run").c_str(), (rootfs + "/x/run").c_str()), 0);
  Status last = legacy("bind")->undo();
  ASSERT_FALSE(last.ok());
  EXPECT_EQ(last.error().code, ELOOP) << last.error().message;
  EXPECT_TRUE(*mounter.isMountPoint(victim / "run"));
}

// ---- cgroups ----

// Kills (bounded) and removes a test's cgroup parent at scope exit.
class CgroupGuard {
 public:
  CgroupGuard(Cgroups& cg, std::string rel) : cg_(cg), rel_(std::move(rel)) {}
  ~CgroupGuard() {
    (void)cg_.killAll(rel_, 2000);
    (void)cg_.remove(rel_);
  }

 private:
  Cgroups& cg_;
  std::string rel_;
};

TEST_F(HostPrivilegedTest, CgroupsV1LimitsKillAllAndRemoval) {
  if (exists("/sys/fs/cgroup/cgroup.controllers")) GTEST_SKIP() << "this host uses cgroup v2 only";
  auto detected = detectCgroups();
  ASSERT_TRUE(detected.ok()) << detected.error().message;
  EXPECT_EQ((*detected)->version(), "v1");
  auto cg = makeCgroupsV1();
  for (const auto& c : cg->missingControllers())
    GTEST_SKIP() << "no v1 " << c << " controller here";

  const std::string parent = "boxd-test-" + randomHex(4);
  CgroupGuard guard(*cg, parent);
  CgroupLimits limits;
  limits.memoryBytes = 64 << 20;
  limits.cpuLimitMilli = 500;
  limits.cpuRequestMilli = 250;
  limits.pidsMax = 100;
  ASSERT_TRUE(cg->create(parent + "/pod", limits).ok());
  EXPECT_EQ(read("/sys/fs/cgroup/memory/" + parent + "/pod/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(read("/sys/fs/cgroup/cpu/" + parent + "/pod/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read("/sys/fs/cgroup/cpu/" + parent + "/pod/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read("/sys/fs/cgroup/cpu/" + parent + "/pod/cpu.shares"), "256");
  EXPECT_EQ(read("/sys/fs/cgroup/pids/" + parent + "/pod/pids.max"), "100");
  EXPECT_TRUE(*cg->exists(parent + "/pod"));

  SleepingChild child;
  for (const auto& f : cg->procsFiles(parent + "/pod"))
    ASSERT_TRUE(writeFile(f, std::to_string(child.pid())).ok()) << f;
  EXPECT_EQ(*cg->pids(parent), std::vector<pid_t>{child.pid()});
  Status busy = cg->remove(parent);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code, EBUSY) << busy.error().message;

  ASSERT_TRUE(cg->killAll(parent, 5000).ok());
  int status = child.reap();
  ASSERT_NE(status, -1) << "child survived killAll";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE(cg->remove(parent).ok());
  for (const char* c : {"memory", "cpu", "pids"})
    EXPECT_FALSE(exists(std::string("/sys/fs/cgroup/") + c + "/" + parent)) << c;
}

TEST_F(HostPrivilegedTest, CgroupStepOnTheCgroup2Tree) {
  const std::string root =
      exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
  if (!exists(root + "/cgroup.procs") || !exists(root + "/cgroup.controllers"))
    GTEST_SKIP() << "no cgroup2 mount";
  auto cg = makeCgroupsV2(root);
  const std::string parent = "boxd-test-" + randomHex(4);
  CgroupGuard guard(*cg, parent);
  CgroupLimits limits;
  limits.pidsMax = 100;
  CgroupStep step(*cg, parent + "/pod", limits);
  ASSERT_TRUE(step.apply().ok());
  EXPECT_TRUE(*step.observe());
  const auto missing = cg->missingControllers();
  if (std::find(missing.begin(), missing.end(), "pids") == missing.end()) {
    EXPECT_EQ(read(root + "/" + parent + "/pod/pids.max"), "100");
  }

  SleepingChild child;
  ASSERT_TRUE(
      writeFile(root + "/" + parent + "/pod/cgroup.procs", std::to_string(child.pid())).ok());
  EXPECT_EQ(*cg->pids(parent), std::vector<pid_t>{child.pid()});
  ASSERT_TRUE(step.undo().ok());
  int status = child.reap();
  ASSERT_NE(status, -1) << "child survived the cgroup step's undo";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_FALSE(*step.observe());
  ASSERT_TRUE(cg->remove(parent).ok());
  EXPECT_FALSE(exists(root + "/" + parent));
}

}  // namespace
}  // namespace boxd::reconcilers
