#include "reconcilers/sandbox/shim_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/util.h"

namespace boxd::reconcilers {

namespace proto = shimproto;
using nlohmann::json;

namespace {

// Waits for fd to become ready for events until the deadline.
Status waitFor(int fd, short events, int64_t deadline, const std::string& what) {
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0) return makeError("timed out waiting for " + what, ETIMEDOUT);
    pollfd pfd{fd, events, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return sysError("poll", what);
  }
}

Status sendAll(int fd, const std::string& data, int64_t deadline, const std::string& what) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return sysError("send to", what);
    BOXD_TRY(waitFor(fd, POLLOUT, deadline, what));
  }
  return {};
}

// Reads one line (without the newline) into *line; leftover bytes stay in *buffer.
Status readLine(int fd, std::string* buffer, std::string* line, int64_t deadline,
                const std::string& what) {
  for (;;) {
    if (auto nl = buffer->find('\n'); nl != std::string::npos) {
      *line = buffer->substr(0, nl);
      buffer->erase(0, nl + 1);
      return {};
    }
    if (buffer->size() > kShimMaxLineBytes) return makeError("reply from " + what + " too long");
    BOXD_TRY(waitFor(fd, POLLIN, deadline, what));
    char buf[16384];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0)
      buffer->append(buf, static_cast<size_t>(n));
    else if (n == 0)
      return makeError(what + " closed the connection", ECONNRESET);
    else if (errno != EINTR && errno != EAGAIN)
      return sysError("read from", what);
  }
}

Result<json> parseReply(const std::string& line) {
  auto j = proto::parseObject(line);
  if (!j.ok()) return j.error();
  bool ok = false;
  BOXD_TRY(proto::getBool(*j, "ok", ok));
  if (ok) return j;
  std::string message = "unknown error";
  (void)proto::getString(*j, "error", message);
  return makeError(message);
}

}  // namespace

// Stop events (stopping, killing) come on the same stream; next() is about exits only.
Result<ExitEvent> ShimSubscription::next(int timeoutMs) {
  const int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    std::string line;
    BOXD_TRY(readLine(fd_.get(), &buffer_, &line, deadline, "shim subscription"));
    auto j = proto::parseObject(line);
    if (!j.ok()) return j.error();
    if (proto::stopEventFromJson(*j).ok()) continue;
    return proto::exitEventFromJson(*j);
  }
}

ShimClient::ShimClient(std::string socketPath, int timeoutMs)
    : socketPath_(std::move(socketPath)), timeoutMs_(timeoutMs) {}

Result<Fd> ShimClient::connect(int64_t deadline) const {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socketPath_.empty() || socketPath_.size() >= sizeof addr.sun_path)
    return makeError("socket path too long or empty: " + socketPath_, ENAMETOOLONG);
  std::memcpy(addr.sun_path, socketPath_.c_str(), socketPath_.size() + 1);
  for (;;) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return sysError("socket", socketPath_);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    // A full backlog answers EAGAIN on a non-blocking unix socket: retry until the deadline.
    if (errno != EAGAIN && errno != EINTR) return sysError("connect", socketPath_);
    if (monotonicMs() >= deadline)
      return makeError("connect " + socketPath_ + ": timed out", ETIMEDOUT);
    ::usleep(5000);
  }
}

Result<json> ShimClient::call(const json& request, int timeoutMs) const {
  int64_t deadline = monotonicMs() + timeoutMs;
  auto fd = connect(deadline);
  if (!fd.ok()) return fd.error();
  std::string what = "shim " + socketPath_;
  BOXD_TRY(sendAll(fd->get(), proto::line(request), deadline, what));
  std::string buffer, line;
  BOXD_TRY(readLine(fd->get(), &buffer, &line, deadline, what));
  return parseReply(line);
}

Result<ContainerStatus> ShimClient::start(const ContainerLaunch& launch) {
  auto reply = call(proto::startRequest(launch), timeoutMs_ + 10000);  // the shim allows exec 10 s
  if (!reply.ok()) return reply.error().wrap("start container " + launch.name);
  ContainerStatus s;
  s.name = launch.name;
  s.running = true;
  Status st = proto::getInt(*reply, "pid", s.pid);
  if (st.ok()) st = proto::getInt(*reply, "startedAtMs", s.startedAtMs);
  if (!st.ok()) return st.error().wrap("start container " + launch.name + ": malformed reply");
  return s;
}

Result<std::vector<ContainerStatus>> ShimClient::state() {
  auto reply = call({{"op", "state"}}, timeoutMs_);
  if (!reply.ok()) return reply.error().wrap("container state");
  std::vector<ContainerStatus> out;
  auto it = reply->find("containers");
  if (it == reply->end() || !it->is_array()) return makeError("container state: malformed reply");
  for (const auto& c : *it) {
    auto s = proto::statusFromJson(c);
    if (!s.ok()) return s.error().wrap("container state");
    out.push_back(std::move(*s));
  }
  return out;
}

Status ShimClient::stop(const std::string& name, int graceSeconds) {
  json req = {{"op", "stop"}, {"name", name}, {"graceSeconds", graceSeconds}};
  auto reply = call(req, std::max(graceSeconds, 0) * 1000 + timeoutMs_);
  if (!reply.ok()) return reply.error().wrap("stop container " + name);
  return {};
}

Status ShimClient::shutdown(int graceSeconds) {
  json req = {{"op", "shutdown"}, {"graceSeconds", graceSeconds}};
  auto reply = call(req, std::max(graceSeconds, 0) * 1000 + timeoutMs_);
  if (!reply.ok()) return reply.error().wrap("shut down shim");
  return {};
}

Result<ShimSubscription> ShimClient::subscribe() {
  int64_t deadline = monotonicMs() + timeoutMs_;
  auto fd = connect(deadline);
  if (!fd.ok()) return fd.error().wrap("subscribe");
  std::string what = "shim " + socketPath_;
  BOXD_TRY(sendAll(fd->get(), proto::line({{"op", "subscribe"}}), deadline, what));
  std::string buffer, line;
  BOXD_TRY(readLine(fd->get(), &buffer, &line, deadline, what));
  if (auto r = parseReply(line); !r.ok()) return r.error().wrap("subscribe");
  return ShimSubscription(std::move(*fd), std::move(buffer));  // events may follow the ack at once
}

}  // namespace boxd::reconcilers
