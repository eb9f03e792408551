// The iSCSI backend of boxd-blockd against a real tgtd, through the Backend/Disk interface the
// FUSE server uses (read/write/flush from several threads). Every case has its own tgtd, and a
// watchdog that aborts the binary (tgtd dies with it) instead of letting a hang go unbounded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "blockd/iscsi_backend.h"
#include "common/fd.h"
#include "common/util.h"
#include "tests/fixtures/tgt_target.h"

namespace boxd::blockd {
namespace {

using boxd::testing::TgtTarget;

constexpr const char* kIqn = "iqn.2024-01.test.boxd:store";
constexpr const char* kInitiator = "iqn.2024-01.test.boxd:node1";
constexpr const char* kUser = "chapuser";
constexpr const char* kPassword = "chapsecret123";
constexpr uint64_t kMiB = 1 << 20;

// Aborts the test binary when a case runs longer than its bound (a hang is a failure too).
class Watchdog {
 public:
  explicit Watchdog(int seconds)
      : thread_([this, seconds] {
          std::unique_lock l(m_);
          if (!cv_.wait_for(l, std::chrono::seconds(seconds), [&] { return done_; })) {
            std::fprintf(stderr, "watchdog: the test did not finish within %d s, aborting\n",
                         seconds);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard l(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// A deterministic pattern: the bytes at an offset depend on (offset, seed) only.
void fillPattern(char* buf, size_t len, uint64_t off, uint64_t seed) {
  for (size_t i = 0; i < len; ++i) {
    uint64_t x = (off + i) / 8 * 0x9e3779b97f4a7c15ULL ^ seed;
    x ^= x >> 29;
    buf[i] = static_cast<char>(x >> (8 * ((off + i) % 8)));
  }
}

bool matchesPattern(const char* buf, size_t len, uint64_t off, uint64_t seed) {
  std::vector<char> want(len);
  fillPattern(want.data(), len, off, seed);
  return std::memcmp(want.data(), buf, len) == 0;
}

class BlockdIscsi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tgt_.start().ok()) << tgt_.log();
    ASSERT_TRUE(tgt_.addTarget(1, kIqn).ok());
    ASSERT_TRUE(tgt_.addLun(1, 1, 64 * kMiB).ok());
    ASSERT_TRUE(tgt_.addLun(1, 2, 32 * kMiB).ok());
    ASSERT_TRUE(tgt_.addAccount(kUser, kPassword).ok());
    ASSERT_TRUE(tgt_.bindAccount(1, kUser).ok());
  }

  Config config(std::vector<std::string> portals = {}, int64_t ioTimeoutMs = 10000) {
    Config c;
    c.backend = "iscsi";
    c.connectTimeoutMs = 10000;
    c.ioTimeoutMs = ioTimeoutMs;
    IscsiConfig ic;
    ic.portals = portals.empty() ? std::vector<std::string>{tgt_.portal()} : portals;
    ic.iqn = kIqn;
    ic.initiatorName = kInitiator;
    ic.sessions = 4;
    ic.chap = Chap{kUser, kPassword, "", ""};
    c.iscsi = ic;
    return c;
  }

  std::unique_ptr<Backend> connected(const Config& c) {
    auto b = makeIscsiBackend(c);
    Status st = b->connect();
    EXPECT_TRUE(st.ok()) << st.error().message;
    return st ? std::move(b) : nullptr;
  }

  // The connect error and how long it took.
  std::pair<std::string, int64_t> connectError(const Config& c) {
    auto b = makeIscsiBackend(c);
    int64_t t0 = monotonicMs();
    Status st = b->connect();
    int64_t took = monotonicMs() - t0;
    EXPECT_FALSE(st.ok());
    std::string e = st ? "" : st.error().message;
    std::printf("connect error (%lld ms): %s\n", static_cast<long long>(took), e.c_str());
    return {e, took};
  }

  // The I_T nexus ids of target 1: a re-login shows up as new ids.
  std::vector<int> sids() {
    std::vector<int> out;
    if (auto list = tgt_.sessions(1)) {
      for (const auto& s : *list) out.push_back(s.sid);
    }
    return out;
  }

  TgtTarget tgt_;
};

bool disjoint(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a) {
    if (std::find(b.begin(), b.end(), x) != b.end()) return false;
  }
  return true;
}

// ── login ───────────────────────────────────────────────────────────────────────────────────

TEST_F(BlockdIscsi, OneWayChapLoginOpensTwoLunsOnOneLoginAndCloseLogsOut) {
  Watchdog wd(60);
  auto b = connected(config());
  ASSERT_TRUE(b);
  EXPECT_EQ(tgt_.sessionCount(1), 4);  // config sessions, logged in once for every LUN
  auto l1 = b->open("lun1");
  auto l2 = b->open("lun2");
  ASSERT_TRUE(l1.ok()) << l1.error().message;
  ASSERT_TRUE(l2.ok()) << l2.error().message;
  EXPECT_EQ((*l1)->sizeBytes(), 64 * kMiB);
  EXPECT_EQ((*l2)->sizeBytes(), 32 * kMiB);
  EXPECT_EQ((*l1)->blockSize(), 512u);
  EXPECT_FALSE((*l1)->readOnly());
  EXPECT_EQ(tgt_.sessionCount(1), 4);
  auto again = b->open("lun1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), l1->get());
  EXPECT_EQ(b->names(), (std::vector<std::string>{"lun1", "lun2"}));

  auto missing = b->open("lun7");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT) << missing.error().message;
  auto junk = b->open("disk");
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().code, ENOENT);
  auto controller = b->open("lun0");
  ASSERT_FALSE(controller.ok());
  EXPECT_EQ(controller.error().code, ENODEV);
  EXPECT_NE(controller.error().message.find("not a direct-access disk"), std::string::npos)
      << controller.error().message;

  b->close();
  EXPECT_TRUE(tgt_.waitSessions(1, 0, 5000)) << "sessions left: " << tgt_.sessionCount(1);
  // A disk used after close fails instead of hanging.
  char buf[512];
  EXPECT_EQ((*l1)->read(buf, sizeof buf, 0), -EIO);
}

TEST_F(BlockdIscsi, MutualChapLogsInAndAWrongTargetSecretIsRefused) {
  Watchdog wd(60);
  ASSERT_TRUE(tgt_.addAccount("tgtuser", "tgtsecret4567").ok());
  ASSERT_TRUE(tgt_.bindAccount(1, "tgtuser", true).ok());
  Config c = config();
  c.iscsi->chap = Chap{kUser, kPassword, "tgtuser", "tgtsecret4567"};
  auto b = connected(c);
  ASSERT_TRUE(b);
  auto l1 = b->open("lun1");
  ASSERT_TRUE(l1.ok()) << l1.error().message;
  b->close();

  c.iscsi->chap = Chap{kUser, kPassword, "tgtuser", "not-the-target-secret"};
  auto [err, took] = connectError(c);
  EXPECT_NE(err.find("mutual CHAP"), std::string::npos) << err;
  EXPECT_EQ(err.find("not-the-target-secret"), std::string::npos) << err;
  EXPECT_LT(took, 5000);
}

TEST_F(BlockdIscsi, WrongPasswordIsAClearErrorWithinSeconds) {
  Watchdog wd(60);
  Config c = config();
  c.iscsi->chap->password = "wrong-password-42";
  auto [err, took] = connectError(c);
  EXPECT_NE(err.find("Authentication failure"), std::string::npos) << err;
  EXPECT_NE(err.find(kIqn), std::string::npos) << err;
  EXPECT_NE(err.find(tgt_.portal()), std::string::npos) << err;
  EXPECT_EQ(err.find("wrong-password-42"), std::string::npos) << err;
  EXPECT_LT(took, 5000);
  EXPECT_TRUE(tgt_.waitSessions(1, 0, 2000));
}

TEST_F(BlockdIscsi, UnknownIqnIsAClearError) {
  Watchdog wd(60);
  Config c = config();
  c.iscsi->iqn = "iqn.2024-01.test.boxd:nothere";
  auto [err, took] = connectError(c);
  EXPECT_NE(err.find("Target not found"), std::string::npos) << err;
  EXPECT_NE(err.find("iqn.2024-01.test.boxd:nothere"), std::string::npos) << err;
  EXPECT_LT(took, 5000);
}

TEST_F(BlockdIscsi, DeadFirstPortalFailsOverAndAllDeadSaysConnectionRefused) {
  Watchdog wd(60);
  const std::string dead1 = TgtTarget::deadPortal();
  auto b = connected(config({dead1, tgt_.portal()}));
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->open("lun1").ok());
  b->close();

  const std::string dead2 = TgtTarget::deadPortal();
  auto [err, took] = connectError(config({dead1, dead2}));
  EXPECT_NE(err.find(dead1 + ": connection refused"), std::string::npos) << err;
  EXPECT_NE(err.find(dead2 + ": connection refused"), std::string::npos) << err;
  EXPECT_EQ(err.find("Can not reconnect"), std::string::npos) << err;
  EXPECT_LT(took, 5000);
}

TEST_F(BlockdIscsi, DiscoveryWithChapOnEveryPortal) {
  Watchdog wd(60);
  ASSERT_TRUE(tgt_.addAccount("discuser", "discsecret789").ok());
  ASSERT_TRUE(tgt_.bindDiscoveryAccount("discuser").ok());
  auto second = tgt_.addPortal();
  ASSERT_TRUE(second.ok()) << second.error().message;
  Config c = config({TgtTarget::deadPortal(), tgt_.portal(), *second});
  c.iscsi->discovery = true;
  c.iscsi->discoveryChap = Chap{"discuser", "discsecret789", "", ""};
  auto b = connected(c);
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->open("lun2").ok());
  b->close();

  c.iscsi->discoveryChap->password = "wrong-disc-password";
  auto [err, took] = connectError(c);
  EXPECT_NE(err.find("SendTargets"), std::string::npos) << err;
  EXPECT_NE(err.find(*second), std::string::npos) << err;
  EXPECT_EQ(err.find("wrong-disc-password"), std::string::npos) << err;
  EXPECT_LT(took, 8000);
}

TEST_F(BlockdIscsi, ReadOnlyLunRefusesWrites) {
  Watchdog wd(60);
  ASSERT_TRUE(tgt_.addLun(1, 3, 8 * kMiB, true).ok());
  auto b = connected(config());
  ASSERT_TRUE(b);
  auto l3 = b->open("lun3");
  ASSERT_TRUE(l3.ok()) << l3.error().message;
  EXPECT_TRUE((*l3)->readOnly());
  std::vector<char> buf(4096, 'x');
  EXPECT_EQ((*l3)->write(buf.data(), buf.size(), 0), -EROFS);
  EXPECT_EQ((*l3)->read(buf.data(), buf.size(), 0), 4096);
}

// ── I/O ─────────────────────────────────────────────────────────────────────────────────────

// What I/O threads share: failures (the first one described), successful requests, and a flag
// that ends the rounds.
struct IoShared {
  std::atomic<int> failures{0};
  std::atomic<int> ok{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::string first;
  void fail(const std::string& what) {
    std::lock_guard l(mu);
    if (failures++ == 0) first = what;
  }
};

// Each thread writes then verifies its own region in requests of varying size, at least
// `rounds` times and until `stop`.
void ioWorker(Disk& d, int id, uint64_t regionBytes, uint64_t seed, int rounds, IoShared& io) {
  const uint64_t base = static_cast<uint64_t>(id) * regionBytes;
  const size_t sizes[] = {4096, 65536, 131072, 1 << 20};
  std::vector<char> buf(1 << 20), back(1 << 20);
  for (int r = 0; r < rounds || !io.stop; ++r) {
    for (uint64_t off = 0, i = 0; off < regionBytes; ++i) {
      size_t len = std::min<uint64_t>(sizes[(i + id) % 4], regionBytes - off);
      fillPattern(buf.data(), len, base + off, seed + r);
      ssize_t w = d.write(buf.data(), len, base + off);
      if (w != static_cast<ssize_t>(len)) return io.fail("write returned " + std::to_string(w));
      ssize_t n = d.read(back.data(), len, base + off);
      if (n != static_cast<ssize_t>(len)) return io.fail("read returned " + std::to_string(n));
      if (!matchesPattern(back.data(), len, base + off, seed + r)) {
        return io.fail("data mismatch at " + std::to_string(base + off));
      }
      io.ok += 2;
      off += len;
    }
  }
}

TEST_F(BlockdIscsi, ConcurrentWritesAndUnalignedRequestsReadBackAndReachTheTarget) {
  Watchdog wd(120);
  auto b = connected(config());
  ASSERT_TRUE(b);
  auto disk = b->open("lun1");
  ASSERT_TRUE(disk.ok());
  Disk& d = **disk;
  IoShared io;
  io.stop = true;  // one round each
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back(ioWorker, std::ref(d), i, 4 * kMiB, 7, 1, std::ref(io));
  for (auto& t : ts) t.join();
  EXPECT_EQ(io.failures.load(), 0) << io.first;

  // Unaligned: inside one block, across blocks, across a chunk, and a short write at the end.
  const uint64_t end = d.sizeBytes();
  struct Case {
    uint64_t off;
    size_t len;
  } cases[] = {{40 * kMiB + 100, 200},
               {40 * kMiB + 1000, 5000},
               {41 * kMiB - 77, 3 * kMiB + 11},
               {end - 300, 300}};
  for (const auto& c : cases) {
    std::vector<char> buf(c.len), back(c.len);
    fillPattern(buf.data(), c.len, c.off, 99);
    ASSERT_EQ(d.write(buf.data(), c.len, c.off), static_cast<ssize_t>(c.len)) << c.off;
    ASSERT_EQ(d.read(back.data(), c.len, c.off), static_cast<ssize_t>(c.len)) << c.off;
    EXPECT_TRUE(matchesPattern(back.data(), c.len, c.off, 99)) << c.off;
  }
  // The neighbours of an unaligned write are untouched (read-modify-write kept them).
  std::vector<char> edge(100);
  ASSERT_EQ(d.read(edge.data(), 100, 40 * kMiB), 100);
  EXPECT_EQ(std::string(edge.data(), 100), std::string(100, '\0'));
  // Past the end: a short write, then ENOSPC; a read there is EOF.
  std::vector<char> tail(1000, 'z');
  EXPECT_EQ(d.write(tail.data(), 1000, end - 512), 512);
  EXPECT_EQ(d.write(tail.data(), 1000, end), -ENOSPC);
  EXPECT_EQ(d.read(tail.data(), 1000, end), 0);

  // After a flush, the target's backing file holds what was written.
  ASSERT_EQ(d.flush(), 0);
  Fd f(::open(tgt_.lunFile(1, 1).c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(f);
  std::vector<char> file(3 * kMiB + 11);
  ASSERT_EQ(::pread(f.get(), file.data(), file.size(), 41 * kMiB - 77),
            static_cast<ssize_t>(file.size()));
  EXPECT_TRUE(matchesPattern(file.data(), file.size(), 41 * kMiB - 77, 99));
  ASSERT_EQ(::pread(f.get(), file.data(), kMiB, 5 * 4 * kMiB), static_cast<ssize_t>(kMiB));
  EXPECT_TRUE(matchesPattern(file.data(), kMiB, 5 * 4 * kMiB, 7));
}

// Unaligned writes of several threads into the same blocks (disjoint bytes): read-modify-write
// must not lose any of them.
TEST_F(BlockdIscsi, ConcurrentUnalignedWritesIntoTheSameBlocksKeepEveryByte) {
  Watchdog wd(120);
  auto b = connected(config());
  ASSERT_TRUE(b);
  auto disk = b->open("lun2");
  ASSERT_TRUE(disk.ok());
  Disk& d = **disk;
  constexpr int kThreads = 4, kSlices = 64;
  constexpr size_t kSlice = 100;  // thread t owns bytes [t*100, t*100+100) of every 400
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < kSlices; ++i) {
          uint64_t off = 8 * kMiB + static_cast<uint64_t>(i) * kThreads * kSlice + t * kSlice;
          std::vector<char> buf(kSlice);
          fillPattern(buf.data(), kSlice, off, 1000 + round);
          if (d.write(buf.data(), kSlice, off) != static_cast<ssize_t>(kSlice)) bad++;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(bad.load(), 0);
  std::vector<char> all(kSlices * kThreads * kSlice);
  ASSERT_EQ(d.read(all.data(), all.size(), 8 * kMiB), static_cast<ssize_t>(all.size()));
  EXPECT_TRUE(matchesPattern(all.data(), all.size(), 8 * kMiB, 1004));
}

// ── faults ──────────────────────────────────────────────────────────────────────────────────

// Runs ioWorker threads across `fault` (run on this thread once I/O is flowing) and for a while
// after it; fails the test when I/O did not go on after the fault. Returns the failure count.
int ioAcross(Disk& d, const std::function<void()>& fault, std::string& first) {
  IoShared io;
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back(ioWorker, std::ref(d), i, 8 * kMiB, 11, 1, std::ref(io));
  while (io.ok < 20 && io.failures == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  fault();
  const int atFault = io.ok;
  const int64_t end = monotonicMs() + 20000;
  while (io.ok < atFault + 200 && io.failures == 0 && monotonicMs() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  io.stop = true;
  for (auto& t : ts) t.join();
  EXPECT_GE(io.ok.load(), atFault + 200) << "I/O did not go on after the fault";
  first = io.first;
  return io.failures.load();
}

TEST_F(BlockdIscsi, ConnectionsDroppedMidIoReLogInAndTheIoCompletes) {
  Watchdog wd(120);
  auto b = connected(config({}, 10000));
  ASSERT_TRUE(b);
  auto disk = b->open("lun1");
  ASSERT_TRUE(disk.ok());
  const std::vector<int> before = sids();
  ASSERT_EQ(before.size(), 4u);
  std::string first;
  int failures = ioAcross(
      **disk,
      [&] {
        for (int i = 0; i < 3; ++i) {
          EXPECT_TRUE(tgt_.dropConnections(1).ok());
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
      },
      first);
  EXPECT_EQ(failures, 0) << first;
  EXPECT_TRUE(tgt_.waitSessions(1, 4, 5000)) << tgt_.sessionCount(1);
  EXPECT_TRUE(disjoint(before, sids())) << "the sessions were not re-established";
}

TEST_F(BlockdIscsi, PortalDeletedWhileASecondLivesFailsOverWithinTheDeadline) {
  Watchdog wd(120);
  auto second = tgt_.addPortal();
  ASSERT_TRUE(second.ok()) << second.error().message;
  const std::string firstPortal = tgt_.portal();
  auto b = connected(config({firstPortal, *second}, 10000));
  ASSERT_TRUE(b);
  auto disk = b->open("lun1");
  ASSERT_TRUE(disk.ok());
  const std::vector<int> before = sids();
  std::string first;
  int64_t faultAt = 0;
  int failures = ioAcross(
      **disk,
      [&] {
        faultAt = monotonicMs();
        EXPECT_TRUE(tgt_.deletePortal(firstPortal).ok());
        EXPECT_TRUE(tgt_.dropConnections(1).ok());
      },
      first);
  EXPECT_EQ(failures, 0) << first;
  // Every session is back, on the second portal (the first one refuses connections now).
  EXPECT_TRUE(tgt_.waitSessions(1, 4, 5000)) << tgt_.sessionCount(1);
  EXPECT_TRUE(disjoint(before, sids())) << "the sessions were not re-established";
  EXPECT_LT(monotonicMs() - faultAt, 60000);
  std::vector<char> buf(4096);
  EXPECT_EQ((*disk)->read(buf.data(), buf.size(), 0), 4096);
}

TEST_F(BlockdIscsi, TargetKilledGivesEioWithinTheIoTimeoutNeverAHang) {
  Watchdog wd(120);
  const int64_t ioTimeout = 3000, margin = 1000;
  auto b = connected(config({}, ioTimeout));
  ASSERT_TRUE(b);
  auto disk = b->open("lun1");
  ASSERT_TRUE(disk.ok());
  Disk& d = **disk;

  // Writers in a loop; each records how long its failing request took after the kill.
  std::atomic<bool> killed{false};
  std::atomic<int64_t> killAt{0};
  std::atomic<int> eio{0}, other{0};
  std::atomic<int64_t> worst{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 6; ++i) {
    ts.emplace_back([&, i] {
      std::vector<char> buf(1 << 20, static_cast<char>('a' + i));
      for (uint64_t n = 0;; ++n) {
        int64_t t0 = monotonicMs();
        ssize_t r = d.write(buf.data(), buf.size(), (i * 8 + n % 8) * kMiB);
        int64_t took = monotonicMs() - t0;
        if (r == static_cast<ssize_t>(buf.size())) {
          if (killed && monotonicMs() - killAt > 2 * ioTimeout) return;  // should not happen
          continue;
        }
        (r == -EIO ? eio : other)++;
        int64_t w = worst.load();
        while (took > w && !worst.compare_exchange_weak(w, took)) {
        }
        return;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  killAt = monotonicMs();
  killed = true;
  ASSERT_TRUE(tgt_.kill9().ok());
  for (auto& t : ts) t.join();
  EXPECT_EQ(eio.load(), 6);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LE(worst.load(), ioTimeout + margin);
  EXPECT_LE(monotonicMs() - killAt, ioTimeout + margin);

  // New requests while the target stays away: -EIO, bounded (at once once the session has been
  // down for longer than the I/O timeout).
  std::vector<char> buf(4096);
  for (int i = 0; i < 3; ++i) {
    int64_t t0 = monotonicMs();
    EXPECT_EQ(d.read(buf.data(), buf.size(), 0), -EIO);
    EXPECT_LE(monotonicMs() - t0, ioTimeout + margin);
  }
  EXPECT_EQ(d.flush(), -EIO);

  // The target comes back on the same portal: the sessions log in again by themselves.
  ASSERT_TRUE(tgt_.restart().ok()) << tgt_.log();
  bool recovered = false;
  for (int64_t end = monotonicMs() + 10000; !recovered && monotonicMs() < end;) {
    recovered = d.read(buf.data(), buf.size(), 0) == 4096;
    if (!recovered) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(recovered);
  EXPECT_EQ(d.write(buf.data(), buf.size(), 0), 4096);
  b->close();
  EXPECT_TRUE(tgt_.waitSessions(1, 0, 5000)) << tgt_.sessionCount(1);
}

// ── throughput ──────────────────────────────────────────────────────────────────────────────

// The notes' baseline in the same run: libiscsi's sync API, one command at a time.
double rawSyncWriteMiBps(const std::string& portal, int lun, uint64_t total) {
  iscsi_context* ctx = iscsi_create_context("iqn.2024-01.test.boxd:raw-baseline");
  if (ctx == nullptr) return -1;
  iscsi_set_noautoreconnect(ctx, 1);
  iscsi_set_timeout(ctx, 30);
  iscsi_set_targetname(ctx, kIqn);
  iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_initiator_username_pwd(ctx, kUser, kPassword);
  double mibps = -1;
  if (iscsi_full_connect_sync(ctx, portal.c_str(), lun) == 0) {
    std::vector<unsigned char> buf(kMiB, 7);
    bool ok = true;
    int64_t t0 = monotonicUs();
    for (uint64_t off = 0; ok && off < total; off += kMiB) {
      scsi_task* t = iscsi_write16_sync(ctx, lun, off / 512, buf.data(), kMiB, 512, 0, 0, 0, 0, 0);
      ok = t != nullptr && t->status == SCSI_STATUS_GOOD;
      if (t != nullptr) scsi_free_scsi_task(t);
    }
    scsi_task* t = iscsi_synchronizecache16_sync(ctx, lun, 0, 0, 0, 0);
    ok = ok && t != nullptr && t->status == SCSI_STATUS_GOOD;
    if (t != nullptr) scsi_free_scsi_task(t);
    if (ok)
      mibps = static_cast<double>(total) / kMiB / (static_cast<double>(monotonicUs() - t0) / 1e6);
    (void)iscsi_logout_sync(ctx);
  }
  iscsi_destroy_context(ctx);
  return mibps;
}

// Sequential 1 MiB writes from 4 threads (256 MiB, then SYNCHRONIZE CACHE) and reads, on a
// LUN in tmpfs as in the notes, next to the raw libiscsi baseline of the same run.
TEST_F(BlockdIscsi, ThroughputSequentialOneMiBWritesFourThreads) {
  Watchdog wd(300);
  const uint64_t total = 256 * kMiB, perThread = total / 4;
  char shmTemplate[] = "/dev/shm/boxd-iscsi-tput-XXXXXX";
  ASSERT_NE(::mkdtemp(shmTemplate), nullptr);
  const std::string shmDir = shmTemplate;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { (void)removeAll(dir); }
  } cleanup{shmDir};
  ASSERT_TRUE(tgt_.addLun(1, 4, total, false, shmDir + "/lun4.img").ok());
  const double raw = rawSyncWriteMiBps(tgt_.portal(), 4, total);
  EXPECT_GT(raw, 0);

  auto b = connected(config({}, 30000));
  ASSERT_TRUE(b);
  auto disk = b->open("lun4");
  ASSERT_TRUE(disk.ok());
  Disk& d = **disk;
  auto run = [&](bool write) {
    std::atomic<int> errors{0};
    int64_t t0 = monotonicUs();
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) {
      ts.emplace_back([&, i] {
        std::vector<char> buf(kMiB, static_cast<char>(i + 1));
        for (uint64_t off = i * perThread; off < (i + 1) * perThread; off += kMiB) {
          ssize_t r = write ? d.write(buf.data(), kMiB, off) : d.read(buf.data(), kMiB, off);
          if (r != static_cast<ssize_t>(kMiB)) errors++;
        }
      });
    }
    for (auto& t : ts) t.join();
    if (write && d.flush() != 0) errors++;
    double secs = static_cast<double>(monotonicUs() - t0) / 1e6;
    EXPECT_EQ(errors.load(), 0);
    return static_cast<double>(total) / kMiB / secs;
  };
  const double w = run(true);
  const double r = run(false);
  double load[3] = {0, 0, 0};
  (void)::getloadavg(load, 3);
  std::printf(
      "blockd iscsi throughput (LUN on tmpfs, load %.1f): write %.0f MiB/s (4 threads x "
      "1 MiB, 256 MiB, + SYNC CACHE), read %.0f MiB/s; raw libiscsi sync QD1 write %.0f "
      "MiB/s; ratio %.2f\n",
      load[0], w, r, raw, raw > 0 ? w / raw : 0.0);
  RecordProperty("write_MiBps", static_cast<int>(w));
  RecordProperty("read_MiBps", static_cast<int>(r));
  RecordProperty("raw_sync_write_MiBps", static_cast<int>(raw));
}

}  // namespace
}  // namespace boxd::blockd
