// boxctl's socket: one JSON request line per connection, one JSON reply line, then close.
//
// Bounded: at most Limits::maxConnections connections are served at once. One more makes room
// by closing the oldest connection that has not sent its request yet, or, when every one has a
// request in flight, is refused; either way the one closed gets an error line at once. So idle
// connections, however many, never keep boxctl out. A connection that has not sent a complete
// request line within Limits::idleTimeoutMs is answered with an error line and closed, and one
// that does not take its reply within that time is closed. A request being handled (an image
// import may take minutes) is not timed out: once its line is in, the connection waits for the
// reply.
//
// A request with "watch" set is a subscription (`boxctl status -w`, `events -w`): the handler
// given to setStreamHandler gets an ApiStream and pushes one JSON line per change for as long as
// the peer stays. A watch holds its connection slot but is never idle; at most
// Limits::maxStreams run at once (by default half the connections), so watchers never keep
// boxctl out. Memory per watcher is bounded: at most Limits::streamQueueBytes wait in boxd and
// as much again in the kernel's socket buffer. A watcher that falls further behind, or takes no
// line for Limits::idleTimeoutMs while lines wait, gets an error line (when it can still take
// one) and is closed.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/result.h"

namespace boxd::agent {

struct ApiLimits {
  int maxConnections = 64;
  int idleTimeoutMs = 30000;
  int maxStreams = 0;                 // 0: half of maxConnections (at least 1)
  size_t streamQueueBytes = 1 << 20;  // per watcher, in boxd; as much again in the kernel
};

// One subscription's sending end, held by whoever publishes to it. Loop thread only.
class ApiStream {
 public:
  virtual ~ApiStream() = default;
  // Queues one line. False once the stream is closed (peer gone, fell behind, boxd stopping):
  // drop it then.
  virtual bool push(const nlohmann::json& line) = 0;
  virtual bool open() const = 0;
  // Ends the stream: the connection closes once the lines queued are sent.
  virtual void end() {}
  // fn runs (on the loop, once) when the stream closes, whatever closed it; at once if closed.
  virtual void onClose(std::function<void()> fn) { (void)fn; }
};

class ApiServer {
 public:
  using Handler =
      std::function<void(const nlohmann::json& req, std::function<void(nlohmann::json)> reply)>;
  using Limits = ApiLimits;
  // Starts a subscription: pushes its first lines to the stream, or fails (sent as the error).
  using StreamHandler =
      std::function<Status(const nlohmann::json& req, std::shared_ptr<ApiStream> stream)>;
  ApiServer(uv_loop_t* loop, Handler handler, Limits limits = {});
  void setStreamHandler(StreamHandler h) { streamHandler_ = std::move(h); }
  ~ApiServer();
  // Binds path (mode 0600; a stale socket left by a dead boxd is replaced).
  Status listen(const std::string& path);
  // Stops listening and closes every connection (a reply still to come goes nowhere).
  void close();

  int connections() const { return connections_; }  // being served now
  int streams() const { return streams_; }          // watches among them

 private:
  struct Client;
  class Stream;
  void startStream(Client* c, const nlohmann::json& req);
  static void onConnection(uv_stream_t* server, int status);
  uv_loop_t* loop_;
  Handler handler_;
  StreamHandler streamHandler_;
  int streams_ = 0;
  Limits limits_;
  uv_pipe_t* server_ = nullptr;
  std::string path_;
  int connections_ = 0;
  std::list<Client*> idle_;    // served, no complete request yet; oldest first
  std::set<Client*> clients_;  // every open connection, served or being refused
  uint64_t refused_ = 0;
};

}  // namespace boxd::agent
