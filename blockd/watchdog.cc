#include "blockd/watchdog.h"

#include <algorithm>

#include "common/util.h"

namespace boxd::blockd {

uint64_t InflightTable::begin(const char* op, uint64_t offset, size_t length) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  requests_.emplace(id, Request{op, offset, length, monotonicMs()});
  peak_ = std::max(peak_, requests_.size());
  return id;
}

void InflightTable::end(uint64_t id) {
  std::lock_guard lock(mu_);
  requests_.erase(id);
}

std::optional<InflightTable::Request> InflightTable::oldest() const {
  std::lock_guard lock(mu_);
  if (requests_.empty()) return std::nullopt;
  return requests_.begin()->second;
}

size_t InflightTable::size() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

size_t InflightTable::peak() const {
  std::lock_guard lock(mu_);
  return peak_;
}

Watchdog::Watchdog(const InflightTable& table, int64_t limitMs, int64_t periodMs, OnStuck onStuck)
    : table_(table), limitMs_(limitMs), periodMs_(periodMs), onStuck_(std::move(onStuck)) {
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Watchdog::fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

void Watchdog::run() {
  std::unique_lock lock(mu_);
  while (!stop_ && !fired_) {
    cv_.wait_for(lock, std::chrono::milliseconds(periodMs_));
    if (stop_) break;
    auto r = table_.oldest();
    if (!r) continue;
    int64_t age = monotonicMs() - r->startMs;
    if (age <= limitMs_) continue;
    fired_ = true;
    std::string why = std::string(r->op) + " of " + std::to_string(r->length) + " bytes at " +
                      std::to_string(r->offset) + " pending for " + std::to_string(age) +
                      " ms (limit " + std::to_string(limitMs_) + " ms)";
    lock.unlock();
    onStuck_(why);
    lock.lock();
  }
}

}  // namespace boxd::blockd
