// boxctl's socket: one JSON request line per connection, one JSON reply line, then close.
#pragma once

#include <uv.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace boxd::agent {

class ApiServer {
 public:
  using Handler =
      std::function<void(const nlohmann::json& req, std::function<void(nlohmann::json)> reply)>;
  ApiServer(uv_loop_t* loop, Handler handler);
  ~ApiServer();
  // Binds path (mode 0600; a stale socket left by a dead boxd is replaced).
  Status listen(const std::string& path);
  void close();

 private:
  static void onConnection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  Handler handler_;
  uv_pipe_t* server_ = nullptr;
  std::string path_;
};

}  // namespace boxd::agent
