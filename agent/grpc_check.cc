// grpc probes over libnghttp2 on the libuv loop (grpc_check.h).
#include "agent/grpc_check.h"

#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "agent/grpc_health.h"
#include "agent/tcp_conn.h"
#include "common/util.h"

namespace boxd::agent {

namespace {

constexpr int64_t kRetryMs = 200;                // between connect attempts, within the deadline
constexpr size_t kMaxBody = 64 * 1024;           // a HealthCheckResponse is a few bytes
constexpr int64_t kMaxTimeoutDigits = 99999999;  // grpc-timeout takes at most 8 digits

// How one connection ended.
struct ConnResult {
  bool timedOut = false;
  bool connected = false;  // TCP up and the server's SETTINGS received (grpc-go's READY)
  std::string error;       // before the connection was up: why it failed
  grpc::CallReply reply;   // once connected
};

// One TCP connection carrying one call.
class GrpcConn : public TcpConn {
 public:
  using Done = std::function<void(ConnResult)>;

  static GrpcConn* start(uv_loop_t* loop, Fd sock, const sockaddr_in& addr,
                         const std::string& authority, const std::string& service,
                         int64_t timeoutMs, Done done) {
    auto* c = new GrpcConn(loop, std::move(done));
    c->authority_ = authority;
    c->message_ = grpc::healthCheckRequest(service);
    c->timeoutMs_ = timeoutMs;
    int rc = c->open(std::move(sock), timeoutMs);
    if (rc == 0)
      rc = uv_tcp_connect(&c->connect_, c->tcp(), reinterpret_cast<const sockaddr*>(&addr),
                          &GrpcConn::onConnect);
    if (rc != 0) c->fail(uv_strerror(rc));
    return c;
  }
  void cancel() {
    done_ = nullptr;
    close();
  }

 private:
  GrpcConn(uv_loop_t* loop, Done done) : TcpConn(loop), done_(std::move(done)) {}
  ~GrpcConn() override {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  // ---- the HTTP/2 session --------------------------------------------------------------

  bool startSession() {
    nghttp2_session_callbacks* cb = nullptr;
    if (nghttp2_session_callbacks_new(&cb) != 0) return false;
    nghttp2_session_callbacks_set_on_header_callback(cb, &GrpcConn::onHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &GrpcConn::onData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &GrpcConn::onFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &GrpcConn::onStreamClose);
    int rc = nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) return false;
    nghttp2_settings_entry push{NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, &push, 1) != 0) return false;
    return submitCall();
  }

  bool submitCall() {
    auto nv = [](const char* name, const std::string& value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())),
                        std::strlen(name), value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    const std::string post = "POST", http = "http", path(grpc::kHealthCheckPath),
                      type = "application/grpc", te = "trailers", agent = "kube-probe/boxd";
    const std::string timeout = timeoutMs_ <= kMaxTimeoutDigits
                                    ? std::to_string(timeoutMs_) + "m"
                                    : std::to_string(timeoutMs_ / 1000) + "S";
    nghttp2_nv headers[] = {nv(":method", post),      nv(":scheme", http),
                            nv(":path", path),        nv(":authority", authority_),
                            nv("content-type", type), nv("te", te),
                            nv("user-agent", agent),  nv("grpc-timeout", timeout)};
    nghttp2_data_provider body{};
    body.source.ptr = this;
    body.read_callback = &GrpcConn::readBody;
    streamId_ = nghttp2_submit_request(session_, nullptr, headers,
                                       sizeof headers / sizeof headers[0], &body, this);
    return streamId_ > 0;
  }

  static ssize_t readBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* c = static_cast<GrpcConn*>(source->ptr);
    size_t n = std::min(length, c->message_.size() - c->sent_);
    std::memcpy(buf, c->message_.data() + c->sent_, n);
    c->sent_ += n;
    if (c->sent_ == c->message_.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    auto* c = static_cast<GrpcConn*>(ud);
    if (frame->hd.stream_id != c->streamId_) return 0;
    std::string_view n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      c->result_.reply.httpStatus = std::atoi(v.c_str());
    } else if (n == "grpc-status") {
      bool digits = !v.empty() && v.size() < 4 && v.find_first_not_of("0123456789") == v.npos;
      c->result_.reply.grpcStatus = digits ? std::atoi(v.c_str()) : grpc::kCodeUnknown;
    } else if (n == "grpc-message") {
      c->result_.reply.grpcMessage = grpc::percentDecode(v);
    }
    return 0;
  }

  static int onData(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data, size_t len,
                    void* ud) {
    auto* c = static_cast<GrpcConn*>(ud);
    if (stream != c->streamId_) return 0;
    if (c->result_.reply.body.size() + len > kMaxBody) {
      c->result_.reply.streamError = "the response message is over 64 KiB";
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    c->result_.reply.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int onFrame(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    auto* c = static_cast<GrpcConn*>(ud);
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0)
      c->result_.connected = true;
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t stream, uint32_t code, void* ud) {
    auto* c = static_cast<GrpcConn*>(ud);
    if (stream != c->streamId_) return 0;
    c->streamClosed_ = true;
    if (code != NGHTTP2_NO_ERROR && c->result_.reply.streamError.empty())
      c->result_.reply.streamError =
          std::string("stream terminated by RST_STREAM with error code: ") +
          nghttp2_http2_strerror(code);
    return 0;
  }

  // Writes whatever the session has to send.
  void flush() {
    std::string out;
    const uint8_t* data = nullptr;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0)
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (n < 0)
      return fail(std::string("connection error: ") + nghttp2_strerror(static_cast<int>(n)));
    if (out.empty()) return;
    auto* w = new Write{{}, std::move(out)};
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int st) {
      auto* self = of<GrpcConn>(req->handle);
      delete reinterpret_cast<Write*>(req);
      if (st != 0 && st != UV_ECANCELED) self->fail(std::string("write: ") + uv_strerror(st));
    });
    if (rc != 0) {
      delete w;
      fail(std::string("write: ") + uv_strerror(rc));
    }
  }
  struct Write {
    uv_write_t req;  // first: the callback casts back
    std::string data;
  };

  // ---- the connection --------------------------------------------------------------------

  static void onConnect(uv_connect_t* req, int status) {
    auto* c = of<GrpcConn>(req->handle);
    if (status == UV_ECANCELED) return;
    if (status != 0) return c->fail(uv_strerror(status));
    if (!c->startSession()) return c->fail("could not start an HTTP/2 session");
    c->flush();
    if (!c->closing()) c->startReading(&GrpcConn::onRead);
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* c = of<GrpcConn>(s);
    if (n == 0 || c->closing()) return;
    if (n == UV_EOF) return c->fail("error reading from server: EOF");
    if (n < 0)
      return c->fail(std::string("error reading from server: ") + uv_strerror(static_cast<int>(n)));
    ssize_t rc = nghttp2_session_mem_recv(c->session_, reinterpret_cast<const uint8_t*>(b->base),
                                          static_cast<size_t>(n));
    if (rc < 0) {
      std::string why =
          c->result_.reply.streamError.empty()
              ? std::string("connection error: ") + nghttp2_strerror(static_cast<int>(rc))
              : c->result_.reply.streamError;
      return c->fail(why);
    }
    if (c->streamClosed_) return c->finish();
    c->flush();
  }

  void onTimeout() override {
    result_.timedOut = true;
    finish();
  }

  // Before the connection is up an error is the connect's; after, the call's.
  void fail(const std::string& why) {
    if (result_.connected && result_.reply.streamError.empty()) result_.reply.streamError = why;
    if (!result_.connected) result_.error = why;
    finish();
  }

  void finish() {
    if (Done d = std::exchange(done_, nullptr)) d(std::move(result_));
    close();
  }

  uv_connect_t connect_{};
  nghttp2_session* session_ = nullptr;
  int32_t streamId_ = -1;
  std::string authority_, message_;
  size_t sent_ = 0;
  int64_t timeoutMs_ = 0;
  ConnResult result_;
  bool streamClosed_ = false;
  Done done_;
};

// ---- the check: connect attempts until the deadline, then one call ------------------------

class GrpcCheck : public Check {
 public:
  GrpcCheck(uv_loop_t* loop, const specs::GrpcAction& action, const CheckTarget& target,
            int64_t timeoutMs, CheckDone done)
      : loop_(loop),
        target_(target),
        service_(action.service),
        done_(std::move(done)),
        deadline_(monotonicMs() + timeoutMs),
        timeoutMs_(timeoutMs) {
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(action.port));
    authority_ = target.defaultIp + ":" + std::to_string(action.port);
    if (::inet_pton(AF_INET, target.defaultIp.c_str(), &addr_.sin_addr) != 1) {
      fail("probe address \"" + target.defaultIp + "\" is not an IPv4 address");
      return;
    }
    retry_ = new uv_timer_t;
    uv_timer_init(loop, retry_);
    retry_->data = this;
    attempt();
  }
  ~GrpcCheck() override {
    if (conn_ != nullptr) conn_->cancel();
    if (retry_ != nullptr)
      uv_close(reinterpret_cast<uv_handle_t*>(retry_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }

 private:
  void fail(std::string why) { finish({false, false, std::move(why)}); }
  void finish(CheckResult r) {
    conn_ = nullptr;
    if (CheckDone d = std::exchange(done_, nullptr)) d(std::move(r));
  }

  void attempt() {
    int64_t left = deadline_ - monotonicMs();
    if (left <= 0) return fail(grpc::connectTimeoutMessage(authority_, timeoutMs_, lastError_));
    auto sock = target_.sockets ? target_.sockets->take() : socketInNetns(target_.netnsFd, AF_INET);
    if (!sock.ok()) return fail(sock.error().message);
    conn_ = GrpcConn::start(loop_, std::move(*sock), addr_, authority_, service_, left,
                            [this](ConnResult r) { onDone(std::move(r)); });
  }

  void onDone(ConnResult r) {
    conn_ = nullptr;
    if (r.timedOut) {
      return fail(r.connected ? grpc::callTimeoutMessage(timeoutMs_)
                              : grpc::connectTimeoutMessage(authority_, timeoutMs_, lastError_));
    }
    if (!r.connected) {  // refused, reset, not HTTP/2: try again while there is time
      lastError_ = r.error;
      int64_t wait = std::min(kRetryMs, std::max<int64_t>(deadline_ - monotonicMs(), 0));
      uv_timer_start(
          retry_, [](uv_timer_t* t) { static_cast<GrpcCheck*>(t->data)->attempt(); },
          static_cast<uint64_t>(wait), 0);
      return;
    }
    grpc::ProbeOutcome o = grpc::callOutcome(r.reply);
    finish({o.success, false, o.output});
  }

  uv_loop_t* loop_;
  CheckTarget target_;
  std::string service_, authority_, lastError_;
  sockaddr_in addr_{};
  CheckDone done_;
  int64_t deadline_, timeoutMs_;
  uv_timer_t* retry_ = nullptr;
  GrpcConn* conn_ = nullptr;
};

}  // namespace

std::unique_ptr<Check> startGrpcCheck(uv_loop_t* loop, const specs::GrpcAction& action,
                                      const CheckTarget& target, int64_t timeoutMs,
                                      CheckDone done) {
  return std::make_unique<GrpcCheck>(loop, action, target, timeoutMs, std::move(done));
}

}  // namespace boxd::agent
