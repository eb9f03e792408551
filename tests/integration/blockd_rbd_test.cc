// boxd-blockd with the RBD backend against a real one-node Ceph cluster: an image served as a
// FUSE file → loop device (direct I/O) → raw I/O and ext4, plus the failures that must end in
// clear errors or EIO, never in a hang. Every test records what it made (helper PIDs, loop
// devices, mounts) in a Teardown that undoes it in reverse, also after a failed assertion.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    std::printf("ceph cluster ready in %lld ms (%s)\n", static_cast<long long>(monotonicMs() - t0),
                cluster_->monHost().c_str());
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
    c.rbd = blockd::RbdConfig{
        ceph().monHost(), ceph().user(), ceph().userKey(), ceph().pool(), image, false, true};
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

    // 32 MiB in 4 MiB direct writes (split into concurrent FUSE requests), checked through the
    // loop device and, independently of the helper, in the image itself (rbd export).
    std::string src = tmp_ / "src";
    auto gen = runCommand(
        {"dd", "if=/dev/urandom", "of=" + src, "bs=1M", "count=32", "status=none"}, 30000);
    ASSERT_TRUE(gen.ok() && gen->ok());
    auto put = runCommand(
        {"dd", "if=" + src, "of=" + dev, "bs=4M", "oflag=direct", "conv=fsync", "status=none"},
        30000);
    ASSERT_TRUE(put.ok() && put->ok()) << (put ? put->output : put.error().message);
    auto viaLoop = runCommand({"cmp", "-n", std::to_string(32 * kMiB), src, dev}, 30000);
    ASSERT_TRUE(viaLoop.ok());
    EXPECT_TRUE(viaLoop->ok()) << viaLoop->output;
    auto exported = ceph().runRbd(
        {"export", "--no-progress", ceph().pool() + "/" + image, tmp_ / "export"}, 60000);
    ASSERT_TRUE(exported.ok() && exported->ok()) << (exported ? exported->output : "");
    auto inImage =
        runCommand({"cmp", "-n", std::to_string(32 * kMiB), src, tmp_ / "export"}, 30000);
    ASSERT_TRUE(inImage.ok());
    EXPECT_TRUE(inImage->ok()) << inImage->output;
    ::unlink((tmp_ / "export").c_str());

    auto mk = runCommand({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev}, 60000);
    ASSERT_TRUE(mk.ok() && mk->ok()) << (mk ? mk->output : mk.error().message);
    auto status = readFile("/proc/" + std::to_string(h.pid()) + "/status");
    for (const std::string& line : split(status ? *status : "", '\n')) {
      if (startsWith(line, "VmRSS") || startsWith(line, "VmLck"))
        std::printf("helper %s\n", line.c_str());
    }
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
  EXPECT_NE(second.error().find("mountpoint " + a.mountpoint), std::string::npos) << second.error();
  auto mounts = runCommand({"grep", "-c", " " + a.mountpoint + " ", "/proc/self/mountinfo"}, 5000);
  ASSERT_TRUE(mounts.ok());
  EXPECT_EQ(trim(mounts->output), "1") << "a second mount was stacked";
}

// SIGTERM stops the helper only when nothing uses its file: with a loop device attached it
// keeps serving (stopping would turn the volume into EIO under a filesystem).
TEST_F(BlockdRbdTest, SigtermStopsTheHelperOnlyWhenTheFileIsUnused) {
  std::string image = newImage(16 * kMiB);
  Teardown td;
  blockd::Config c = config(image, "term");
  BlockdProcess h = startHelper(c, td);
  ASSERT_TRUE(h.ready()) << h.error() << "\n" << helperLog(c);
  std::string dev = attach(c.mountpoint + "/image", td);
  ASSERT_FALSE(dev.empty());
  ASSERT_EQ(::kill(h.pid(), SIGTERM), 0);
  EXPECT_FALSE(h.waitExit(1000).ok()) << "the helper stopped under a live loop device";
  EXPECT_TRUE(mountedAt(c.mountpoint));
  std::vector<char> payload = randomBytes(64 * 1024);
  auto back = writeReadDirect(dev, payload, 0);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(*back == payload);

  ASSERT_TRUE(detachLoop(dev).ok());
  ASSERT_EQ(::kill(h.pid(), SIGTERM), 0);
  auto exit = h.waitExit(10000);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << helperLog(c);
  EXPECT_FALSE(mountedAt(c.mountpoint));
  EXPECT_NE(helperLog(c).find("still serving"), std::string::npos) << helperLog(c);
}

// The helper dies under a mounted ext4: I/O fails (EIO) within seconds instead of hanging, and
// the whole stack still comes apart: ext4 umount, loop detach (verified), stale FUSE umount.
TEST_F(BlockdRbdTest, KilledHelperGivesEioAndTeardownCompletes) {
  std::string image = newImage(64 * kMiB);
  Teardown td;
  blockd::Config c = config(image, "kill");
  BlockdProcess h = startHelper(c, td);
  ASSERT_TRUE(h.ready()) << h.error() << "\n" << helperLog(c);
  std::string dev = attach(c.mountpoint + "/image", td);
  ASSERT_FALSE(dev.empty());
  auto mk = runCommand({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev}, 60000);
  ASSERT_TRUE(mk.ok() && mk->ok()) << (mk ? mk->output : mk.error().message);
  std::string fs = tmp_ / "fs-kill";
  ASSERT_TRUE(mountExt4(dev, fs, td).ok());
  auto keep = runCommand({"dd", "if=/dev/urandom", "of=" + fs + "/keep", "bs=1M", "count=4",
                          "conv=fsync", "status=none"},
                         30000);
  ASSERT_TRUE(keep.ok() && keep->ok());
  auto saved = runCommand({"cp", fs + "/keep", tmp_ / "keep.expected"}, 30000);
  ASSERT_TRUE(saved.ok() && saved->ok());

  h.kill9();
  int64_t t0 = monotonicMs();
  auto w = runCommand({"dd", "if=/dev/zero", "of=" + fs + "/after", "bs=1M", "count=8",
                       "conv=fsync", "status=none"},
                      20000);
  int64_t took = monotonicMs() - t0;
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->timedOut) << "the writer hung after the helper died";
  EXPECT_NE(w->exitCode, 0) << "a write through a dead helper succeeded";
  EXPECT_LT(took, 10000);

  td.run();  // each undo asserts its own success
  EXPECT_FALSE(mountedAt(fs));
  EXPECT_FALSE(loopAttached(dev));
  EXPECT_FALSE(mountedAt(c.mountpoint));

  // The dead helper's exclusive lock goes once its watch times out (osd_client_watch_timeout,
  // 5 s in the fixture): a new helper then takes the image over, and the fsync'ed file is intact.
  c.connectTimeoutMs = 20000;
  int64_t t1 = monotonicMs();
  BlockdProcess again = startHelper(c, td, 30000);
  ASSERT_TRUE(again.ready()) << again.error() << "\n" << helperLog(c);
  std::printf("a new helper took the image over after %lld ms\n",
              static_cast<long long>(monotonicMs() - t1));
  std::string dev2 = attach(c.mountpoint + "/image", td);
  ASSERT_FALSE(dev2.empty());
  auto fsck = runCommand({"fsck.ext4", "-fy", dev2}, 60000);
  ASSERT_TRUE(fsck.ok());
  EXPECT_LE(fsck->exitCode, 1) << fsck->output;  // 0 clean, 1 errors corrected
  ASSERT_TRUE(mountExt4(dev2, fs, td).ok());
  auto cmp = runCommand({"cmp", fs + "/keep", tmp_ / "keep.expected"}, 30000);
  ASSERT_TRUE(cmp.ok());
  EXPECT_TRUE(cmp->ok()) << cmp->output;
}

// The OSD becomes unreachable while a writer streams to the loop device: the writer gets EIO
// within the I/O deadline (plus the kernel's retries), never D state for good; the helper then
// stops cleanly once the loop device is gone, without the watchdog's last resort.
TEST_F(BlockdRbdTest, OsdUnreachableMidWriteGivesEioWithinTheBound) {
  std::string image = newImage(256 * kMiB);
  Teardown td;
  blockd::Config c = config(image, "osd");
  BlockdProcess h = startHelper(c, td);
  ASSERT_TRUE(h.ready()) << h.error() << "\n" << helperLog(c);
  std::string dev = attach(c.mountpoint + "/image", td);
  ASSERT_FALSE(dev.empty());

  std::string ddLog = tmp_ / "dd.log";
  auto dd = spawnDaemon(
      {"dd", "if=/dev/zero", "of=" + dev, "bs=64k", "oflag=direct", "conv=fsync", "status=none"},
      ddLog);
  ASSERT_TRUE(dd.ok()) << dd.error().message;
  pid_t ddPid = *dd;
  td.add([ddPid] { stopChild(ddPid, 100); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_FALSE(childExited(ddPid)) << "dd finished before the fault";

  Status blocked = ceph().blockOsd();
  ASSERT_TRUE(blocked.ok()) << blocked.error().message;
  td.add([this] { (void)ceph().unblockOsd(); });
  int64_t t0 = monotonicMs();
  int status = 0;
  bool exited = false;
  const int64_t bound = c.ioTimeoutMs * 4;
  while (!(exited = childExited(ddPid, &status)) && monotonicMs() - t0 < bound) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int64_t took = monotonicMs() - t0;
  char state = exited ? 0 : processState(ddPid);
  ASSERT_TRUE(exited) << "dd still running " << took << " ms after the fault (state " << state
                      << ")";
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto out = readFile(ddLog);
  EXPECT_NE(out ? out->find("Input/output error") : std::string::npos, std::string::npos)
      << (out ? *out : "");
  std::printf("dd failed %lld ms after the OSD became unreachable\n", static_cast<long long>(took));

  ASSERT_TRUE(ceph().unblockOsd().ok());
  td.run();
  auto exit = h.waitExit(2 * c.ioTimeoutMs + 5000);
  ASSERT_TRUE(exit.ok()) << exit.error().message;
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << helperLog(c);
  EXPECT_EQ(helperLog(c).find("aborting FUSE connection"), std::string::npos) << helperLog(c);
}

double mibPerSecond(uint64_t bytes, int64_t us) {
  return us > 0 ? bytes / 1048576.0 / (us / 1e6) : 0;
}

// Not a check: figures for the lead, next to shared/notes/userspace-block.md §4. Run with
//   blockd_rbd_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// (BLOCKD_BENCH_MAX_BACKGROUND / BLOCKD_BENCH_THREADS vary the FUSE side).
TEST_F(BlockdRbdTest, DISABLED_ThroughputReport) {
  const char* bgEnv = ::getenv("BLOCKD_BENCH_MAX_BACKGROUND");
  const char* thEnv = ::getenv("BLOCKD_BENCH_THREADS");
  std::vector<std::string> extra;
  if (bgEnv != nullptr) extra = {"--max-background", bgEnv};
  for (int round = 0; round < 3; ++round) {
    std::string raw = newImage(512 * kMiB);
    int64_t t0 = monotonicUs();
    auto b = ceph().runRbd({"bench", "--io-type", "write", "--io-size", "1M", "--io-total", "256M",
                            ceph().pool() + "/" + raw},
                           120000);
    int64_t rawUs = monotonicUs() - t0;
    ASSERT_TRUE(b.ok() && b->ok()) << (b ? b->output : b.error().message);
    // rbd bench's own figure ("bytes/sec: 1.2 GiB/s"), without the CLI's start-up.
    double rawBps = 0;
    if (size_t at = b->output.rfind("bytes/sec:"); at != std::string::npos) {
      char* unit = nullptr;
      rawBps = std::strtod(b->output.c_str() + at + 10, &unit);
      std::string u = trim(std::string(unit, std::min<size_t>(4, std::strlen(unit))));
      rawBps *= u == "GiB" ? 1073741824.0 : u == "MiB" ? 1048576.0 : u == "KiB" ? 1024.0 : 1.0;
    }
    (void)ceph().runRbd({"rm", "--no-progress", ceph().pool() + "/" + raw}, 60000);

    std::string image = newImage(1024 * kMiB);
    Teardown td;
    blockd::Config c = config(image, "bench" + std::to_string(round));
    if (thEnv != nullptr) c.threads = std::atoi(thEnv);
    BlockdProcess h = BlockdProcess::start(c, 15000, extra);
    std::string mp = c.mountpoint;
    td.add([mp] { (void)unmountBounded(mp); });
    ASSERT_TRUE(h.ready()) << h.error();
    std::string dev = attach(c.mountpoint + "/image", td);
    ASSERT_FALSE(dev.empty());
    auto mk = runCommand({"mkfs.ext4", "-q", "-F", "-E", "nodiscard", dev}, 60000);
    ASSERT_TRUE(mk.ok() && mk->ok());
    std::string fs = tmp_ / ("fs-bench" + std::to_string(round));
    ASSERT_TRUE(mountExt4(dev, fs, td).ok());
    t0 = monotonicUs();
    auto w = runCommand({"dd", "if=/dev/zero", "of=" + fs + "/f", "bs=1M", "count=256",
                         "conv=fsync", "status=none"},
                        120000);
    int64_t writeUs = monotonicUs() - t0;
    ASSERT_TRUE(w.ok() && w->ok());
    (void)writeFile("/proc/sys/vm/drop_caches", "3");
    t0 = monotonicUs();
    auto r = runCommand({"dd", "if=" + fs + "/f", "of=/dev/null", "bs=1M", "status=none"}, 120000);
    int64_t readUs = monotonicUs() - t0;
    ASSERT_TRUE(r.ok() && r->ok());
    double rawW = rawBps > 0 ? rawBps / 1048576.0 : mibPerSecond(256 * kMiB, rawUs);
    double fw = mibPerSecond(256 * kMiB, writeUs);
    auto maxKb = readFile("/sys/block/" + dev.substr(5) + "/queue/max_sectors_kb");
    std::printf(
        "round %d: rbd bench write %.0f MiB/s; ext4 on blockd: write %.0f MiB/s, read "
        "%.0f MiB/s; write ratio %.2f (loop max_sectors_kb %s)\n",
        round, rawW, fw, mibPerSecond(256 * kMiB, readUs), fw / rawW,
        maxKb ? trim(*maxKb).c_str() : "?");
    td.run();
    (void)h.waitExit(10000);
    std::string log = helperLog(c);
    size_t peak = log.find("at most ");
    if (peak != std::string::npos) {
      std::printf("  helper: %s\n", log.substr(peak, log.find('\n', peak) - peak).c_str());
    }
    (void)ceph().runRbd({"rm", "--no-progress", ceph().pool() + "/" + image}, 60000);
  }
}

}  // namespace
}  // namespace boxd::testing
