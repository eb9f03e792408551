// The last resort against a FUSE request that never completes (a writer in D state blocks
// umount and then every sync(2) on the host): every request is entered in an InflightTable; a
// Watchdog thread looks at the oldest one and, past the limit, calls onStuck once (the FUSE
// server aborts its connection through fusectl there).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace boxd::blockd {

class InflightTable {
 public:
  struct Request {
    const char* op = "";
    uint64_t offset = 0;
    size_t length = 0;
    int64_t startMs = 0;  // monotonic
  };

  uint64_t begin(const char* op, uint64_t offset, size_t length);
  void end(uint64_t id);
  std::optional<Request> oldest() const;
  size_t size() const;
  size_t peak() const;  // the most requests in flight at once so far

 private:
  mutable std::mutex mu_;
  uint64_t next_ = 1;
  size_t peak_ = 0;
  std::map<uint64_t, Request> requests_;  // ids grow with time: the first is the oldest
};

// Enters one request for the lifetime of a handler.
class InflightGuard {
 public:
  InflightGuard(InflightTable& table, const char* op, uint64_t offset = 0, size_t length = 0)
      : table_(table), id_(table.begin(op, offset, length)) {}
  ~InflightGuard() { table_.end(id_); }
  InflightGuard(const InflightGuard&) = delete;
  InflightGuard& operator=(const InflightGuard&) = delete;

 private:
  InflightTable& table_;
  uint64_t id_;
};

class Watchdog {
 public:
  using OnStuck = std::function<void(const std::string& why)>;
  Watchdog(const InflightTable& table, int64_t limitMs, int64_t periodMs, OnStuck onStuck);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const;

 private:
  void run();

  const InflightTable& table_;
  int64_t limitMs_, periodMs_;
  OnStuck onStuck_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, fired_ = false;
  std::thread thread_;
};

}  // namespace boxd::blockd
