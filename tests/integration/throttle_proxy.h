// A TCP proxy on 127.0.0.1 that slows what the upstream sends (a registry serving slowly), for
// tests that must act while a pull is under way. Client-to-upstream bytes pass unthrottled.
// Threads and sockets end with the object.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::testing {

class ThrottleProxy {
 public:
  // upstream: "127.0.0.1:<port>"; bytesPerSecond per connection. port: 0 = any free one; a
  // given one lets a test bring "the registry" back where it was.
  static Result<std::unique_ptr<ThrottleProxy>> start(const std::string& upstream,
                                                      int64_t bytesPerSecond, int port = 0);
  ~ThrottleProxy();
  ThrottleProxy(const ThrottleProxy&) = delete;
  ThrottleProxy& operator=(const ThrottleProxy&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  // Bytes relayed from upstream to clients so far, and the request lines clients sent
  // ("GET /v2/app/manifests/v1 HTTP/1.1"), in order: what a pull asked the registry for.
  int64_t bytesDown() const { return bytesDown_.load(); }
  std::vector<std::string> requests() const;

 private:
  ThrottleProxy() = default;
  void acceptLoop();
  void relay(Fd client, Fd server);

  Fd listener_;
  int port_ = 0;
  int upstreamPort_ = 0;
  int64_t rate_ = 0;
  void sawClientBytes(std::string& pending, const char* p, size_t n);
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> bytesDown_{0};
  mutable std::mutex statsMu_;
  std::vector<std::string> requests_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
};

}  // namespace boxd::testing
