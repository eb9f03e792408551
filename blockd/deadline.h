// Deadlines for asynchronous requests: each request is entered when it is submitted; a thread
// ends it (Expirable::expire) once its deadline has passed, unless it finished first. All
// requests of a queue share one timeout, so they expire in the order they were entered: a FIFO,
// no heap. The queue holds weak references; a request that finished and was dropped costs one
// control block until it reaches the front (the thread drops finished fronts every `periodMs`).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace boxd::blockd {

class Expirable {
 public:
  virtual ~Expirable() = default;
  virtual bool finished() const = 0;
  // Called at most once, on the queue's thread, when the deadline passed and finished() was
  // false: the request must end now (with an error), exactly once against its completion.
  virtual void expire(int64_t timeoutMs) = 0;
};

class DeadlineQueue {
 public:
  explicit DeadlineQueue(int64_t timeoutMs, int64_t periodMs = 100);
  ~DeadlineQueue();  // stops the thread; requests still entered are not expired
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  void add(const std::shared_ptr<Expirable>& request);  // deadline: now + timeoutMs
  size_t size() const;                                  // entries held (finished ones too)
  int64_t timeoutMs() const { return timeoutMs_; }

 private:
  void run();

  const int64_t timeoutMs_, periodMs_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int64_t, std::weak_ptr<Expirable>>> queue_;  // (deadline ms, request)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace boxd::blockd
