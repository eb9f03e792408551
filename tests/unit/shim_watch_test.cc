// ShimWatch's lifetime against its connection's: the agent keeps the watch of a pod being torn
// down while the pod's shim exits (closing the connection), and destroys the watch later, when
// the pod is gone. That late destruction must touch nothing the closed connection freed (boxd
// aborted in uv_close when 50 pods were deleted at once).
#include "agent/shim_watch.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "common/fd.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

class ShimWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    socket_ = dir_ / "shim.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ASSERT_TRUE(listener_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener_.get(), 4), 0);
  }
  void TearDown() override {
    runUntil([] { return false; }, 200);  // close callbacks
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle of the watch is left open";
  }

  // Runs the loop without blocking until pred() or timeoutMs.
  template <typename Pred>
  bool runUntil(Pred pred, int64_t timeoutMs) {
    int64_t deadline = monotonicMs() + timeoutMs;
    while (monotonicMs() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (pred()) return true;
      ::usleep(5000);
    }
    return false;
  }

  // The shim's side of the watch's connection (bounded wait).
  Fd acceptWatch() {
    pollfd p{listener_.get(), POLLIN, 0};
    for (int i = 0; i < 100 && ::poll(&p, 1, 0) == 0; ++i) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      ::usleep(20000);
    }
    return Fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }

  testing::TempDir dir_{"shimwatch"};
  uv_loop_t loop_{};
  std::string socket_;
  Fd listener_;
};

TEST_F(ShimWatchTest, OutlivesAConnectionTheShimClosed) {
  std::optional<std::string> closed;
  auto watch = std::make_unique<ShimWatch>(
      &loop_, socket_, [](const nlohmann::json&) {},
      [&closed](const std::string& why) { closed = why; });
  Fd shim = acceptWatch();
  ASSERT_TRUE(shim) << "the watch did not connect to " << socket_;
  runUntil([] { return false; }, 100);  // the subscribe request is sent
  shim.reset();                         // the shim exits
  ASSERT_TRUE(runUntil([&] { return closed.has_value() && uv_loop_alive(&loop_) == 0; }, 10000))
      << "the watch did not see its shim go, or did not free its connection";
  // The freed connection's memory is handed out again, zeroed, as it is in a busy boxd; a watch
  // that still used it would close a handle of unknown type now (libuv aborts).
  std::vector<std::unique_ptr<char[]>> reuse;
  for (size_t size = 16; size <= 2048; size += 16) {
    for (int i = 0; i < 8; ++i) {
      reuse.emplace_back(new char[size]);
      std::memset(reuse.back().get(), 0, size);
    }
  }
  watch.reset();
  EXPECT_EQ(uv_loop_alive(&loop_), 0) << "destroying the watch opened or closed a handle";
}

TEST_F(ShimWatchTest, DestroyedWhileConnectedReportsNothing) {
  int closedCalls = 0;
  auto watch = std::make_unique<ShimWatch>(
      &loop_, socket_, [](const nlohmann::json&) {},
      [&closedCalls](const std::string&) { closedCalls++; });
  Fd shim = acceptWatch();
  ASSERT_TRUE(shim);
  watch.reset();
  EXPECT_TRUE(runUntil([&] { return uv_loop_alive(&loop_) == 0; }, 10000))
      << "the connection was not closed";
  EXPECT_EQ(closedCalls, 0) << "a destroyed watch still reported its connection closing";
}

}  // namespace
}  // namespace boxd::agent
