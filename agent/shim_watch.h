// A subscription to a pod shim's exit events, on the loop thread (uv_pipe). When the shim
// goes away (killed, crashed), the agent is told, so drift is repaired at once, not at resync.
#pragma once

#include <uv.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace boxd::agent {

class ShimWatch {
 public:
  using OnEvent = std::function<void(const nlohmann::json&)>;
  using OnClosed = std::function<void(const std::string& why)>;
  ShimWatch(uv_loop_t* loop, const std::string& socket, OnEvent onEvent, OnClosed onClosed);
  ~ShimWatch();
  ShimWatch(const ShimWatch&) = delete;
  ShimWatch& operator=(const ShimWatch&) = delete;

 private:
  struct Conn;
  Conn* conn_;  // owned by libuv callbacks until the handle is closed; then null
};

}  // namespace boxd::agent
