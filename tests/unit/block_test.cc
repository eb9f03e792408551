// Block volumes without a kernel: the registry's sharing rules (one set-up per resource, the last
// user tears down, a lock across both), the plan of iscsi and rbd volumes, and the filesystem
// decisions (never mkfs a device holding data) probed on plain files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "agent/pod_plan.h"
#include "common/util.h"
#include "reconcilers/block/block_registry.h"
#include "reconcilers/block/block_steps.h"
#include "reconcilers/block/filesystem.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "tests/support/temp_dir.h"

namespace boxd::reconcilers {
namespace {

using testing::TempDir;

TEST(BlockRegistry, FirstUserSetsUpLastUserTearsDown) {
  BlockRegistry reg;
  int setUps = 0, tearDowns = 0;
  auto setUp = [&](const std::vector<BlockUser>& others) -> Status {
    if (others.empty()) ++setUps;
    return {};
  };
  ASSERT_TRUE(reg.acquire("session t", {"pod1/data", false}, setUp).ok());
  ASSERT_TRUE(reg.acquire("session t", {"pod2/data", true}, setUp).ok());
  EXPECT_EQ(setUps, 1);
  EXPECT_EQ(reg.users("session t").size(), 2u);
  auto tearDown = [&]() -> Status {
    ++tearDowns;
    return {};
  };
  ASSERT_TRUE(reg.release("session t", "pod1/data", tearDown).ok());
  EXPECT_EQ(tearDowns, 0) << "another pod still uses the session";
  ASSERT_TRUE(reg.release("session t", "pod2/data", tearDown).ok());
  EXPECT_EQ(tearDowns, 1);
  EXPECT_TRUE(reg.users("session t").empty());
  // Undo of what was never applied (a journal row left "intent"): absent = success, idempotent.
  ASSERT_TRUE(reg.release("session t", "pod3/data", tearDown).ok());
  EXPECT_EQ(tearDowns, 2);
}

TEST(BlockRegistry, FailuresKeepTheStateARetryNeeds) {
  BlockRegistry reg;
  auto fail = [](const std::vector<BlockUser>&) -> Status { return makeError("login failed"); };
  EXPECT_FALSE(reg.acquire("k", {"pod1/v", false}, fail).ok());
  EXPECT_TRUE(reg.users("k").empty()) << "a failed set-up registers nobody";
  ASSERT_TRUE(reg.acquire("k", {"pod1/v", false}, [](auto&) { return Status{}; }).ok());
  EXPECT_FALSE(reg.release("k", "pod1/v", [] { return Status(makeError("busy")); }).ok());
  EXPECT_EQ(reg.users("k").size(), 1u) << "a failed teardown keeps its user for the retry";
}

TEST(BlockRegistry, SetUpAndTearDownOfOneKeyNeverInterleave) {
  BlockRegistry reg;
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  auto work = [&]() -> Status {
    if (inside.fetch_add(1) != 0) overlapped = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    inside.fetch_sub(1);
    return {};
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string id = "pod" + std::to_string(t) + "/v";
        (void)reg.acquire("k", {id, false}, [&](auto&) { return work(); });
        (void)reg.release("k", id, work);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overlapped);
  EXPECT_TRUE(reg.users("k").empty());
}

specs::Volume iscsiVolume(const std::string& name, int64_t lun,
                          std::vector<std::string> portals = {}) {
  specs::Volume v;
  v.name = name;
  specs::IscsiVolume i;
  i.targetPortal = "127.0.0.1:3260";
  i.portals = std::move(portals);
  i.iqn = "iqn.2026-11.io.boxd:store";
  i.lun = lun;
  i.chapAuthSession = true;
  i.secretRef = "chap-store";
  v.iscsi = i;
  return v;
}

specs::Volume rbdVolume(const std::string& name) {
  specs::Volume v;
  v.name = name;
  specs::RbdVolume r;
  r.monitors = {"127.0.0.1:6789"};
  r.image = "web-data";
  r.secretRef = "ceph";
  v.rbd = r;
  return v;
}

TEST(BlockPlan, IscsiVolumeIsSessionDeviceFilesystem) {
  specs::PodSpec pod;
  pod.name = "db";
  pod.volumes = {iscsiVolume("data", 1)};
  specs::Container c;
  c.name = "app";
  c.image = "busybox";
  c.volumeMounts = {{"data", "/data", false, ""}};
  pod.containers = {c};
  Paths paths;
  paths.runDir = "/run/x";
  auto cg = makeCgroupsV1();
  agent::BlockPlan bp;
  bp.initiatorName = "iqn.2026-12.io.boxd:host";  // the planner's, not the default's
  auto plan =
      agent::planPod(paths, *cg, pod, "0123456789abcdef0123456789abcdef", {"/lower"}, {}, bp);
  std::vector<std::string> kinds;
  for (const auto& s : plan) kinds.push_back(s.kind);
  auto at = std::find(kinds.begin(), kinds.end(), "blocksession");
  ASSERT_NE(at, kinds.end());
  EXPECT_EQ(*(at + 1), "blockdevice");
  EXPECT_EQ(*(at + 2), "blockfs");
  const auto& fs = plan[static_cast<size_t>(at - kinds.begin()) + 2].params;
  EXPECT_EQ(fs["user"], "0123456789abcdef0123456789abcdef/data");
  EXPECT_EQ(fs["fsType"], "ext4");
  auto pp = agent::podPaths(paths, pod.name, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(fs["mountPath"], agent::volumeHostPath(pp, pod.volumes[0]))
      << "the containers bind what the filesystem step mounts";
  EXPECT_TRUE(startsWith(fs["mountPath"].get<std::string>(), "/run/x/block/mounts/iscsi-"));
  // No secret value ever goes into a journaled step: only the Secret's name.
  EXPECT_EQ(fs["volume"]["secretRef"], "chap-store");
}

TEST(BlockPlan, KeysShareSessionsPerTargetAndDevicesPerLun) {
  auto a = agent::blockVolumeOf(iscsiVolume("a", 1));
  auto b = agent::blockVolumeOf(iscsiVolume("b", 2));
  auto c = agent::blockVolumeOf(iscsiVolume("c", 1, {"127.0.0.1:3261"}));
  EXPECT_EQ(a.sessionKey, b.sessionKey) << "two LUNs of one target share one session";
  EXPECT_NE(a.deviceKey, b.deviceKey);
  EXPECT_EQ(a.deviceKey, c.deviceKey) << "the same LUN through other portals is the same device";
  EXPECT_EQ(c.portals, (std::vector<std::string>{"127.0.0.1:3260", "127.0.0.1:3261"}));
  EXPECT_NE(blockMountPath("/m", a), blockMountPath("/m", b));
}

TEST(BlockPlan, KernelRbdHasNoSessionStep) {
  specs::PodSpec pod;
  pod.name = "web";
  pod.volumes = {rbdVolume("data")};
  specs::Container c;
  c.name = "app";
  c.image = "busybox";
  pod.containers = {c};
  auto cg = makeCgroupsV1();
  agent::BlockPlan bp;
  bp.rbdBackend = "rbd-kernel";
  auto plan = agent::planPod(Paths{}, *cg, pod, std::string(32, 'a'), {"/lower"}, {}, bp);
  int sessions = 0, devices = 0;
  for (const auto& s : plan) {
    sessions += s.kind == "blocksession";
    devices += s.kind == "blockdevice";
  }
  EXPECT_EQ(sessions, 0);
  EXPECT_EQ(devices, 1);
}

TEST(BlockVolumeJson, RoundTrips) {
  auto v = agent::blockVolumeOf(iscsiVolume("a", 7, {"10.0.0.2:3260"}));
  v.chapDiscovery = true;
  auto back = blockVolumeFromJson(blockVolumeToJson(v));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(blockVolumeToJson(*back), blockVolumeToJson(v));
  auto r = agent::blockVolumeOf(rbdVolume("d"));
  r.provisionBytes = 1 << 30;
  r.provisionFeatures = {"layering"};
  auto rb = blockVolumeFromJson(blockVolumeToJson(r));
  ASSERT_TRUE(rb.ok());
  EXPECT_EQ(rb->provisionBytes, int64_t{1} << 30);
  EXPECT_FALSE(blockVolumeFromJson(nlohmann::json{{"backend", 3}}).ok());
}

TEST(BlockVolumeJson, MonitorsAsLibradosReadsThem) {
  EXPECT_EQ(monHost({"10.16.154.78:6789", "10.16.154.82:3300", "127.0.0.1:40123"}),
            "v1:10.16.154.78:6789,v2:10.16.154.82:3300,v2:127.0.0.1:40123");
  EXPECT_EQ(monHost({"v1:1.2.3.4:7000", "[v2:1.2.3.4:3300,v1:1.2.3.4:6789]", "mon.example"}),
            "v1:1.2.3.4:7000,[v2:1.2.3.4:3300,v1:1.2.3.4:6789],mon.example");
  EXPECT_EQ(monHost({"[::1]:6789", "[fd00::2]:3300", "[fd00::3]"}),
            "v1:[::1]:6789,v2:[fd00::2]:3300,[fd00::3]");
}

// ---- filesystem decisions, probed on plain files -------------------------------------------

class FakeRunner : public CommandRunner {
 public:
  std::vector<std::vector<std::string>> calls;
  int exitCode = 0;
  bool realMkfs = false;  // run mkfs for real (on a plain file: no root needed)
  Result<CommandResult> run(const std::vector<std::string>& argv, int64_t,
                            const std::string&) override {
    calls.push_back(argv);
    CommandResult r;
    r.exitCode = exitCode;
    if (realMkfs) {
      std::string cmd;
      for (const auto& a : argv) cmd += "'" + a + "' ";
      r.exitCode = ::system((cmd + ">/dev/null 2>&1").c_str()) == 0 ? 0 : 1;
    }
    return r;
  }
};

std::string sizedFile(const TempDir& dir, const std::string& name, off_t size) {
  std::string path = dir.path() + "/" + name;
  int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
  return path;
}

TEST(BlockFilesystem, BlankDeviceIsFormattedOnceThenChecked) {
  TempDir dir;
  std::string dev = sizedFile(dir, "disk", 64 << 20);
  FakeRunner runner;
  runner.realMkfs = true;
  auto first = prepareFilesystem(runner, dev, "ext4", false, 60000);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(first->formatted);
  ASSERT_EQ(runner.calls.size(), 1u);
  EXPECT_EQ(runner.calls[0], mkfsArgv("ext4", dev));
  auto probed = probeDevice(dev);
  ASSERT_TRUE(probed.ok());
  EXPECT_EQ(probed->kind, DeviceContent::Filesystem);
  EXPECT_EQ(probed->type, "ext4");
  auto second = prepareFilesystem(runner, dev, "ext4", false, 60000);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_FALSE(second->formatted) << "a filesystem is never formatted again";
  EXPECT_EQ(runner.calls.back(), (std::vector<std::string>{"e2fsck", "-p", dev}));
  runner.calls.clear();
  auto ro = prepareFilesystem(runner, dev, "ext4", true, 60000);
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE(runner.calls.empty()) << "read-only: no fsck, no mkfs";
}

TEST(BlockFilesystem, NeverFormatsADeviceHoldingData) {
  TempDir dir;
  FakeRunner runner;
  std::string blank = sizedFile(dir, "blank", 8 << 20);
  auto ro = prepareFilesystem(runner, blank, "ext4", true, 1000);
  ASSERT_FALSE(ro.ok());
  EXPECT_NE(ro.error().message.find("blank and the volume is read-only"), std::string::npos);
  // An MBR partition table (one partition entry, boot signature).
  std::string pt = sizedFile(dir, "pt", 8 << 20);
  int fd = ::open(pt.c_str(), O_RDWR | O_CLOEXEC);
  unsigned char mbr[512] = {};
  mbr[446 + 4] = 0x83;         // Linux partition type
  mbr[446 + 8] = 2048 & 0xff;  // start LBA 2048
  mbr[446 + 9] = 2048 >> 8;
  mbr[446 + 12] = 0x00, mbr[446 + 13] = 0x20;  // 8192 sectors
  mbr[510] = 0x55, mbr[511] = 0xaa;
  ASSERT_EQ(::pwrite(fd, mbr, sizeof mbr, 0), 512);
  ::close(fd);
  auto r = prepareFilesystem(runner, pt, "ext4", false, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("partition table"), std::string::npos) << r.error().message;
  EXPECT_TRUE(runner.calls.empty());
  // A filesystem of another type than asked: refused, not reformatted.
  std::string x = sizedFile(dir, "ext2", 16 << 20);
  ASSERT_EQ(::system(("mkfs.ext2 -q -F " + x + " >/dev/null 2>&1").c_str()), 0);
  auto other = prepareFilesystem(runner, x, "xfs", false, 1000);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("holds ext2, the volume asks for xfs"), std::string::npos)
      << other.error().message;
  EXPECT_TRUE(runner.calls.empty());
}

TEST(BlockFilesystem, FsckResultsAreJudged) {
  TempDir dir;
  std::string dev = sizedFile(dir, "disk", 16 << 20);
  ASSERT_EQ(::system(("mkfs.ext4 -q -F " + dev + " >/dev/null 2>&1").c_str()), 0);
  FakeRunner runner;
  runner.exitCode = 1;
  auto fixed = prepareFilesystem(runner, dev, "ext4", false, 1000);
  ASSERT_TRUE(fixed.ok());
  EXPECT_FALSE(fixed->fsckNote.empty());
  runner.exitCode = 4;
  auto left = prepareFilesystem(runner, dev, "ext4", false, 1000);
  ASSERT_FALSE(left.ok());
  EXPECT_NE(left.error().message.find("errors left"), std::string::npos);
  EXPECT_EQ(mkfsArgv("xfs", "/dev/loop9"),
            (std::vector<std::string>{"mkfs.xfs", "-q", "-K", "/dev/loop9"}));
  EXPECT_TRUE(fsckArgv("xfs", "/dev/loop9").empty());
}

}  // namespace
}  // namespace boxd::reconcilers
