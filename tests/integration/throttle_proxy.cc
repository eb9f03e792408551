#include "tests/integration/throttle_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/util.h"

namespace boxd::testing {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ThrottleProxy>> ThrottleProxy::start(const std::string& upstream,
                                                            int64_t bytesPerSecond, int port) {
  std::unique_ptr<ThrottleProxy> p(new ThrottleProxy());
  size_t colon = upstream.rfind(':');
  if (colon == std::string::npos) return makeError("throttle proxy: upstream " + upstream);
  p->upstreamPort_ = std::atoi(upstream.c_str() + colon + 1);
  p->rate_ = std::max<int64_t>(1024, bytesPerSecond);
  p->listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  socklen_t len = sizeof a;
  int one = 1;
  (void)::setsockopt(p->listener_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(p->listener_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(p->listener_.get(), 64) != 0 ||
      ::getsockname(p->listener_.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    return sysError("throttle proxy: listen", "127.0.0.1");
  }
  p->port_ = ntohs(a.sin_port);
  p->acceptor_ = std::thread([raw = p.get()] { raw->acceptLoop(); });
  return p;
}

ThrottleProxy::~ThrottleProxy() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::lock_guard lock(mu_);
  for (auto& t : conns_) t.join();
}

void ThrottleProxy::acceptLoop() {
  while (!stop_) {
    pollfd pfd{listener_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    Fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    Fd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in up = loopback(upstreamPort_);
    if (::connect(server.get(), reinterpret_cast<sockaddr*>(&up), sizeof up) != 0) continue;
    std::lock_guard lock(mu_);
    conns_.emplace_back([this, c = std::move(client), s = std::move(server)]() mutable {
      relay(std::move(c), std::move(s));
    });
  }
}

std::vector<std::string> ThrottleProxy::requests() const {
  std::lock_guard lock(statsMu_);
  return requests_;
}

// Request lines of the HTTP/1.1 stream a client sends (headers end each line with CRLF).
void ThrottleProxy::sawClientBytes(std::string& pending, const char* p, size_t n) {
  pending.append(p, n);
  for (size_t eol; (eol = pending.find("\r\n")) != std::string::npos;) {
    std::string line = pending.substr(0, eol);
    pending.erase(0, eol + 2);
    for (const char* m : {"GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE "}) {
      if (line.rfind(m, 0) == 0 && line.find(" HTTP/") != std::string::npos) {
        std::lock_guard lock(statsMu_);
        requests_.push_back(line);
      }
    }
  }
  if (pending.size() > 65536) pending.clear();  // a body, not headers
}

// Upstream bytes go out in slices of a tenth of the rate, one slice per 100 ms.
void ThrottleProxy::relay(Fd client, Fd server) {
  std::vector<char> buf(static_cast<size_t>(std::max<int64_t>(512, rate_ / 10)));
  int64_t nextSlice = 0;
  std::string pending;
  while (!stop_) {
    pollfd pfds[2] = {{client.get(), POLLIN, 0}, {server.get(), POLLIN, 0}};
    bool mayRead = monotonicMs() >= nextSlice;
    if (!mayRead) pfds[1].events = 0;
    if (::poll(pfds, 2, 20) < 0) return;
    if (pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      char in[16384];
      ssize_t n = ::recv(client.get(), in, sizeof in, 0);
      if (n <= 0 || !writeAll(server.get(), in, static_cast<size_t>(n))) return;
      sawClientBytes(pending, in, static_cast<size_t>(n));
    }
    if (mayRead && (pfds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::recv(server.get(), buf.data(), buf.size(), 0);
      if (n <= 0 || !writeAll(client.get(), buf.data(), static_cast<size_t>(n))) return;
      bytesDown_ += n;
      nextSlice = monotonicMs() + 100 * n / static_cast<int64_t>(buf.size());
    }
  }
}

}  // namespace boxd::testing
