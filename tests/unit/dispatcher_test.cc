// Dispatcher::runBlocking: an operation never waits for another, and a running operation
// outlives close() and the Dispatcher safely (its done is dropped, nothing touches freed memory:
// built with -fsanitize=address, the thread-per-operation code before the Inbox showed a
// heap-use-after-free in ARunningOperationOutlivesCloseAndTheDispatcher).
#include "agent/dispatcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace boxd::agent {
namespace {

using namespace std::chrono_literals;

// Blocks an operation until opened; bounded, so a failing test never leaves a thread stuck.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 20s, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    dispatcher_ = std::make_unique<Dispatcher>(&loop_);
  }
  void TearDown() override {
    gate_->open();
    dispatcher_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  // Runs the loop until pred holds or 10 s pass.
  bool runUntil(const std::function<bool()>& pred) {
    auto end = std::chrono::steady_clock::now() + 10s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  uv_loop_t loop_{};
  std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, ASecondOperationRunsWhileTheFirstBlocks) {
  std::atomic<bool> started{false};
  bool firstDone = false, secondDone = false;
  dispatcher_->runBlocking(
      [gate = gate_, &started] {
        started = true;
        gate->wait();
      },
      [&] { firstDone = true; });
  ASSERT_TRUE(runUntil([&] { return started.load(); }));
  dispatcher_->runBlocking([] {}, [&] { secondDone = true; });
  EXPECT_EQ(dispatcher_->inFlight(), 2);
  ASSERT_TRUE(runUntil([&] { return secondDone; })) << "the second operation waited for the first";
  EXPECT_FALSE(firstDone);
  EXPECT_EQ(dispatcher_->inFlight(), 1);
  gate_->open();
  ASSERT_TRUE(runUntil([&] { return firstDone; }));
  EXPECT_EQ(dispatcher_->inFlight(), 0);
}

TEST_F(DispatcherTest, ARunningOperationOutlivesCloseAndTheDispatcher) {
  std::atomic<bool> started{false}, finished{false};
  bool done = false;
  dispatcher_->runBlocking(
      [gate = gate_, &started, &finished] {
        started = true;
        gate->wait();
        finished = true;
      },
      [&done] { done = true; });
  ASSERT_TRUE(runUntil([&] { return started.load(); }));
  dispatcher_->close();
  dispatcher_.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);  // the handle's close callback frees it
  gate_->open();
  ASSERT_TRUE(runUntil([&] { return finished.load(); }));
  std::this_thread::sleep_for(50ms);  // the thread posts its done to the closed inbox
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_FALSE(done) << "a done ran after close()";
}

TEST_F(DispatcherTest, WhatIsPostedAfterCloseIsDropped) {
  bool ran = false;
  dispatcher_->post([&ran] { ran = true; });
  dispatcher_->close();
  dispatcher_->post([&ran] { ran = true; });
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace boxd::agent
