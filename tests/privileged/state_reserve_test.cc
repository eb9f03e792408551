// The state store on a full filesystem (issue 10, full state disk): the SQLite database on a
// 16 MiB tmpfs that the test fills to the last byte. Without the reserve every write fails with
// "database or disk is full"; with it, the first one that fails gives the reserve up and is done,
// a transaction is retried whole, and once nothing is left to give the error is returned as is.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/util.h"
#include "state/reserve_store.h"
#include "tests/support/temp_dir.h"

namespace boxd::state {
namespace {

using boxd::testing::TempDir;

PodRecord pod(const std::string& name, size_t specBytes = 64) {
  PodRecord p;
  p.name = name;
  p.uid = "u-" + name;
  p.specHash = "h";
  p.specJson = std::string(specBytes, 'x');
  p.phase = "Running";
  return p;
}

void fill(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  std::string block(1 << 16, 'f');
  while (::write(fd, block.data(), block.size()) > 0) {
  }
  while (::write(fd, "f", 1) > 0) {
  }
  ::close(fd);
}

class StateReserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_EQ(::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=16m"), 0)
        << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    store_.reset();
    if (mounted_ && ::umount2(dir_.path().c_str(), 0) != 0)
      (void)::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  std::unique_ptr<Store> open(int64_t reserveBytes) {
    auto s = Store::open(dir_ / "boxd.db");
    EXPECT_TRUE(s.ok()) << s.error().message;
    if (!s.ok()) return nullptr;
    SpaceReserve r(dir_ / "reserve", reserveBytes);
    EXPECT_TRUE(r.ensure().ok());
    return std::make_unique<ReserveStore>(std::move(*s), std::move(r),
                                          [this](const std::string& n) { notes_.push_back(n); });
  }
  // Writes pods until one fails (at most 200); the first error.
  Status writeUntilFull(Store& s, const std::string& prefix) {
    for (int i = 0; i < 200; ++i) {
      Status st = s.upsertPod(pod(prefix + std::to_string(i), 64 << 10));
      if (!st.ok()) return st;
    }
    return {};
  }
  TempDir dir_{"state-reserve"};
  bool mounted_ = false;
  std::unique_ptr<Store> store_;
  std::vector<std::string> notes_;
};

TEST_F(StateReserveTest, WithoutAReserveAFullDiskRefusesEveryWrite) {
  store_ = open(0);
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->upsertPod(pod("web")).ok());
  fill(dir_ / "filler");
  Status st = writeUntilFull(*store_, "p");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("full"), std::string::npos) << st.error().message;
}

TEST_F(StateReserveTest, TheFirstFullWriteGivesUpTheReserveAndIsDone) {
  store_ = open(8 << 20);
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->upsertPod(pod("web")).ok());
  fill(dir_ / "filler");
  // The pod's teardown as the agent journals it: its rows go, the pod goes, an event is added.
  Status st = store_->transaction([&]() -> Status {
    BOXD_TRY(store_->upsertPod(pod("big", 3 << 20)));  // spills to the WAL mid-transaction
    return store_->deletePod("big");
  });
  EXPECT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(store_->deletePod("web").ok());
  auto ev = store_->appendEvent({0, 1, "web", "Normal", "Deleted", "pod torn down"});
  EXPECT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_EQ(notes_.size(), 1u);
  EXPECT_NE(notes_[0].find("released its reserve of 8388608 bytes"), std::string::npos)
      << notes_[0];
  EXPECT_NE(::access((dir_ / "reserve").c_str(), F_OK), 0);
  // Nothing left to give: the error comes back as it is, and nothing else is released.
  st = writeUntilFull(*store_, "q");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("full"), std::string::npos) << st.error().message;
  EXPECT_EQ(notes_.size(), 1u);
}

}  // namespace
}  // namespace boxd::state
