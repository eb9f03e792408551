// tcpSocket, httpGet, exec and sleep checks (probe_check.h); grpc is in grpc_check.cc.
#include "agent/probe_check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "agent/grpc_check.h"
#include "agent/tcp_conn.h"
#include "agent/tick_schedule.h"
#include "common/util.h"

namespace boxd::agent {

namespace {

constexpr size_t kMaxOutput = 10 * 1024;  // kubelet's limit on a probe's output
constexpr size_t kMaxHead = 16 * 1024;
constexpr int kMaxRedirects = 10;         // as Go's HTTP client, which kubelet uses
constexpr int64_t kHelperGraceMs = 5000;  // boxd-exec past its own deadline: killed

// ---- one TCP connection, optionally one request -------------------------------------------

// Sends the request (if any) and reads until the response head is complete, the peer closes or
// the deadline passes; without a request, waits until the handshake is done.
//
// A request sent at once (a loopback handshake done inside connect()) is not followed by a wait
// on epoll for its response: the response is looked for at the probes' next batch time (at
// least kFirstLookMs later, tick_schedule.h), when the loop wakes for the next batch of probes
// anyway and every check started in the same wakeup is looked at together. Only a response not
// complete by then is waited for on the loop, up to the deadline. That saves a loop wakeup and
// an epoll registration per check; a result comes at most kProbeBatchMs (100 ms) later.
class NetConn : public TcpConn {
 public:
  using Done = std::function<void(int status, std::string received)>;  // status: 0 or UV_E*

  // sock is connected (connectNow() gave 0) or connecting (kConnecting).
  static NetConn* start(uv_loop_t* loop, Fd sock, bool connected, std::string request,
                        int64_t timeoutMs, Done done) {
    auto* c = new NetConn(loop, std::move(request), std::move(done));
    const int64_t now = static_cast<int64_t>(uv_now(loop));
    c->deadlineMs_ = now + timeoutMs;
    int rc = c->open(std::move(sock), timeoutMs);
    if (rc == 0) rc = c->send(connected);
    if (rc == 0 && !c->closing() && !c->request_.empty()) {
      if (c->sentAtOnce_) {
        int64_t look = gridAtOrAfter(now + kFirstLookMs, kProbeBatchMs) - now;
        c->looking_ = look < timeoutMs;
        if (c->looking_) rc = c->restartTimer(look);
      }
      if (rc == 0 && !c->looking_) rc = c->startReading(&NetConn::onRead);
    }
    if (rc != 0) c->finish(rc);
    return c;
  }
  void cancel() {
    done_ = nullptr;
    close();
  }

 private:
  static constexpr int64_t kFirstLookMs = 5;

  NetConn(uv_loop_t* loop, std::string request, Done done)
      : TcpConn(loop), request_(std::move(request)), done_(std::move(done)) {}

  // On a connected socket the request goes out now (no loop turn, no epoll registration for
  // it). On a connecting one libuv writes once the socket is writable, that is once the
  // handshake is done, and a failed handshake fails the write with its error (ECONNREFUSED,
  // ...): without a request the (empty) write just tells that.
  int send(bool connected) {
    size_t sent = 0;
    if (connected) {
      uv_buf_t b = uv_buf_init(request_.data(), static_cast<unsigned>(request_.size()));
      int n = uv_try_write(stream(), &b, 1);
      if (n < 0 && n != UV_EAGAIN) return n;
      sent = n > 0 ? static_cast<size_t>(n) : 0;
      if (sent == request_.size()) {
        sentAtOnce_ = true;
        return 0;
      }
    }
    buf_ = uv_buf_init(request_.data() + sent, static_cast<unsigned>(request_.size() - sent));
    return uv_write(&write_, stream(), &buf_, 1, [](uv_write_t* w, int st) {
      auto* c = of<NetConn>(w->handle);
      if (st != 0 || c->request_.empty()) c->finish(st);
    });
  }

  // Takes bytes of the response; true once the check is over (the head is complete).
  bool take(const char* data, size_t n) {
    received_.append(data, n);
    HttpHead head;
    if (parseHttpHead(received_, head) == 0 && received_.size() < kMaxHead) return false;
    finish(0);
    return true;
  }

  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    auto* c = of<NetConn>(s);
    if (n == UV_EOF) return c->finish(0);
    if (n < 0) return c->finish(static_cast<int>(n));
    c->take(b->base, static_cast<size_t>(n));
  }

  // The first look: what has come already, without the loop; the rest is waited for.
  void look() {
    uv_os_fd_t fd = -1;
    if (int rc = uv_fileno(reinterpret_cast<uv_handle_t*>(tcp()), &fd); rc != 0) return finish(rc);
    char chunk[4096];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n > 0) {
        if (take(chunk, static_cast<size_t>(n))) return;
        continue;
      }
      if (n == 0) return finish(0);  // the peer closed
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return finish(-errno);
      break;
    }
    int64_t left = deadlineMs_ - static_cast<int64_t>(uv_now(tcp()->loop));
    int rc = restartTimer(std::max<int64_t>(left, 1));
    if (rc == 0) rc = startReading(&NetConn::onRead);
    if (rc != 0) finish(rc);
  }

  void onTimeout() override {
    if (std::exchange(looking_, false)) return look();
    finish(UV_ETIMEDOUT);
  }

  void finish(int status) {
    if (Done d = std::exchange(done_, nullptr)) d(status, std::move(received_));
    close();
  }

  uv_write_t write_{};
  uv_buf_t buf_{};
  std::string request_, received_;
  Done done_;
  int64_t deadlineMs_ = 0;   // loop time
  bool sentAtOnce_ = false;  // the request went out inside start()
  bool looking_ = false;     // the timer is the first look, not the deadline
};

std::string hostPort(const std::string& ip, int64_t port) {
  return ip + ":" + std::to_string(port);
}

// ---- tcpSocket and httpGet -----------------------------------------------------------------

class NetCheck : public Check {
 public:
  NetCheck(uv_loop_t* loop, const specs::Action& action, const CheckTarget& target,
           int64_t timeoutMs, CheckDone done)
      : loop_(loop),
        netnsFd_(target.netnsFd),
        sockets_(target.sockets),
        done_(std::move(done)),
        deadline_(monotonicMs() + timeoutMs),
        timeoutMs_(timeoutMs) {
    if (action.httpGet) {
      http_ = *action.httpGet;
      ip_ = http_->host.empty() ? target.defaultIp : http_->host;
      port_ = http_->port.number;
      path_ = http_->path;
    } else {
      ip_ = action.tcpSocket->host.empty() ? target.defaultIp : action.tcpSocket->host;
      port_ = action.tcpSocket->port.number;
    }
    attempt();
  }
  ~NetCheck() override {
    if (conn_ != nullptr) conn_->cancel();
  }

 private:
  std::string url() const { return "http://" + hostPort(ip_, port_) + path_; }

  void fail(std::string why) { finish({false, false, std::move(why)}); }
  void finish(CheckResult r) {
    conn_ = nullptr;
    if (CheckDone d = std::exchange(done_, nullptr)) d(std::move(r));
  }

  void attempt() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::inet_pton(AF_INET, ip_.c_str(), &addr.sin_addr) != 1)
      return fail("probe address \"" + ip_ + "\" is not an IPv4 address");
    auto sock = sockets_ ? sockets_->take() : socketInNetns(netnsFd_, AF_INET);
    if (!sock.ok()) return fail(sock.error().message);
    // To the pod's own address (its IP or 127.0.0.1: the usual probe) the connection goes over
    // loopback, and the kernel runs the whole handshake inside connect(): a tcpSocket check is
    // then over (its socket closes at once, with FIN), without a libuv handle or a loop turn.
    const int rc = connectNow(sock->get(), addr);
    if (rc == 0 && !http_) {
      sock->reset();
      return finish({true, false, ""});
    }
    if (rc != 0 && rc != kConnecting) return onDone(rc, {});  // refused, unreachable
    int64_t left = std::max<int64_t>(deadline_ - monotonicMs(), 1);
    std::string request = http_ ? httpRequest(*http_, ip_, port_, path_) : "";
    const int attempt = ++attempts_;
    NetConn* c = NetConn::start(loop_, std::move(*sock), rc == 0, std::move(request), left,
                                [this](int status, std::string got) { onDone(status, got); });
    // It may have finished already (then it is closing and its result is in, or a redirect
    // started the next attempt): only a connection still running is ours to cancel.
    if (attempt == attempts_ && done_) conn_ = c;
  }

  // What failed, for a message (built only when something did).
  std::string what() const {
    return http_ ? "Get \"" + url() + "\"" : "dial tcp " + hostPort(ip_, port_);
  }

  void onDone(int status, const std::string& got) {
    conn_ = nullptr;
    if (status == UV_ETIMEDOUT)
      return fail(what() + ": timeout after " + std::to_string(timeoutMs_ / 1000) + "s");
    if (status != 0) return fail(what() + ": " + uv_strerror(status));
    if (!http_) return finish({true, false, ""});
    HttpHead head;
    int parsed = parseHttpHead(got, head);
    if (parsed <= 0) return fail(what() + ": malformed HTTP response");
    std::string body = got.substr(std::min(head.headerBytes, got.size()));
    if (head.status >= 200 && head.status < 300) return finish({true, false, body});
    if (head.status >= 300 && head.status < 400 && !head.location.empty()) return redirect(head);
    if (head.status >= 300 && head.status < 400) return finish({true, false, body});
    fail("HTTP probe failed with statuscode: " + std::to_string(head.status));
  }

  // A redirect on the same host and port is followed; one elsewhere ends the probe with a
  // warning (as kubelet, which never follows a probe off the pod).
  void redirect(const HttpHead& head) {
    std::string loc = head.location;
    std::string prefix = "http://" + hostPort(ip_, port_);
    if (startsWith(loc, prefix + "/") || loc == prefix) {
      loc = loc.substr(prefix.size());
      if (loc.empty()) loc = "/";
    } else if (loc.empty() || loc[0] != '/' || startsWith(loc, "//")) {
      return finish(
          {true, true,
           "Probe terminated redirects, Response body: (redirect to " + head.location + ")"});
    }
    if (++redirects_ > kMaxRedirects)
      return fail("Get \"" + url() + "\": stopped after 10 redirects");
    path_ = loc;
    attempt();
  }

  uv_loop_t* loop_;
  int netnsFd_;  // only these of the target: copying its exec part (JSON) per check costs
  std::shared_ptr<NetnsSockets> sockets_;
  CheckDone done_;
  int64_t deadline_, timeoutMs_;
  std::optional<specs::HttpGetAction> http_;
  std::string ip_, path_;
  int64_t port_ = 0;
  int redirects_ = 0, attempts_ = 0;
  NetConn* conn_ = nullptr;
};

// ---- exec: boxd-exec ------------------------------------------------------------------------

class ExecCheck : public Check {
 public:
  ExecCheck(uv_loop_t* loop, const specs::ExecAction& action, const CheckTarget& target,
            int64_t timeoutMs, CheckDone done)
      : done_(std::move(done)) {
    auto* s = new Spawned;
    s->owner = this;
    spawned_ = s;
    nlohmann::json arg = target.execTarget;
    arg["argv"] = action.command;
    arg["timeoutMs"] = timeoutMs;
    std::string argJson = arg.dump();
    std::vector<char*> argv = {const_cast<char*>(target.execHelper.c_str()), argJson.data(),
                               nullptr};
    uv_pipe_init(loop, &s->out, 0);
    uv_pipe_init(loop, &s->result, 0);
    uv_timer_init(loop, &s->timer);
    s->out.data = s->result.data = s->timer.data = s->proc.data = s;
    // stdout and stderr share one pipe (read here as out); fd 3 carries the result.
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) == 0) uv_pipe_open(&s->out, fds[0]);
    Fd writeEnd(fds[1]);
    uv_stdio_container_t stdio[4];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = writeEnd.get();
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = writeEnd.get();
    stdio[3].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[3].data.stream = reinterpret_cast<uv_stream_t*>(&s->result);
    uv_process_options_t opts{};
    opts.file = argv[0];
    opts.args = argv.data();
    opts.exit_cb = &ExecCheck::onExit;
    opts.stdio = stdio;
    opts.stdio_count = 4;
    int rc = writeEnd ? uv_spawn(loop, &s->proc, &opts) : UV_EMFILE;
    writeEnd.reset();  // the helper has its copy: EOF once it and the command are gone
    if (rc != 0) {
      s->finish({false, false, "start " + target.execHelper + ": " + uv_strerror(rc)});
      return;
    }
    for (uv_pipe_t* p : {&s->out, &s->result})
      uv_read_start(reinterpret_cast<uv_stream_t*>(p), &Spawned::alloc, &Spawned::onRead);
    uv_timer_start(
        &s->timer,
        [](uv_timer_t* t) { uv_process_kill(&static_cast<Spawned*>(t->data)->proc, SIGKILL); },
        static_cast<uint64_t>(timeoutMs + kHelperGraceMs), 0);
  }
  ~ExecCheck() override {
    if (spawned_ == nullptr) return;
    spawned_->owner = nullptr;
    if (!spawned_->exited) uv_process_kill(&spawned_->proc, SIGKILL);
  }

 private:
  // The helper process and its pipes: lives until every handle is closed, even past its owner.
  struct Spawned {
    ExecCheck* owner = nullptr;
    uv_process_t proc{};
    uv_pipe_t out{}, result{};
    uv_timer_t timer{};
    std::string output, resultText;
    char chunk[4096];
    bool exited = false, closing = false;
    static constexpr int handles = 4;
    int closed = 0;
    int64_t exitStatus = 0;
    int termSignal = 0;

    static void alloc(uv_handle_t* h, size_t, uv_buf_t* b) {
      auto* s = static_cast<Spawned*>(h->data);
      *b = uv_buf_init(s->chunk, sizeof s->chunk);
    }
    static void onRead(uv_stream_t* st, ssize_t n, const uv_buf_t* b) {
      auto* s = static_cast<Spawned*>(st->data);
      std::string& to = st == reinterpret_cast<uv_stream_t*>(&s->out) ? s->output : s->resultText;
      if (n > 0 && to.size() < kMaxOutput)
        to.append(b->base, std::min(static_cast<size_t>(n), kMaxOutput - to.size()));
      if (n < 0) uv_read_stop(st);
    }
    // What is still in a pipe once the helper has exited (a background process of the command
    // may keep its write end open: that is not waited for).
    void drain(uv_pipe_t& p, std::string& to) {
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&p), &fd) != 0) return;
      char buf[4096];
      ssize_t n;
      while (to.size() < kMaxOutput && (n = ::read(fd, buf, sizeof buf)) > 0)
        to.append(buf, std::min(static_cast<size_t>(n), kMaxOutput - to.size()));
    }
    void finish(CheckResult r) {
      if (owner != nullptr) {
        ExecCheck* o = std::exchange(owner, nullptr);
        o->spawned_ = nullptr;
        if (CheckDone d = std::exchange(o->done_, nullptr)) d(std::move(r));
      }
      if (closing) return;
      closing = true;
      auto onClosed = [](uv_handle_t* h) {
        auto* s = static_cast<Spawned*>(h->data);
        if (++s->closed == s->handles) delete s;
      };
      for (uv_handle_t* h :
           {reinterpret_cast<uv_handle_t*>(&out), reinterpret_cast<uv_handle_t*>(&result),
            reinterpret_cast<uv_handle_t*>(&timer)})
        uv_close(h, onClosed);
      uv_close(reinterpret_cast<uv_handle_t*>(&proc), onClosed);  // even after a failed spawn
    }
    CheckResult outcome() {
      drain(out, output);
      drain(result, resultText);
      auto r = nlohmann::json::parse(resultText, nullptr, false);
      if (r.is_discarded() || !r.is_object()) {
        std::string how = termSignal != 0 ? "killed by signal " + std::to_string(termSignal)
                                          : "exit code " + std::to_string(exitStatus);
        return {false, false, "boxd-exec gave no result (" + how + ")"};
      }
      if (r.value("timedOut", false))
        return {false, false, "command timed out" + (output.empty() ? "" : ": " + output)};
      std::string err = r.value("error", "");
      if (!err.empty()) return {false, false, err};
      int code = r.value("exitCode", 1);
      if (code == 0) return {true, false, output};
      return {false, false,
              output.empty() ? "command exited with code " + std::to_string(code) : output};
    }
  };

  static void onExit(uv_process_t* p, int64_t status, int signal) {
    auto* s = static_cast<Spawned*>(p->data);
    s->exited = true;
    s->exitStatus = status;
    s->termSignal = signal;
    s->finish(s->outcome());
  }

  CheckDone done_;
  Spawned* spawned_ = nullptr;
};

// ---- sleep (hooks) -------------------------------------------------------------------------

class SleepCheck : public Check {
 public:
  SleepCheck(uv_loop_t* loop, int64_t ms, CheckDone done) : done_(std::move(done)) {
    timer_ = new uv_timer_t;
    uv_timer_init(loop, timer_);
    timer_->data = this;
    uv_timer_start(
        timer_,
        [](uv_timer_t* t) {
          auto* self = static_cast<SleepCheck*>(t->data);
          if (CheckDone d = std::exchange(self->done_, nullptr)) d({true, false, ""});
        },
        static_cast<uint64_t>(ms), 0);
  }
  ~SleepCheck() override {
    uv_close(reinterpret_cast<uv_handle_t*>(timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }

 private:
  CheckDone done_;
  uv_timer_t* timer_;
};

}  // namespace

Status socketsInNetns(int netnsFd, int family, std::span<Fd> out) {
  constexpr int kFlags = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  auto make = [&]() -> int {
    for (Fd& s : out) {
      s.reset(::socket(family, kFlags, 0));
      if (!s) return errno;
    }
    return 0;
  };
  if (netnsFd < 0) {
    if (int err = make(); err != 0)
      return makeError(std::string("socket: ") + std::strerror(err), err);
    return {};
  }
  static int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return sysError("open", "/proc/thread-self/ns/net");
  if (::setns(netnsFd, CLONE_NEWNET) != 0) return sysError("enter", "the pod's network namespace");
  int err = make();
  // The loop thread must be back in its own namespace before anything else runs on it.
  if (::setns(home, CLONE_NEWNET) != 0) ::abort();
  if (err != 0)
    return makeError(std::string("socket in the pod's network namespace: ") + std::strerror(err),
                     err);
  return {};
}

Result<Fd> socketInNetns(int netnsFd, int family) {
  Fd s;
  BOXD_TRY(socketsInNetns(netnsFd, family, std::span<Fd>(&s, 1)));
  return s;
}

Result<Fd> NetnsSockets::take() {
  if (spare_) return std::move(spare_);
  if (netnsFd_ < 0) return socketInNetns(netnsFd_, AF_INET);  // no visit to save
  Fd two[2];
  BOXD_TRY(socketsInNetns(netnsFd_, AF_INET, two));
  spare_ = std::move(two[1]);
  return std::move(two[0]);
}

std::string httpRequest(const specs::HttpGetAction& a, const std::string& host, int64_t port,
                        const std::string& path) {
  auto has = [&a](const char* name) {
    for (const auto& h : a.headers) {
      if (strcasecmp(h.name.c_str(), name) == 0) return true;
    }
    return false;
  };
  // Built in place, in one allocation: this runs for every HTTP check.
  size_t size = 128 + path.size() + host.size();
  for (const auto& h : a.headers) size += h.name.size() + h.value.size() + 4;
  std::string r;
  r.reserve(size);
  r.append("GET ").append(path).append(" HTTP/1.1\r\n");
  if (!has("Host")) {
    char num[24];
    int n = std::snprintf(num, sizeof num, ":%lld\r\n", static_cast<long long>(port));
    r.append("Host: ").append(host).append(num, static_cast<size_t>(n));
  }
  if (!has("User-Agent")) r.append("User-Agent: kube-probe/boxd\r\n");
  if (!has("Accept")) r.append("Accept: */*\r\n");
  r.append("Connection: close\r\n");
  for (const auto& h : a.headers) r.append(h.name).append(": ").append(h.value).append("\r\n");
  return r.append("\r\n");
}

int parseHttpHead(const std::string& buf, HttpHead& out) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf.size() >= 5 && !startsWith(buf, "HTTP/")) return -1;
    return 0;
  }
  if (!startsWith(buf, "HTTP/1.")) return -1;
  size_t sp = buf.find(' ');
  if (sp == std::string::npos || sp + 4 > end) return -1;
  int status = 0;
  for (size_t i = sp + 1; i < sp + 4; ++i) {
    if (buf[i] < '0' || buf[i] > '9') return -1;
    status = status * 10 + (buf[i] - '0');
  }
  out.status = status;
  out.headerBytes = end + 4;
  // Views into buf, no copies: this runs for every chunk of every HTTP check.
  const std::string_view head(buf.data(), end + 2);  // each line with its CRLF
  constexpr std::string_view kLocation = "location";
  size_t pos = head.find("\r\n") + 2;
  while (pos < end) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon != kLocation.size() || strncasecmp(line.data(), kLocation.data(), colon) != 0)
      continue;
    out.location = trim(line.substr(colon + 1));
  }
  return 1;
}

std::unique_ptr<Check> startCheck(uv_loop_t* loop, const specs::Action& action,
                                  const CheckTarget& target, int64_t timeoutMs, CheckDone done) {
  if (action.exec)
    return std::make_unique<ExecCheck>(loop, *action.exec, target, timeoutMs, std::move(done));
  if (action.grpc) return startGrpcCheck(loop, *action.grpc, target, timeoutMs, std::move(done));
  if (action.sleep)
    return std::make_unique<SleepCheck>(loop, action.sleep->seconds * 1000, std::move(done));
  return std::make_unique<NetCheck>(loop, action, target, timeoutMs, std::move(done));
}

}  // namespace boxd::agent
