// boxd-blockd's helpers that need no mount: mountinfo parsing, the request watchdog and the
// deadlines of asynchronous requests.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "blockd/deadline.h"
#include "blockd/mountinfo.h"
#include "blockd/watchdog.h"
#include "common/util.h"

namespace boxd::blockd {
namespace {

const char kMountInfo[] =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "90 22 0:52 / /run/boxd/blockd/vol\\0401 rw,nosuid,nodev,relatime shared:40 - "
    "fuse.boxd-blockd boxd-blockd rw,user_id=0,group_id=0,default_permissions,max_read=1048576\n"
    "garbage line\n"
    "91 90 7:3 / /run/boxd/blockd/vol\\0401 rw - ext4 /dev/loop3 rw\n"
    "95 22 0:60 / /mnt/x rw - fuse /dev/fuse rw\n";

TEST(BlockdMountInfo, ParsesFieldsAndUnescapes) {
  auto mounts = parseMountInfo(kMountInfo);
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[1].mountId, 90);
  EXPECT_EQ(mounts[1].major, 0u);
  EXPECT_EQ(mounts[1].minor, 52u);
  EXPECT_EQ(mounts[1].mountPoint, "/run/boxd/blockd/vol 1");
  EXPECT_EQ(mounts[1].fsType, "fuse.boxd-blockd");
  EXPECT_EQ(mounts[1].source, "boxd-blockd");
  EXPECT_TRUE(isFuse(mounts[1]));
  EXPECT_TRUE(isFuse(mounts[3]));
  EXPECT_FALSE(isFuse(mounts[0]));
}

TEST(BlockdMountInfo, MountAtReturnsTheTopmostMount) {
  auto mounts = parseMountInfo(kMountInfo);
  auto top = mountAt(mounts, "/run/boxd/blockd/vol 1");
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->mountId, 91);  // the stacked one: a helper must refuse this path
  EXPECT_FALSE(mountAt(mounts, "/run/boxd/blockd").has_value());
}

TEST(BlockdMountInfo, ReadsOwnMountInfo) {
  auto mounts = readMountInfo();
  ASSERT_TRUE(mounts.ok()) << mounts.error().message;
  EXPECT_TRUE(mountAt(*mounts, "/").has_value());
}

TEST(BlockdWatchdog, FiresOnceForARequestPastTheLimit) {
  InflightTable table;
  std::atomic<int> calls{0};
  std::string why;
  {
    Watchdog w(table, 100, 20, [&](const std::string& w2) {
      why = w2;
      ++calls;
    });
    InflightGuard g(table, "write", 4096, 512);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_TRUE(w.fired());
  }
  EXPECT_EQ(calls.load(), 1);
  EXPECT_NE(why.find("write of 512 bytes at 4096"), std::string::npos) << why;
}

TEST(BlockdWatchdog, QuietWhileRequestsFinishInTime) {
  InflightTable table;
  std::atomic<int> calls{0};
  {
    Watchdog w(table, 200, 20, [&](const std::string&) { ++calls; });
    for (int i = 0; i < 20; ++i) {
      InflightGuard g(table, "read");
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    EXPECT_FALSE(w.fired());
  }
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(table.size(), 0u);
}

TEST(BlockdWatchdog, OldestIsTheEarliestStillPending) {
  InflightTable table;
  uint64_t a = table.begin("read", 0, 1);
  uint64_t b = table.begin("write", 8, 2);
  table.end(a);
  auto o = table.oldest();
  ASSERT_TRUE(o.has_value());
  EXPECT_STREQ(o->op, "write");
  table.end(b);
  EXPECT_FALSE(table.oldest().has_value());
}

// A request that a peer never finishes: expired once, at its deadline, not before.
struct FakeRequest : Expirable {
  std::atomic<bool> done{false};
  std::atomic<int> expired{0};
  std::atomic<int64_t> expiredAtMs{0};
  bool finished() const override { return done.load(); }
  void expire(int64_t) override {
    ++expired;
    expiredAtMs = monotonicMs();
  }
};

TEST(BlockdDeadlineQueue, ExpiresAnOpenRequestOnceAtItsDeadline) {
  DeadlineQueue q(150, 20);
  auto open = std::make_shared<FakeRequest>();
  auto finished = std::make_shared<FakeRequest>();
  int64_t t0 = monotonicMs();
  q.add(open);
  q.add(finished);
  finished->done = true;  // the peer answered in time
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(open->expired.load(), 0) << "expired before its deadline";
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(open->expired.load(), 1);
  EXPECT_GE(open->expiredAtMs.load() - t0, 150);
  EXPECT_EQ(finished->expired.load(), 0);
  EXPECT_EQ(q.size(), 0u);
}

TEST(BlockdDeadlineQueue, DropsFinishedAndReleasedRequestsWithoutWaitingForTheirDeadline) {
  DeadlineQueue q(60000, 10);
  for (int i = 0; i < 100; ++i) {
    auto r = std::make_shared<FakeRequest>();
    q.add(r);
    r->done = true;
  }
  q.add(std::make_shared<FakeRequest>());  // released at once: its weak entry expires
  int64_t deadline = monotonicMs() + 5000;
  while (q.size() > 0 && monotonicMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace boxd::blockd
