// boxd-blockd with the RBD backend against a real one-node Ceph cluster: an image served as a
// FUSE file → loop device (direct I/O) → raw I/O and ext4, plus the failures that must end in
// clear errors or EIO, never in a hang. Every test records what it made (helper PIDs, loop
// devices, mounts) in a Teardown that undoes it in reverse, also after a failed assertion.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>

#include "blockd/protocol.h"
#include "common/fd.h"
#include "common/util.h"
#include "tests/fixtures/block_tools.h"
#include "tests/fixtures/ceph_cluster.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {
namespace {

constexpr uint64_t kMiB = 1 << 20;

class BlockdRbdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0 ||
        ::access("/usr/bin/ceph-mon", X_OK) != 0) {
      return;
    }
    int64_t t0 = monotonicMs();
    auto c = CephCluster::start();
    if (!c) {
      startError_ = new std::string(c.error().message);
      return;
    }
    cluster_ = c->release();
    std::printf("ceph cluster ready in %lld ms (%s)\n",
                static_cast<long long>(monotonicMs() - t0), cluster_->monHost().c_str());
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete startError_;
    startError_ = nullptr;
  }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    if (cluster_ == nullptr && startError_ == nullptr) GTEST_SKIP() << "no FUSE or no ceph-mon";
    ASSERT_EQ(startError_, nullptr) << *startError_;
    ASSERT_FALSE(tmp_.path().empty());
  }

  CephCluster& ceph() { return *cluster_; }

  // A fresh image of `bytes` with a unique name.
  std::string newImage(uint64_t bytes) {
    std::string name = "t-" + randomHex(4);
    Status st = ceph().createImage(name, bytes);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return name;
  }

  blockd::Config config(const std::string& image, const std::string& tag) {
    std::string mp = tmp_ / ("mnt-" + tag);
    EXPECT_TRUE(mkdirAll(mp, 0700).ok());
    blockd::Config c;
    c.backend = "rbd";
    c.mountpoint = mp;
    c.pidFile = tmp_ / (tag + ".pid");
    c.logFile = tmp_ / (tag + ".log");
    c.connectTimeoutMs = 5000;
    c.ioTimeoutMs = 3000;
    c.threads = 8;
    c.rbd = blockd::RbdConfig{ceph().monHost(), ceph().user(), ceph().userKey(), ceph().pool(),
                              image, false, true};
    return c;
  }

  // Starts a helper; on success its FUSE mount is registered for teardown (unmount, then the
  // helper's exit is awaited; a helper still running then is killed by its BlockdProcess).
  BlockdProcess startHelper(const blockd::Config& c, Teardown& td, int64_t readyMs = 15000) {
    BlockdProcess p = BlockdProcess::start(c, readyMs);
    std::string mp = c.mountpoint;
    td.add([mp] { (void)unmountBounded(mp); });
    return p;
  }

  std::string attach(const std::string& file, Teardown& td) {
    auto loop = attachLoop(file);
    EXPECT_TRUE(loop.ok()) << loop.error().message;
    if (!loop) return "";
    std::string dev = *loop;
    td.add([dev] {
      Status st = detachLoop(dev);
      EXPECT_TRUE(st.ok()) << st.error().message;
    });
    return dev;
  }

  Status mountExt4(const std::string& dev, const std::string& dir, Teardown& td) {
    BOXD_TRY(mkdirAll(dir, 0700));
    auto r = runCommand({"mount", "-t", "ext4", dev, dir}, 20000);
    if (!r) return r.error();
    if (!r->ok()) return makeError("mount " + dev + ": " + trim(r->output));
    td.add([dir] {
      Status st = unmountBounded(dir, 20000);
      EXPECT_TRUE(st.ok()) << st.error().message;
    });
    return okStatus();
  }

  std::string helperLog(const blockd::Config& c) {
    auto log = readFile(c.logFile);
    return log ? *log : "";
  }

  static inline CephCluster* cluster_ = nullptr;
  static inline std::string* startError_ = nullptr;
  TempDir tmp_{"blockd-rbd"};
};

std::vector<char> randomBytes(size_t n) {
  std::vector<char> v(n);
  std::mt19937_64 rng(std::random_device{}());
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = rng();
    std::memcpy(v.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return v;
}

// O_DIRECT pwrite then pread of `data` at `off` on a block device or file; returns what came back.
Result<std::vector<char>> writeReadDirect(const std::string& path, const std::vector<char>& data,
                                          uint64_t off) {
  Fd fd(::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  void* mem = nullptr;
  if (::posix_memalign(&mem, 4096, data.size()) != 0) return makeError("posix_memalign");
  std::unique_ptr<char, decltype(&::free)> buf(static_cast<char*>(mem), ::free);
  std::memcpy(buf.get(), data.data(), data.size());
  if (::pwrite(fd.get(), buf.get(), data.size(), static_cast<off_t>(off)) !=
      static_cast<ssize_t>(data.size())) {
    return sysError("pwrite", path);
  }
  if (::fsync(fd.get()) != 0) return sysError("fsync", path);
  std::memset(buf.get(), 0, data.size());
  if (::pread(fd.get(), buf.get(), data.size(), static_cast<off_t>(off)) !=
      static_cast<ssize_t>(data.size())) {
    return sysError("pread", path);
  }
  return std::vector<char>(buf.get(), buf.get() + data.size());
}

Result<std::vector<char>> readDirect(const std::string& path, size_t len, uint64_t off) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  void* mem = nullptr;
  if (::posix_memalign(&mem, 4096, len) != 0) return makeError("posix_memalign");
  std::unique_ptr<char, decltype(&::free)> buf(static_cast<char*>(mem), ::free);
  if (::pread(fd.get(), buf.get(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
    return sysError("pread", path);
  }
  return std::vector<char>(buf.get(), buf.get() + len);
}

TEST_F(BlockdRbdTest, ServesImageThroughLoopAndExt4AndSurvivesReattach) {
  std::string image = newImage(256 * kMiB);
  blockd::Config c = config(image, "a");
  std::string file = c.mountpoint + "/" + blockd::kRbdImageFile;
  std::vector<char> payload = randomBytes(4 * kMiB);
  {
    Teardown td;
    BlockdProcess h = startHelper(c, td);
    ASSERT_TRUE(h.ready()) << h.error() << "\n" << helperLog(c);
    std::printf("helper ready in %lld ms\n", static_cast<long long>(h.startMs()));
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), 256 * kMiB);
    auto pidText = readFile(c.pidFile);
    EXPECT_EQ(pidText ? *pidText : "", std::to_string(h.pid()) + "\n");

    std::string dev = attach(file, td);
    ASSERT_FALSE(dev.empty());
    auto dio = readFile("/sys/block/" + dev.substr(5) + "/loop/dio");
    EXPECT_EQ(dio ? trim(*dio) : "", "1");
    // Raw: a block pattern through the loop device, read back through the loop and the file.
    auto back = writeReadDirect(dev, payload, 200 * kMiB);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_TRUE(*back == payload);
    auto viaFile = readDirect(file, payload.size(), 200 * kMiB);
    ASSERT_TRUE(viaFile.ok()) << viaFile.error().message;
    EXPECT_TRUE(*viaFile == payload);

    auto mk = runCommand({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev}, 60000);
    ASSERT_TRUE(mk.ok() && mk->ok()) << (mk ? mk->output : mk.error().message);
    ASSERT_TRUE(mountExt4(dev, tmp_ / "fs-a", td).ok());
    auto w = runCommand({"dd", "if=/dev/urandom", "of=" + tmp_ / "fs-a/data", "bs=1M", "count=16",
                         "conv=fsync", "status=none"},
                        30000);
    ASSERT_TRUE(w.ok() && w->ok()) << (w ? w->output : w.error().message);
    auto cp = runCommand({"cp", tmp_ / "fs-a/data", tmp_ / "data.expected"}, 30000);
    ASSERT_TRUE(cp.ok() && cp->ok());
    td.run();  // ext4 unmounted, loop detached (verified), FUSE unmounted
    EXPECT_FALSE(mountedAt(c.mountpoint));
    auto exit = h.waitExit(15000);
    ASSERT_TRUE(exit.ok()) << exit.error().message;
    EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << "status " << *exit << "\n"
                                                             << helperLog(c);
    EXPECT_NE(::access(c.pidFile.c_str(), F_OK), 0) << "pid file left behind";
  }
  // The lock was released: a new helper opens the image at once and the data is all there.
  Teardown td;
  BlockdProcess h = startHelper(c, td);
  ASSERT_TRUE(h.ready()) << h.error() << "\n" << helperLog(c);
  std::string dev = attach(file, td);
  ASSERT_FALSE(dev.empty());
  ASSERT_TRUE(mountExt4(dev, tmp_ / "fs-a", td).ok());
  auto cmp = runCommand({"cmp", tmp_ / "fs-a/data", tmp_ / "data.expected"}, 30000);
  ASSERT_TRUE(cmp.ok());
  EXPECT_TRUE(cmp->ok()) << cmp->output;
}

TEST_F(BlockdRbdTest, SecondWriterIsRefusedFastAndReadOnlyHelperReads) {
  std::string image = newImage(64 * kMiB);
  Teardown td;
  blockd::Config a = config(image, "w1");
  BlockdProcess first = startHelper(a, td);
  ASSERT_TRUE(first.ready()) << first.error() << "\n" << helperLog(a);
  std::vector<char> payload = randomBytes(1 * kMiB);
  auto back = writeReadDirect(a.mountpoint + "/image", payload, 3 * kMiB);
  ASSERT_TRUE(back.ok()) << back.error().message;

  blockd::Config b = config(image, "w2");
  int64_t t0 = monotonicMs();
  BlockdProcess second = startHelper(b, td);
  int64_t took = monotonicMs() - t0;
  EXPECT_FALSE(second.ready());
  EXPECT_NE(second.error().find("is in use by another client"), std::string::npos)
      << second.error();
  EXPECT_NE(second.error().find("rbd/" + image), std::string::npos) << second.error();
  EXPECT_LT(took, 5000) << "refusal took " << took << " ms";
  auto exit = second.waitExit(5000);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 1);
  EXPECT_FALSE(mountedAt(b.mountpoint));

  // A read-only helper on the same image works while the writer holds the lock.
  blockd::Config r = config(image, "ro");
  r.rbd->readOnly = true;
  BlockdProcess reader = startHelper(r, td);
  ASSERT_TRUE(reader.ready()) << reader.error() << "\n" << helperLog(r);
  auto seen = readDirect(r.mountpoint + "/image", payload.size(), 3 * kMiB);
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  EXPECT_TRUE(*seen == payload);
  errno = 0;
  Fd rw(::open((r.mountpoint + "/image").c_str(), O_RDWR | O_CLOEXEC));
  EXPECT_FALSE(rw.valid());
  EXPECT_EQ(errno, EROFS);
}

TEST_F(BlockdRbdTest, WrongKeyFailsClearlyAndLeavesNothing) {
  std::string image = newImage(16 * kMiB);
  auto key = runCommand({"ceph-authtool", "--gen-print-key"}, 10000);
  ASSERT_TRUE(key.ok() && key->ok());
  Teardown td;
  blockd::Config c = config(image, "badkey");
  c.rbd->key = trim(key->output);
  int64_t t0 = monotonicMs();
  BlockdProcess h = startHelper(c, td, 20000);
  int64_t took = monotonicMs() - t0;
  EXPECT_FALSE(h.ready());
  EXPECT_NE(h.error().find("connect to ceph monitors " + ceph().monHost() + " as client.agent"),
            std::string::npos)
      << h.error();
  EXPECT_EQ(h.error().find(c.rbd->key), std::string::npos) << "the key leaked into the error";
  EXPECT_EQ(helperLog(c).find(c.rbd->key), std::string::npos) << "the key leaked into the log";
  EXPECT_LT(took, c.connectTimeoutMs + 3000);
  auto exit = h.waitExit(5000);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_FALSE(mountedAt(c.mountpoint));
  EXPECT_NE(::access(c.pidFile.c_str(), F_OK), 0);
}

TEST_F(BlockdRbdTest, DeadMonitorFailsWithinTheConnectDeadline) {
  Teardown td;
  blockd::Config c = config("nothing", "deadmon");
  c.rbd->monHost = "v2:127.0.0.1:" + std::to_string(ceph().monPort() + 1);  // nobody listens
  c.connectTimeoutMs = 2000;
  int64_t t0 = monotonicMs();
  BlockdProcess h = startHelper(c, td, 15000);
  int64_t took = monotonicMs() - t0;
  EXPECT_FALSE(h.ready());
  EXPECT_NE(h.error().find("connect to ceph monitors"), std::string::npos) << h.error();
  EXPECT_LT(took, c.connectTimeoutMs + 3000) << h.error();
  auto exit = h.waitExit(5000);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_FALSE(mountedAt(c.mountpoint));
}

TEST_F(BlockdRbdTest, RefusesAMountpointThatAlreadyHasAMount) {
  std::string image = newImage(16 * kMiB);
  Teardown td;
  blockd::Config a = config(image, "stack");
  BlockdProcess first = startHelper(a, td);
  ASSERT_TRUE(first.ready()) << first.error();
  blockd::Config b = a;  // same mountpoint, other files; read-only to pass the lock
  b.rbd->readOnly = true;
  b.pidFile = tmp_ / "stack2.pid";
  b.logFile = tmp_ / "stack2.log";
  BlockdProcess second = BlockdProcess::start(b, 15000);
  EXPECT_FALSE(second.ready());
  EXPECT_NE(second.error().find("mountpoint " + a.mountpoint), std::string::npos)
      << second.error();
  auto mounts = runCommand({"grep", "-c", " " + a.mountpoint + " ", "/proc/self/mountinfo"}, 5000);
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ(trim(mounts->output), "1") << "a second mount was stacked";
}

}  // namespace
}  // namespace boxd::testing
