#include "agent/metrics_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace boxd::agent {

namespace {

constexpr size_t kMaxHead = 8192;

std::string response(int code, const char* reason, const std::string& contentType,
                     const std::string& body, bool withBody) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + contentType +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         (withBody ? body : "");
}

}  // namespace

// One connection: its stream (a TCP or pipe handle) and its timer, freed when both are closed.
// `alive` tells a render finishing late that the connection is gone.
struct MetricsServer::Conn {
  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h{};
  uv_timer_t timer{};
  uv_write_t write{};
  std::string in, out;
  bool answered = false, closed = false;
  int openHandles = 0;
  MetricsServer* owner = nullptr;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&h); }

  void close() {
    if (closed) return;
    closed = true;
    *alive = false;
    if (owner != nullptr) owner->conns_.erase(this);
    owner = nullptr;
    auto done = [](uv_handle_t* handle) {
      auto* c = static_cast<Conn*>(handle->data);
      if (--c->openHandles == 0) delete c;
    };
    uv_timer_stop(&timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&h), done);
  }

  void send(std::string text) {
    if (closed) return;
    out = std::move(text);
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    write.data = this;
    if (uv_write(&write, stream(), &buf, 1,
                 [](uv_write_t* w, int) { static_cast<Conn*>(w->data)->close(); }) != 0)
      close();
  }

  // The request head is in: answer it.
  void answer(MetricsServer& server) {
    answered = true;
    uv_read_stop(stream());
    std::string line = in.substr(0, in.find("\r\n"));
    auto sp1 = line.find(' ');
    auto sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
    std::string method = line.substr(0, sp1);
    std::string target = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (method != "GET" && method != "HEAD")
      return send(response(405, "Method Not Allowed", "text/plain", "GET only\n", true));
    if (target != "/metrics" && target != "/")
      return send(response(404, "Not Found", "text/plain", "see /metrics\n", true));
    bool head = method == "HEAD";
    std::weak_ptr<bool> stillOpen = alive;
    server.render_([this, stillOpen, head](std::string text) {
      if (stillOpen.expired() || !*stillOpen.lock()) return;
      send(response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, !head));
    });
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    std::unique_ptr<char[]> owned(buf->base);
    if (n < 0) return c->close();
    if (c->answered || c->owner == nullptr) return;
    c->in.append(buf->base, static_cast<size_t>(n));
    if (c->in.find("\r\n\r\n") != std::string::npos || c->in.find("\n\n") != std::string::npos)
      return c->answer(*c->owner);
    if (c->in.size() > kMaxHead)
      c->send(response(431, "Request Header Fields Too Large", "text/plain", "", true));
  }
};

MetricsServer::MetricsServer(uv_loop_t* loop, Render render)
    : loop_(loop), render_(std::move(render)) {}

MetricsServer::~MetricsServer() { close(); }

Status MetricsServer::listen(const MetricsEndpoint& ep) {
  int rc = 0;
  if (ep.unixSocket) {
    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop_, pipe, 0);
    server_ = reinterpret_cast<uv_handle_t*>(pipe);
    struct stat st {};
    if (::lstat(ep.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(ep.path.c_str());
    rc = uv_pipe_bind(pipe, ep.path.c_str());
    if (rc == 0) {
      ::chmod(ep.path.c_str(), 0660);
      unixPath_ = ep.path;
      address_ = ep.path;
    }
  } else {
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(loop_, tcp);
    server_ = reinterpret_cast<uv_handle_t*>(tcp);
    sockaddr_storage addr{};
    if (ep.host.find(':') != std::string::npos)
      rc = uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&addr));
    else
      rc = uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc == 0) rc = uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&addr), 0);
    address_ = (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" +
               std::to_string(ep.port);
  }
  server_->data = this;
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(server_), 16, &onConnection);
  if (rc != 0) {
    std::string where = address_.empty() ? ep.path : address_;
    close();
    return makeError("serve metrics on " + where + ": " + uv_strerror(rc), -rc);
  }
  return {};
}

void MetricsServer::onConnection(uv_stream_t* listener, int status) {
  auto* self = static_cast<MetricsServer*>(listener->data);
  if (status < 0) return;
  auto* c = new Conn;
  if (self->unixPath_.empty())
    uv_tcp_init(self->loop_, &c->h.tcp);
  else
    uv_pipe_init(self->loop_, &c->h.pipe, 0);
  uv_timer_init(self->loop_, &c->timer);
  c->h.tcp.data = c;  // the handle's data field is at the same place in both
  c->timer.data = c;
  c->openHandles = 2;
  if (uv_accept(listener, c->stream()) != 0 ||
      static_cast<int>(self->conns_.size()) >= kMaxConnections) {
    c->close();  // refused: over the limit
    return;
  }
  c->owner = self;
  self->conns_.insert(c);
  uv_timer_start(
      &c->timer, [](uv_timer_t* t) { static_cast<Conn*>(t->data)->close(); }, kTimeoutMs, 0);
  uv_read_start(
      c->stream(),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        buf->base = new char[4096];
        buf->len = 4096;
      },
      &Conn::onRead);
}

void MetricsServer::close() {
  for (Conn* c : std::set<Conn*>(conns_)) c->close();
  conns_.clear();
  if (server_ != nullptr) {
    uv_close(server_, [](uv_handle_t* h) {
      if (h->type == UV_TCP)
        delete reinterpret_cast<uv_tcp_t*>(h);
      else
        delete reinterpret_cast<uv_pipe_t*>(h);
    });
    server_ = nullptr;
    if (!unixPath_.empty()) ::unlink(unixPath_.c_str());
  }
}

}  // namespace boxd::agent
