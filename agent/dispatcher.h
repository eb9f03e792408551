// The event-loop seam: only the loop thread touches agent state. Blocking work (syscalls,
// mounts, talking to shims, waiting out a grace period) runs on its own thread and posts its
// completion back to the loop. A thread per operation (not libuv's small fixed pool) so a pod
// waiting 30 s for SIGTERM never delays another pod's start. Reusing idle threads instead was
// measured with 50 pods (boxd-bench-probes): idle CPU 0.37-0.50% of a core before, 0.30-0.43%
// after, within the spread of runs, for 50-80 idle threads and more resident memory: not kept.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace boxd::agent {

class Dispatcher {
 public:
  explicit Dispatcher(uv_loop_t* loop);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  uv_loop_t* loop() const { return loop_; }
  // Runs fn on the loop thread soon. Safe from any thread; dropped once closed.
  void post(std::function<void()> fn);
  // Runs work on a new thread, then done on the loop thread.
  void runBlocking(std::function<void()> work, std::function<void()> done);
  // Number of blocking operations in flight.
  int inFlight() const { return inFlight_; }
  // On the loop thread: stops the loop handle. Operations still running finish on their
  // threads; what they post afterwards (their done) is dropped.
  void close();

 private:
  // Where threads post to. Shared with them: an operation may outlive close() and the
  // Dispatcher (a grace period still being waited out when boxd stops).
  struct Inbox {
    std::mutex mu;
    std::vector<std::function<void()>> queue;
    uv_async_t* async = nullptr;  // null once closed
  };
  static void postTo(Inbox& inbox, std::function<void()> fn);
  static void onAsync(uv_async_t* h);
  uv_loop_t* loop_;
  uv_async_t* async_;  // freed by its close callback, which may run after we are gone
  std::shared_ptr<Inbox> inbox_;
  int inFlight_ = 0;
  bool closed_ = false;
};

// A one-shot or repeating timer owned by the loop; cancelled when destroyed.
class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  // With a callback that restart() runs each time (set once: restarting allocates nothing).
  Timer(uv_loop_t* loop, std::function<void()> fn);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start(uint64_t delayMs, std::function<void()> fn, uint64_t repeatMs = 0);
  // Once, in delayMs, with the callback it has (the constructor's or the last start()'s).
  void restart(uint64_t delayMs);
  void stop();
  bool active() const;

 private:
  static void onTimer(uv_timer_t* t);
  uv_timer_t* t_;
  // Shared so that a tick holds the callback alive (it may destroy or restart this timer)
  // without copying it: a copy allocates for every tick.
  std::shared_ptr<std::function<void()>> fn_;
};

}  // namespace boxd::agent
