// The handles of one check's TCP connection (tcp_conn.h).
#include "agent/tcp_conn.h"

#include <sys/socket.h>

#include <algorithm>

namespace boxd::agent {

int connectNow(int fd, const sockaddr_in& addr) {
  auto once = [&] {
    int rc;
    do {
      rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;  // as libuv's UV_E* (-errno on Linux)
  };
  int rc = once();
  if (rc != kConnecting) return rc;
  // A non-blocking connect() says EINPROGRESS even when the loopback handshake is over by the
  // time it returns (the SYN-ACK waits in the socket's backlog until the call releases the
  // socket). Asking again tells: 0 once connected, EALREADY while the handshake goes on, or
  // why it failed (ECONNREFUSED).
  rc = once();
  return rc == -EALREADY ? kConnecting : rc;
}

TcpConn::TcpConn(uv_loop_t* loop) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = timer_.data = this;
}

int TcpConn::open(Fd sock, int64_t timeoutMs) {
  int rc = uv_tcp_open(&tcp_, sock.get());
  if (rc != 0) return rc;  // (sock still owns the fd: closed here)
  sock.release();
  return restartTimer(timeoutMs);
}

int TcpConn::restartTimer(int64_t ms) {
  return uv_timer_start(
      &timer_, [](uv_timer_t* t) { of<TcpConn>(reinterpret_cast<uv_handle_t*>(t))->onTimeout(); },
      static_cast<uint64_t>(std::max<int64_t>(ms, 0)), 0);
}

int TcpConn::startReading(uv_read_cb onRead) {
  return uv_read_start(
      stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        TcpConn* c = of<TcpConn>(h);
        *b = uv_buf_init(c->chunk_, sizeof c->chunk_);
      },
      onRead);
}

void TcpConn::close() {
  if (closing_) return;
  closing_ = true;
  auto closed = [](uv_handle_t* h) {
    TcpConn* c = of<TcpConn>(h);
    if (++c->closed_ == 2) delete c;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
}

}  // namespace boxd::agent
