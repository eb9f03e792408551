// The least code that makes the bench's checks (probe_floor.h).
#include "bench/probe_floor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "bench/proc.h"
#include "common/fd.h"
#include "common/util.h"

namespace boxd::bench {

namespace {

int64_t threadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void sleepUntilUs(int64_t t) {
  for (int64_t now = monotonicUs(); now < t; now = monotonicUs()) {
    timespec ts{static_cast<time_t>((t - now) / 1000000),
                static_cast<long>((t - now) % 1000000) * 1000};
    ::nanosleep(&ts, nullptr);
  }
}

sockaddr_in address(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1)
    throw BenchError("probe floor: \"" + ip + "\" is not an IPv4 address");
  return a;
}

// A blocking socket with a 1 s bound on every call (a check's timeout).
Fd boundedSocket() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return s;
  timeval tv{1, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return s;
}

struct Target {
  Fd netns;
  sockaddr_in http{}, tcp{};
  std::string request;
};

}  // namespace

FloorResult runProbeFloor(const std::vector<FloorTarget>& targets, int seconds) {
  Fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) throw BenchError("probe floor: open /proc/thread-self/ns/net");
  std::vector<Target> ts;
  for (const auto& t : targets) {
    Target x;
    x.netns.reset(::open(t.netns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!x.netns) throw BenchError("probe floor: open " + t.netns + ": " + std::strerror(errno));
    x.http = address(t.ip, t.httpPort);
    x.tcp = address(t.ip, t.tcpPort);
    x.request = "GET / HTTP/1.1\r\nHost: " + t.ip + ":" + std::to_string(t.httpPort) +
                "\r\nUser-Agent: kube-probe/boxd\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    ts.push_back(std::move(x));
  }
  FloorResult res;
  auto fail = [&res](const std::string& why) {
    if (res.failed++ == 0) res.firstFailure = why;
  };
  std::vector<Fd> pending;  // the HTTP checks' sockets, their requests sent
  pending.reserve(ts.size());
  const int64_t cpu0 = threadCpuNs(), start = monotonicUs();
  for (int sec = 0; sec < seconds; ++sec) {
    throwIfInterrupted();
    sleepUntilUs(start + sec * 1000000LL);
    for (const Target& t : ts) {
      // One visit to the pod's namespace for both sockets; the thread is back home at once.
      if (::setns(t.netns.get(), CLONE_NEWNET) != 0) throw BenchError("probe floor: setns");
      Fd tcp = boundedSocket(), http = boundedSocket();
      if (::setns(home.get(), CLONE_NEWNET) != 0) ::abort();
      res.checks += 2;
      if (!tcp || !http) {
        fail(std::string("socket: ") + std::strerror(errno));
        continue;
      }
      if (::connect(tcp.get(), reinterpret_cast<const sockaddr*>(&t.tcp), sizeof t.tcp) != 0)
        fail(std::string("tcp connect: ") + std::strerror(errno));
      tcp.reset();
      if (::connect(http.get(), reinterpret_cast<const sockaddr*>(&t.http), sizeof t.http) != 0 ||
          ::write(http.get(), t.request.data(), t.request.size()) !=
              static_cast<ssize_t>(t.request.size())) {
        fail(std::string("http connect/write: ") + std::strerror(errno));
        continue;
      }
      pending.push_back(std::move(http));
    }
    sleepUntilUs(monotonicUs() + 20000);  // the responses, read 20 ms later
    for (const Fd& sock : pending) {
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(sock.get(), buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      if (!startsWith(got, "HTTP/1.1 200") && !startsWith(got, "HTTP/1.0 200"))
        fail("http: " + got.substr(0, got.find('\r')));
    }
    pending.clear();  // closes them
  }
  sleepUntilUs(start + seconds * 1000000LL);
  const int64_t cpu = threadCpuNs() - cpu0, wall = (monotonicUs() - start) * 1000;
  res.cpuPercent = 100.0 * static_cast<double>(cpu) / static_cast<double>(wall);
  return res;
}

}  // namespace boxd::bench
