// KernelRbdBackend on a fake /sys/bus/rbd: the exact add/remove lines, the feature check before
// any map, monitor normalization, idempotent attach/detach; and the backend choice by host
// capability. krbd itself is absent on this machine kind (notes/storage-peers.md).
#include <gtest/gtest.h>

#include "reconcilers/block/block_host.h"
#include "reconcilers/block/rbd_kernel.h"
#include "tests/unit/block_fake_host.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeBlockHost;
using Lines = std::vector<std::string>;

constexpr const char* kKey = "AQBzZWNyZXQta2V5LWZvci10ZXN0cw==";
constexpr uint64_t kLayering = 1, kExclusiveLock = 4, kObjectMap = 8, kFastDiff = 16,
                   kDeepFlatten = 32, kJournaling = 64, kDataPool = 128;

BlockVolume volume() {
  BlockVolume v;
  v.backend = "rbd-kernel";
  v.monitors = {"[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"};
  v.pool = "rbd";
  v.image = "img1";
  v.user = "boxd";
  return v;
}

class KernelRbdTest : public ::testing::Test {
 protected:
  FakeBlockHost host;
  uint64_t features = kLayering | kExclusiveLock;
  int featureCalls = 0, credentialCalls = 0;
  std::optional<Error> credentialError;

  void SetUp() override {
    host.addRbdBus();
    // The kernel's reaction to a map: a new device with the next free id.
    auto map = [this](const std::string& line) {
      auto f = split(line, ' ');
      host.addRbdDevice(std::to_string(sysfs::list(host.sys + "/bus/rbd/devices").size()), f[2],
                        f[3]);
    };
    host.onWrite["bus/rbd/add_single_major"] = map;
    host.onWrite["bus/rbd/add"] = map;
    host.onWrite["bus/rbd/remove_single_major"] = [this](const std::string& id) {
      host.removeRbdDevice(id);
    };
  }

  KernelRbdBackend backend(KernelRbdOptions o = {}) {
    o.sysRoot = host.sys;
    o.devRoot = host.dev;
    o.deviceWaitMs = 1000;
    o.pollMs = 100;
    o.sleep = host.sleeper();
    o.writeSysfs = host.writer();
    return KernelRbdBackend(
        [this](const BlockVolume&, const BlockCredentials& c) -> Result<uint64_t> {
          ++featureCalls;
          EXPECT_EQ(c.cephKey, kKey);
          return features;
        },
        [this](const BlockVolume&) -> Result<BlockCredentials> {
          ++credentialCalls;
          if (credentialError) return *credentialError;
          BlockCredentials c;
          c.cephKey = kKey;
          return c;
        },
        o);
  }
};

TEST_F(KernelRbdTest, MapWritesTheAddLineAndFindsTheNewDevice) {
  host.addRbdDevice("0", "rbd", "someone-elses");
  auto b = backend();
  auto dev = b.attachDevice(volume());
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/rbd1");
  EXPECT_EQ(host.writes, (Lines{"bus/rbd/add_single_major <- 127.0.0.1:6789 name=boxd,secret=" +
                                std::string(kKey) + ",mount_timeout=30 rbd img1 -"}));
  EXPECT_EQ(featureCalls, 1);
  EXPECT_EQ(*b.findDevice(volume()), std::optional<std::string>(host.dev + "/rbd1"));

  // Attach again: the existing mapping, no second map, no secret fetched.
  auto again = b.attachDevice(volume());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, host.dev + "/rbd1");
  EXPECT_EQ(host.writes.size(), 1u);
  EXPECT_EQ(credentialCalls, 1);
}

TEST_F(KernelRbdTest, ReadOnlyMsgr2AndOldBusFile) {
  (void)removeAll(host.sys + "/bus/rbd/add_single_major");
  (void)removeAll(host.sys + "/bus/rbd/remove_single_major");
  host.file(host.sys + "/bus/rbd/add");
  auto v = volume();
  v.readOnly = true;
  v.user = "client.boxd";
  v.monitors = {"v2:10.0.0.1:3300", "v2:[fd00::2]:3300"};
  auto b = backend();
  auto dev = b.attachDevice(v);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(host.writes,
            (Lines{"bus/rbd/add <- 10.0.0.1:3300,[fd00::2]:3300 name=boxd,secret=" +
                   std::string(kKey) + ",ms_mode=prefer-crc,mount_timeout=30,ro rbd img1 -"}));
}

TEST_F(KernelRbdTest, UnsupportedFeaturesAreRefusedBeforeTheMap) {
  host.file(host.sys + "/bus/rbd/supported_features", "0x7\n");  // an older kernel
  features = kLayering | kExclusiveLock | kObjectMap | kFastDiff | kDeepFlatten;
  auto b = backend();
  auto dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, ENOTSUP);
  EXPECT_NE(dev.error().message.find("not support: object-map, fast-diff, deep-flatten"),
            std::string::npos)
      << dev.error().message;
  EXPECT_NE(dev.error().message.find(
                "fix: rbd feature disable rbd/img1 object-map fast-diff deep-flatten"),
            std::string::npos)
      << dev.error().message;
  EXPECT_TRUE(host.writes.empty());

  features = kLayering | kDataPool | kJournaling;
  dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("journaling, data-pool"), std::string::npos);
  EXPECT_NE(dev.error().message.find("rbd feature disable rbd/img1 journaling;"),
            std::string::npos);
  EXPECT_NE(dev.error().message.find("cannot be disabled"), std::string::npos);
}

TEST_F(KernelRbdTest, KernelsWithoutSupportedFeaturesMapLayeringOnly) {
  (void)removeAll(host.sys + "/bus/rbd/supported_features");
  auto b = backend();
  auto dev = b.attachDevice(volume());  // layering + exclusive-lock
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("exclusive-lock"), std::string::npos);
  features = kLayering;
  EXPECT_TRUE(b.attachDevice(volume()).ok());
}

TEST_F(KernelRbdTest, MapFailuresNeverShowTheKey) {
  host.writeErrors["bus/rbd/add_single_major"] =
      sysError("write", host.sys + "/bus/rbd/add_single_major", EIO);
  auto b = backend();
  auto dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, EIO);
  EXPECT_NE(dev.error().message.find("see dmesg"), std::string::npos) << dev.error().message;
  EXPECT_EQ(dev.error().message.find(kKey), std::string::npos);

  credentialError = makeError("secret boxd/ceph-key: key \"key\" missing", ENOENT);
  dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("map rbd image rbd/img1: secret boxd/ceph-key"),
            std::string::npos)
      << dev.error().message;
}

TEST_F(KernelRbdTest, BadNamesAndKeysAreRefusedWithoutEchoingTheKey) {
  auto b = backend();
  auto v = volume();
  v.image = "img 1";
  EXPECT_FALSE(b.attachDevice(v).ok());
  v = volume();
  v.user = "boxd,secret=x";
  EXPECT_FALSE(b.attachDevice(v).ok());
  EXPECT_TRUE(host.writes.empty());
  auto bad = KernelRbdBackend(
      [](const BlockVolume&, const BlockCredentials&) -> Result<uint64_t> { return kLayering; },
      [](const BlockVolume&) -> Result<BlockCredentials> {
        BlockCredentials c;
        c.cephKey = "AQB key,with=junk";
        return c;
      },
      KernelRbdOptions{.sysRoot = host.sys,
                       .devRoot = host.dev,
                       .sleep = host.sleeper(),
                       .writeSysfs = host.writer()});
  auto dev = bad.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message.find("not base64"), std::string::npos);
  EXPECT_EQ(dev.error().message.find("junk"), std::string::npos);
  EXPECT_TRUE(host.writes.empty());
}

TEST_F(KernelRbdTest, ReadOnlyMappingIsNotReusedForReadWrite) {
  host.addRbdDevice("0", "rbd", "img1", /*readOnly=*/true);
  auto b = backend();
  auto dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, EROFS);
  auto v = volume();
  v.readOnly = true;
  EXPECT_EQ(*b.attachDevice(v), host.dev + "/rbd0");
}

TEST_F(KernelRbdTest, UnmapWritesTheIdAndAbsentIsSuccess) {
  auto b = backend();
  ASSERT_TRUE(b.detachDevice(volume()).ok());
  EXPECT_TRUE(host.writes.empty());
  host.addRbdDevice("0", "rbd", "other");
  host.addRbdDevice("4", "rbd", "img1");
  ASSERT_TRUE(b.detachDevice(volume()).ok());
  EXPECT_EQ(host.writes, (Lines{"bus/rbd/remove_single_major <- 4"}));
  EXPECT_FALSE(*b.findDevice(volume()));
  EXPECT_TRUE(*b.findDevice(BlockVolume{.pool = "rbd", .image = "other"}));

  host.addRbdDevice("5", "rbd", "img1");
  host.writeErrors["bus/rbd/remove_single_major"] =
      sysError("write", host.sys + "/bus/rbd/remove_single_major", EBUSY);
  auto st = b.detachDevice(volume());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("unmap " + host.dev +
                                    "/rbd5 (rbd image rbd/img1): the device "
                                    "is in use"),
            std::string::npos)
      << st.error().message;
}

TEST_F(KernelRbdTest, NoSession) {
  auto b = backend();
  EXPECT_TRUE(b.openSession(volume(), {}).ok());
  EXPECT_TRUE(*b.sessionOpen(volume()));
  EXPECT_TRUE(b.closeSession(volume()).ok());
  EXPECT_TRUE(host.writes.empty());
}

TEST(KrbdMonitors, Normalization) {
  auto m = krbdMonitors({"[v2:10.0.0.1:3300,v1:10.0.0.1:6789]", "v1:10.0.0.2:6789"}, "auto");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->addresses, "10.0.0.1:6789,10.0.0.2:6789");
  EXPECT_EQ(m->msMode, "");
  m = krbdMonitors({"10.0.0.1", "10.0.0.2:6790,10.0.0.3:3300"}, "auto");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->addresses, "10.0.0.1:6789,10.0.0.2:6790");
  m = krbdMonitors({"10.0.0.1", "10.0.0.3:3300", "fd00::1"}, "secure");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->addresses, "10.0.0.1:3300,10.0.0.3:3300,[fd00::1]:3300");
  EXPECT_EQ(m->msMode, "secure");
  m = krbdMonitors({"v2:127.0.0.1:40000"}, "auto");  // this machine's test clusters: msgr2 only
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->addresses, "127.0.0.1:40000");
  EXPECT_EQ(m->msMode, "prefer-crc");
  auto legacy = krbdMonitors({"v2:127.0.0.1:40000"}, "legacy");
  ASSERT_FALSE(legacy.ok());
  EXPECT_NE(legacy.error().message.find("no msgr1 (v1) address"), std::string::npos);
  EXPECT_FALSE(krbdMonitors({"v1:127.0.0.1:6789"}, "fast").ok());
  EXPECT_FALSE(krbdMonitors({}, "auto").ok());
}

TEST(KrbdFeatures, Names) {
  EXPECT_EQ(rbdFeatureNames(kObjectMap | kFastDiff), "object-map, fast-diff");
  EXPECT_EQ(rbdFeatureNames(1ULL << 40), "bit 40");
}

// ── host capability and backend choice ──

TEST(BlockHost, DetectsKernelPaths) {
  FakeBlockHost host;
  auto caps = detectBlockCapabilities(host.sys);
  EXPECT_FALSE(caps.kernelIscsi);
  EXPECT_FALSE(caps.krbd);
  host.file(host.sys + "/class/iscsi_transport/tcp/handle", "1\n");
  host.addRbdBus();
  caps = detectBlockCapabilities(host.sys);
  EXPECT_TRUE(caps.kernelIscsi);
  EXPECT_TRUE(caps.krbd);
}

TEST(BlockHost, ChoosesTheBackend) {
  BlockCapabilities none, both{true, true};
  EXPECT_EQ(*chooseBackend("iscsi", both, "auto"), "iscsi-kernel");
  EXPECT_EQ(*chooseBackend("iscsi", none, "auto"), "iscsi-user");
  EXPECT_EQ(*chooseBackend("rbd", both, ""), "rbd-kernel");
  EXPECT_EQ(*chooseBackend("rbd", none, "auto"), "rbd-user");
  EXPECT_EQ(*chooseBackend("rbd", both, "user"), "rbd-user");
  EXPECT_EQ(*chooseBackend("iscsi", both, "kernel"), "iscsi-kernel");
  auto missing = chooseBackend("iscsi", none, "kernel");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/sys/class/iscsi_transport/tcp is absent"),
            std::string::npos);
  missing = chooseBackend("rbd", BlockCapabilities{true, false}, "kernel");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/sys/bus/rbd is absent"), std::string::npos);
  EXPECT_FALSE(chooseBackend("nfs", both, "auto").ok());
  EXPECT_FALSE(chooseBackend("rbd", both, "fast").ok());
}

}  // namespace
}  // namespace boxd::reconcilers
