#include "blockd/deadline.h"

#include <algorithm>

#include "common/util.h"

namespace boxd::blockd {

DeadlineQueue::DeadlineQueue(int64_t timeoutMs, int64_t periodMs)
    : timeoutMs_(timeoutMs), periodMs_(std::max<int64_t>(1, periodMs)) {
  thread_ = std::thread([this] { run(); });
}

DeadlineQueue::~DeadlineQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void DeadlineQueue::add(const std::shared_ptr<Expirable>& request) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    wake = queue_.empty();
    queue_.emplace_back(monotonicMs() + timeoutMs_, request);
  }
  if (wake) cv_.notify_one();
}

size_t DeadlineQueue::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void DeadlineQueue::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      continue;
    }
    auto [deadline, weak] = queue_.front();
    std::shared_ptr<Expirable> request = weak.lock();
    if (!request || request->finished()) {
      queue_.pop_front();
      continue;
    }
    int64_t now = monotonicMs();
    if (now < deadline) {
      // Wake at the deadline, or earlier to drop the finished entries behind an open one.
      cv_.wait_for(lock, std::chrono::milliseconds(std::min(deadline - now, periodMs_)));
      if (now + periodMs_ <= deadline) {
        while (queue_.size() > 1) {  // finished entries right behind the open front
          auto& second = queue_[1].second;
          auto s = second.lock();
          if (s && !s->finished()) break;
          queue_.erase(queue_.begin() + 1);
        }
      }
      continue;
    }
    queue_.pop_front();
    lock.unlock();
    request->expire(timeoutMs_);
    request.reset();
    lock.lock();
  }
}

}  // namespace boxd::blockd
