// The metrics endpoint: a minimal HTTP/1.x server on the loop for Prometheus' scrapes.
//
// GET /metrics (or /) answers 200 with the text exposition format; any other path 404, any other
// method 405; one request per connection (Connection: close). Bounded like the API socket: at
// most kMaxConnections at once (more are closed at accept), a request head of at most 8 KiB
// that must arrive within the timeout, and a reply that must be taken within it. Rendering is
// asynchronous (cgroup reads run off the loop), so the loop never blocks on a scrape.
#pragma once

#include <uv.h>

#include <functional>
#include <set>
#include <string>

#include "agent/metrics.h"
#include "common/result.h"

namespace boxd::agent {

class MetricsServer {
 public:
  // Calls done exactly once with the metrics text (on the loop thread).
  using Render = std::function<void(std::function<void(std::string)> done)>;
  static constexpr int kMaxConnections = 16;
  static constexpr int kTimeoutMs = 10000;

  MetricsServer(uv_loop_t* loop, Render render);
  ~MetricsServer();
  Status listen(const MetricsEndpoint& ep);
  void close();
  std::string address() const { return address_; }  // as bound: "127.0.0.1:9102", "/run/x.sock"

 private:
  struct Conn;
  static void onConnection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  Render render_;
  uv_handle_t* server_ = nullptr;
  std::string address_, unixPath_;
  std::set<Conn*> conns_;
};

}  // namespace boxd::agent
