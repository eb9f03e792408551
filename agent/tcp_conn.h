// One TCP connection of a network check on the libuv loop: its uv_tcp_t and the check's deadline
// timer, closed together; the object deletes itself once the loop has closed both. NetConn
// (probe_check.cc: tcpSocket, httpGet) and GrpcConn (grpc_check.cc) are its two kinds.
//
//   new Kind(loop) ─► open(socket, deadline) ─► the kind's I/O on tcp_ ─► close() ─► both handles
//                      (timeout: onTimeout())                               closed: delete this
//
// close() is the only way out (a result, an error, the timeout or a cancel): the socket is closed
// with it (FIN, as kubelet's), and no callback of the kind runs afterwards.
#pragma once

#include <netinet/in.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>

#include "common/fd.h"

namespace boxd::agent {

// connect() of a non-blocking socket: 0 once connected (to an address of the socket's own
// namespace the kernel runs the whole loopback handshake inside the call, which a second
// connect() then reports), kConnecting while the handshake goes on, else why it failed
// (UV_ECONNREFUSED, ...).
constexpr int kConnecting = -EINPROGRESS;
int connectNow(int fd, const sockaddr_in& addr);

class TcpConn {
 public:
  TcpConn(const TcpConn&) = delete;
  TcpConn& operator=(const TcpConn&) = delete;

  // Ends the connection: stops its callbacks, closes the socket and the timer; the object is
  // deleted once the loop has closed both. Idempotent.
  void close();
  bool closing() const { return closing_; }

 protected:
  explicit TcpConn(uv_loop_t* loop);
  virtual ~TcpConn() = default;

  // Takes the socket (new, connecting or connected) and starts the deadline. 0 or UV_E*.
  int open(Fd sock, int64_t timeoutMs);
  // Sets the timer to go off in ms instead (onTimeout() then). 0 or UV_E*.
  int restartTimer(int64_t ms);
  // uv_read_start into the connection's own buffer.
  int startReading(uv_read_cb onRead);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  uv_tcp_t* tcp() { return &tcp_; }

  // The connection a handle or request of it belongs to (its data, or its handle's).
  template <class Kind>
  static Kind* of(const uv_handle_t* h) {
    return static_cast<Kind*>(static_cast<TcpConn*>(h->data));
  }
  template <class Kind>
  static Kind* of(const uv_stream_t* s) {
    return of<Kind>(reinterpret_cast<const uv_handle_t*>(s));
  }

  virtual void onTimeout() = 0;  // the timer went off (the deadline: the kind ends with close())

 private:
  uv_tcp_t tcp_{};
  uv_timer_t timer_{};
  char chunk_[4096];
  bool closing_ = false;
  int closed_ = 0;
};

}  // namespace boxd::agent
