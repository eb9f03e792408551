#include "agent/api_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <memory>

namespace boxd::agent {

namespace {

constexpr size_t kMaxRequest = 1 << 20;

struct Client {
  uv_pipe_t pipe{};
  std::string in;
  std::string out;
  uv_write_t write{};
  bool replied = false;
  bool closed = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  ApiServer::Handler* handler = nullptr;

  void close() {
    if (closed) return;
    closed = true;
    *alive = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
  }
  void send(const nlohmann::json& reply) {
    if (closed || replied) return;
    replied = true;
    out = reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    uv_buf_t buf = uv_buf_init(out.data(), static_cast<unsigned>(out.size()));
    write.data = this;
    uv_write(&write, reinterpret_cast<uv_stream_t*>(&pipe), &buf, 1,
             [](uv_write_t* w, int) { static_cast<Client*>(w->data)->close(); });
  }
};

void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(s->data);
  if (n > 0) c->in.append(buf->base, static_cast<size_t>(n));
  delete[] buf->base;
  if (n < 0) {
    if (!c->replied) c->close();
    return;
  }
  if (c->in.size() > kMaxRequest) return c->send({{"ok", false}, {"error", "request too large"}});
  auto pos = c->in.find('\n');
  if (pos == std::string::npos || c->replied) return;
  uv_read_stop(s);
  auto req = nlohmann::json::parse(c->in.substr(0, pos), nullptr, false);
  if (req.is_discarded() || !req.is_object())
    return c->send({{"ok", false}, {"error", "malformed request"}});
  std::weak_ptr<bool> alive = c->alive;
  try {
    (*c->handler)(req, [c, alive](nlohmann::json reply) {
      if (auto a = alive.lock(); a && *a) c->send(reply);
    });
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong type ({"name": 7}): the request is bad, boxd is fine.
    c->send({{"ok", false}, {"error", std::string("malformed request: ") + e.what()}});
  }
}

}  // namespace

ApiServer::ApiServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

ApiServer::~ApiServer() { close(); }

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
  uv_pipe_init(self->loop_, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) return c->close();
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->pipe),
      [](uv_handle_t*, size_t suggested, uv_buf_t* b) {
        b->base = new char[suggested];
        b->len = suggested;
      },
      onRead);
}

}  // namespace boxd::agent
