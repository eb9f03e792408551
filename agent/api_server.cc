#include "agent/api_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <utility>

namespace boxd::agent {

namespace {
constexpr size_t kMaxRequest = 1 << 20;

std::string lineOf(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One line on its way to a watcher: the buffer lives until libuv is done with it.
struct StreamWrite {
  uv_write_t req{};
  std::string data;
};
}  // namespace

// One connection: its pipe and its idle timer, freed when both handles are closed. The count of
// connections served is given back at close, so a refused one never counts.
struct ApiServer::Client {
  uv_pipe_t pipe{};
  uv_timer_t timer{};
  std::string in;
  std::string out;
  uv_write_t write{};
  bool replied = false;
  bool closed = false;
  int openHandles = 0;
  int idleMs = 0;
  ApiServer* server = nullptr;  // while this one counts as served, else null
  ApiServer* owner = nullptr;   // until closed
  std::list<Client*>::iterator idlePos;
  bool idle = false;  // in server->idle_
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  Handler* handler = nullptr;
  // A watch: lines queued (bytes not yet taken by the kernel), and once it fell behind, the
  // last line is on its way and nothing more is queued.
  bool streaming = false;
  bool ending = false;
  size_t queued = 0;
  size_t maxQueued = 0;
  std::function<void()> onClose;  // a watch gives back its place among the streams
  std::function<void()> onEnd;    // the publisher's, told that the stream closed

  // Gives back the slot (and the place among the idle) at once, before the close completes.
  void release() {
    notIdle();
    if (server != nullptr) --server->connections_;
    server = nullptr;
  }
  void notIdle() {
    if (!idle) return;
    server->idle_.erase(idlePos);
    idle = false;
  }
  void close() {
    if (closed) return;
    closed = true;
    *alive = false;
    if (owner != nullptr) owner->clients_.erase(this);
    release();
    if (onClose) std::exchange(onClose, nullptr)();
    if (onEnd) std::exchange(onEnd, nullptr)();
    auto done = [](uv_handle_t* h) {
      auto* c = static_cast<Client*>(h->data);
      if (--c->openHandles == 0) delete c;
    };
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), done);
  }
  void send(const nlohmann::json& reply) {
    if (closed || replied) return;
    replied = true;
    notIdle();
    uv_timer_stop(&timer);
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe));
    out = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    write.data = this;
    int rc = uv_write(&write, reinterpret_cast<uv_stream_t*>(&pipe), &buf, 1,
                      [](uv_write_t* w, int) { static_cast<Client*>(w->data)->close(); });
    if (rc != 0) return close();
    // A peer that never reads a large reply does not hold its connection for ever either.
    startTimer();
  }
  // Before the reply: no complete request in time. After it: the reply not taken in time.
  void startTimer() {
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* c = static_cast<Client*>(t->data);
          if (c->streaming) {
            spdlog::warn("boxctl socket: a watcher took no line in {} ms; closing it", c->idleMs);
            return c->close();
          }
          if (c->replied) return c->close();
          c->send({{"ok", false}, {"error", "no complete request line in time; closing"}});
        },
        static_cast<uint64_t>(idleMs), 0);
  }
  void onRead(ssize_t n, const uv_buf_t* buf);
  bool pushLine(std::string line);
  void fellBehind(const std::string& why);
  static void onStreamWritten(uv_write_t* w, int status);
};

// Queues a watch line. Past the bound the watcher is dropped: it gets one last line saying so
// (it may still read it), and nothing more is queued, so a watcher that never reads costs at
// most the bound.
bool ApiServer::Client::pushLine(std::string line) {
  if (closed || ending) return false;
  if (queued + line.size() > maxQueued) {
    fellBehind("fell behind by more than " + std::to_string(maxQueued) + " bytes");
    return false;
  }
  auto* w = new StreamWrite;
  w->data = std::move(line);
  w->req.data = this;
  queued += w->data.size();
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&pipe), &buf, 1, &onStreamWritten);
  if (rc != 0) {
    queued -= w->data.size();
    delete w;
    close();
    return false;
  }
  // Lines wait: the watcher must take one within the idle time.
  if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&pipe)) > 0 &&
      uv_is_active(reinterpret_cast<uv_handle_t*>(&timer)) == 0)
    startTimer();
  return true;
}

void ApiServer::Client::fellBehind(const std::string& why) {
  if (ending || closed) return;
  spdlog::warn("boxctl socket: a watcher {}; closing it", why);
  std::string last = lineOf({{"type", "ERROR"}, {"error", "boxd closed this watch: it " + why}});
  maxQueued = queued + last.size();
  pushLine(std::move(last));
  ending = true;
  if (queued == 0) close();
}

void ApiServer::Client::onStreamWritten(uv_write_t* w, int status) {
  auto* sw = reinterpret_cast<StreamWrite*>(w);
  auto* c = static_cast<Client*>(w->data);
  c->queued -= sw->data.size();
  delete sw;
  if (c->closed) return;
  if (status < 0) return c->close();
  if (c->queued == 0) {
    uv_timer_stop(&c->timer);
    if (c->ending) c->close();
  } else {
    c->startTimer();  // progress: the watcher gets another idle time for the rest
  }
}

// The sending end the agent holds; it outlives the connection and then refuses lines.
class ApiServer::Stream : public ApiStream {
 public:
  explicit Stream(Client* c) : client_(c), alive_(c->alive) {}
  bool push(const nlohmann::json& line) override {
    return open() && client_->pushLine(lineOf(line));
  }
  bool open() const override {
    auto a = alive_.lock();
    return a && *a && !client_->ending;
  }
  void end() override {
    auto a = alive_.lock();
    if (!a || !*a || client_->ending) return;
    client_->ending = true;
    if (client_->queued == 0) client_->close();
  }
  void onClose(std::function<void()> fn) override {
    auto a = alive_.lock();
    if (!a || !*a) return fn();
    client_->onEnd = std::move(fn);
  }

 private:
  Client* client_;
  std::weak_ptr<bool> alive_;
};

void ApiServer::Client::onRead(ssize_t n, const uv_buf_t* buf) {
  if (streaming) {  // a watcher says nothing more; its end closes the watch
    delete[] buf->base;
    if (n < 0) close();
    return;
  }
  if (n > 0) in.append(buf->base, static_cast<size_t>(n));
  delete[] buf->base;
  if (n < 0) {
    if (!replied) close();
    return;
  }
  if (in.size() > kMaxRequest) return send({{"ok", false}, {"error", "request too large"}});
  auto pos = in.find('\n');
  if (pos == std::string::npos || replied) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe));
  uv_timer_stop(&timer);  // a request is in: the handler's time is its own
  notIdle();
  auto req = nlohmann::json::parse(in.substr(0, pos), nullptr, false);
  if (req.is_discarded() || !req.is_object())
    return send({{"ok", false}, {"error", "malformed request"}});
  if (req.contains("watch") && owner != nullptr) return owner->startStream(this, req);
  std::weak_ptr<bool> weak = alive;
  try {
    (*handler)(req, [this, weak](nlohmann::json reply) {
      if (auto a = weak.lock(); a && *a) send(reply);
    });
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong type ({"name": 7}): the request is bad, boxd is fine.
    send({{"ok", false}, {"error", std::string("malformed request: ") + e.what()}});
  }
}

ApiServer::ApiServer(uv_loop_t* loop, Handler handler, Limits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits) {}

ApiServer::~ApiServer() { close(); }

void ApiServer::startStream(Client* c, const nlohmann::json& req) {
  int most = limits_.maxStreams > 0 ? limits_.maxStreams : std::max(1, limits_.maxConnections / 2);
  if (!streamHandler_) return c->send({{"ok", false}, {"error", "this boxd has no watch"}});
  if (streams_ >= most) {
    return c->send({{"ok", false},
                    {"error", "too many watches on boxd (" + std::to_string(most) +
                                  "); try again when one ends"}});
  }
  c->streaming = true;
  c->maxQueued = limits_.streamQueueBytes;
  ++streams_;
  c->onClose = [this] { --streams_; };
  // The kernel holds as much again as boxd does, no more.
  int sndbuf = static_cast<int>(std::min<size_t>(limits_.streamQueueBytes, INT32_MAX / 2));
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) == 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  auto stream = std::make_shared<Stream>(c);
  Status st;
  try {
    st = streamHandler_(req, stream);
  } catch (const nlohmann::json::exception& e) {
    st = makeError(std::string("malformed request: ") + e.what());
  }
  if (!st.ok()) {
    c->streaming = false;
    std::exchange(c->onClose, nullptr)();
    return c->send({{"ok", false}, {"error", st.error().message}});
  }
  // Read on, only to see the watcher go.
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* b) {
        b->base = new char[suggested];
        b->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        static_cast<Client*>(s->data)->onRead(n, buf);
      });
}

Status ApiServer::listen(const std::string& path) {
  path_ = path;
  ::unlink(path.c_str());
  server_ = new uv_pipe_t;
  uv_pipe_init(loop_, server_, 0);
  server_->data = this;
  mode_t old = ::umask(0177);
  int rc = uv_pipe_bind(server_, path.c_str());
  ::umask(old);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), 128, &ApiServer::onConnection);
  if (rc != 0) {
    close();
    return makeError("listen on " + path + ": " + uv_strerror(rc));
  }
  return {};
}

void ApiServer::close() {
  // Watchers hear why their watch ends, when the line fits in their socket at once.
  for (Client* c : clients_) {
    if (!c->streaming || c->ending || c->queued > 0) continue;
    std::string last = lineOf({{"type", "ERROR"}, {"error", "boxd is stopping"}});
    uv_buf_t buf = uv_buf_init(last.data(), static_cast<unsigned>(last.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1);
  }
  while (!clients_.empty()) (*clients_.begin())->close();
  if (server_ == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(server_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  server_ = nullptr;
  ::unlink(path_.c_str());
}

void ApiServer::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ApiServer*>(server->data);
  if (status < 0) return;
  auto* c = new Client;
  c->handler = &self->handler_;
  c->owner = self;
  self->clients_.insert(c);
  uv_pipe_init(self->loop_, &c->pipe, 0);
  uv_timer_init(self->loop_, &c->timer);
  c->pipe.data = c->timer.data = c;
  c->openHandles = 2;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) return c->close();
  c->idleMs = self->limits_.idleTimeoutMs;
  if (self->connections_ >= self->limits_.maxConnections) {
    const std::string full =
        "too many connections to boxd (" + std::to_string(self->limits_.maxConnections) + ")";
    if (self->refused_++ % 100 == 0)
      spdlog::warn("boxctl socket: {}; {} closed so far", full, self->refused_);
    if (self->idle_.empty()) return c->send({{"ok", false}, {"error", full + "; try again"}});
    Client* oldest = self->idle_.front();
    oldest->release();
    oldest->send({{"ok", false}, {"error", full + "; closing the oldest without a request"}});
  }
  c->server = self;
  ++self->connections_;
  c->idlePos = self->idle_.insert(self->idle_.end(), c);
  c->idle = true;
  c->startTimer();
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* b) {
        b->base = new char[suggested];
        b->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        static_cast<Client*>(s->data)->onRead(n, buf);
      });
}

}  // namespace boxd::agent
