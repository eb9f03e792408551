#include "agent/shim_watch.h"

namespace boxd::agent {

struct ShimWatch::Conn {
  uv_pipe_t pipe{};
  uv_connect_t connect{};
  uv_write_t write{};
  std::string buffer;
  std::string request = "{\"op\":\"subscribe\"}\n";
  OnEvent onEvent;
  OnClosed onClosed;
  ShimWatch* owner = nullptr;  // null once the ShimWatch is gone: report nothing
  bool closing = false;

  // Closed by the shim (EOF, an error) or by the ShimWatch's destructor. The Conn is freed once
  // its handle is closed; a ShimWatch that outlives it (the agent keeps the watch of a pod being
  // torn down, whose shim exits) forgets it then, so its destructor touches nothing freed.
  void close(const std::string& why) {
    if (closing) return;
    closing = true;
    if (owner != nullptr && onClosed) onClosed(why);  // may destroy the ShimWatch
    uv_close(reinterpret_cast<uv_handle_t*>(&pipe), [](uv_handle_t* h) {
      auto* c = static_cast<Conn*>(h->data);
      if (c->owner != nullptr) c->owner->conn_ = nullptr;
      delete c;
    });
  }
};

ShimWatch::ShimWatch(uv_loop_t* loop, const std::string& socket, OnEvent onEvent, OnClosed onClosed)
    : conn_(new Conn) {
  conn_->owner = this;
  conn_->onEvent = std::move(onEvent);
  conn_->onClosed = std::move(onClosed);
  uv_pipe_init(loop, &conn_->pipe, 0);
  conn_->pipe.data = conn_;
  conn_->connect.data = conn_;
  uv_pipe_connect(&conn_->connect, &conn_->pipe, socket.c_str(), [](uv_connect_t* req, int status) {
    auto* c = static_cast<Conn*>(req->data);
    if (status < 0) return c->close(std::string("connect: ") + uv_strerror(status));
    if (c->closing) return;
    uv_buf_t buf = uv_buf_init(c->request.data(), static_cast<unsigned>(c->request.size()));
    c->write.data = c;
    uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1,
             [](uv_write_t* w, int st) {
               auto* cc = static_cast<Conn*>(w->data);
               if (st < 0) cc->close(std::string("subscribe: ") + uv_strerror(st));
             });
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->pipe),
        [](uv_handle_t*, size_t suggested, uv_buf_t* b) {
          b->base = new char[suggested];
          b->len = suggested;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* cc = static_cast<Conn*>(s->data);
          if (n > 0) cc->buffer.append(b->base, static_cast<size_t>(n));
          delete[] b->base;
          if (n < 0)
            return cc->close(n == UV_EOF ? "shim closed the connection"
                                         : uv_strerror(static_cast<int>(n)));
          size_t pos;
          while ((pos = cc->buffer.find('\n')) != std::string::npos) {
            auto line = cc->buffer.substr(0, pos);
            cc->buffer.erase(0, pos + 1);
            auto j = nlohmann::json::parse(line, nullptr, false);
            if (j.is_discarded() || cc->owner == nullptr || !cc->onEvent) continue;
            try {
              cc->onEvent(j);
            } catch (const nlohmann::json::exception&) {
              // A malformed event from a shim is dropped; resync re-reads the shim's state.
            }
          }
        });
  });
}

ShimWatch::~ShimWatch() {
  if (conn_ == nullptr) return;  // the shim closed it, and it is freed
  conn_->owner = nullptr;
  conn_->close("");
}

}  // namespace boxd::agent
