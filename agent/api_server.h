// boxctl's socket: one JSON request line per connection, one JSON reply line, then close.
//
// Bounded: at most Limits::maxConnections connections are served at once. One more makes room
// by closing the oldest connection that has not sent its request yet, or, when every one has a
// request in flight, is refused; either way the one closed gets an error line at once. So idle
// connections, however many, never keep boxctl out. A connection that has not sent a complete
// request line within Limits::idleTimeoutMs is answered with an error line and closed, and one
// that does not take its reply within that time is closed. A request being handled (an image
// import may take minutes) is not timed out: once its line is in, the connection waits for the
// reply. No request streams on this socket (`boxctl logs -f` reads the
// log files itself), so no connection needs to stay idle.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/result.h"

namespace boxd::agent {

struct ApiLimits {
  int maxConnections = 64;
  int idleTimeoutMs = 30000;
};

class ApiServer {
 public:
  using Handler =
      std::function<void(const nlohmann::json& req, std::function<void(nlohmann::json)> reply)>;
  using Limits = ApiLimits;
  ApiServer(uv_loop_t* loop, Handler handler, Limits limits = {});
  ~ApiServer();
  // Binds path (mode 0600; a stale socket left by a dead boxd is replaced).
  Status listen(const std::string& path);
  // Stops listening and closes every connection (a reply still to come goes nowhere).
  void close();

  int connections() const { return connections_; }  // being served now

 private:
  struct Client;
  static void onConnection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  Handler handler_;
  Limits limits_;
  uv_pipe_t* server_ = nullptr;
  std::string path_;
  int connections_ = 0;
  std::list<Client*> idle_;    // served, no complete request yet; oldest first
  std::set<Client*> clients_;  // every open connection, served or being refused
  uint64_t refused_ = 0;
};

}  // namespace boxd::agent
