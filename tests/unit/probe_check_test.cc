// One check of a network action on the loop (probe_check.h): tcpSocket and httpGet against a
// listener on 127.0.0.1 in the test's own namespace, whose handshake the kernel finishes inside
// connect() (boxd then reports a tcpSocket check, or sends its request, without waiting for the
// loop), a handshake that is not done when connect() returns (a full accept queue drops the SYN
// until the retransmission), a refused port, and HTTP heads.
#include "agent/probe_check.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <thread>

#include "common/fd.h"

namespace boxd::agent {
namespace {

// A listening socket on 127.0.0.1 and an ephemeral port; closed (and its port refused) on reset.
struct Listener {
  Fd fd;
  int port = 0;
  Listener() {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd.get(), 8) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
      fd.reset();
    port = ntohs(a.sin_port);
  }
};

// Accepts `count` connections on l (each within 5 s), reads each request head and answers it with
// `response`, then closes it; the first accept waits `delayMs` first. On its own thread: the
// check runs on the test's loop.
struct HttpServer {
  std::thread thread;
  std::string requests;  // what the connections sent, one after the other
  HttpServer(const Listener& l, int count, std::string response, int delayMs = 0) {
    thread = std::thread([this, fd = l.fd.get(), count, response, delayMs] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
      for (int i = 0; i < count; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) return;
        Fd c(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) return;
        timeval tv{5, 0};
        ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[4096];
        std::string got;
        ssize_t n;
        while (got.find("\r\n\r\n") == std::string::npos &&
               (n = ::read(c.get(), buf, sizeof buf)) > 0)
          got.append(buf, static_cast<size_t>(n));
        requests += got;
        (void)!::write(c.get(), response.data(), response.size());
      }
    });
  }
  ~HttpServer() { thread.join(); }
};

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // the checks' handles close
    EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle was left open";
  }
};

specs::Action tcpAction(int port) {
  specs::Action a;
  a.tcpSocket.emplace();
  a.tcpSocket->host = "127.0.0.1";
  a.tcpSocket->port.number = port;
  return a;
}

specs::Action httpAction(int port, const std::string& path) {
  specs::Action a;
  a.httpGet.emplace();
  a.httpGet->host = "127.0.0.1";
  a.httpGet->port.number = port;
  a.httpGet->path = path;
  return a;
}

// A check's target with no namespace of its own: its probes go to 127.0.0.1.
CheckTarget loopbackTarget() {
  CheckTarget t;
  t.defaultIp = "127.0.0.1";
  return t;
}

// Runs one check to its end; how many results it gave (exactly one is right).
int runCheck(uv_loop_t* loop, const specs::Action& a, CheckResult& out, int64_t timeoutMs = 2000) {
  int results = 0;
  CheckTarget target = loopbackTarget();
  auto check = startCheck(loop, a, target, timeoutMs, [&](CheckResult r) {
    results++;
    out = std::move(r);
  });
  for (int i = 0; i < 1000 && results == 0; ++i) uv_run(loop, UV_RUN_ONCE);
  check.reset();
  uv_run(loop, UV_RUN_DEFAULT);
  return results;
}

TEST(ProbeCheck, TcpSocketSucceedsOnAListeningPortExactlyOnce) {
  Listener l;
  ASSERT_TRUE(l.fd) << "listen on 127.0.0.1";
  Loop loop;
  for (int i = 0; i < 3; ++i) {
    CheckResult r;
    EXPECT_EQ(runCheck(&loop.loop, tcpAction(l.port), r), 1);
    EXPECT_TRUE(r.success) << r.output;
    EXPECT_EQ(r.output, "");
  }
}

// Over loopback the handshake is over inside connect(): the check ends before startCheck
// returns, without a loop turn (connect() itself says EINPROGRESS; connectNow asks again).
TEST(ProbeCheck, ALoopbackTcpSocketCheckEndsInsideStartCheck) {
  Listener l;
  ASSERT_TRUE(l.fd);
  Loop loop;
  CheckTarget target = loopbackTarget();
  int results = 0;
  CheckResult got;
  auto check = startCheck(&loop.loop, tcpAction(l.port), target, 2000, [&](CheckResult r) {
    results++;
    got = std::move(r);
  });
  EXPECT_EQ(results, 1);
  EXPECT_TRUE(got.success) << got.output;
  EXPECT_EQ(uv_loop_alive(&loop.loop), 0) << "the check left a handle on the loop";
  Fd accepted(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted) << "the connection was not made";
  char c;
  EXPECT_EQ(::read(accepted.get(), &c, 1), 0) << "closed with FIN (EOF), not reset";
}

TEST(ProbeCheck, TcpSocketFailsOnARefusedPortWithKubeletsMessage) {
  int port = 0;
  {
    Listener l;
    ASSERT_TRUE(l.fd);
    port = l.port;
  }  // closed: nothing listens there now
  Loop loop;
  CheckResult r;
  EXPECT_EQ(runCheck(&loop.loop, tcpAction(port), r), 1);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.output, "dial tcp 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST(ProbeCheck, CancellingAFinishedOrRunningCheckIsSafe) {
  Listener l;
  ASSERT_TRUE(l.fd);
  Loop loop;
  CheckTarget target = loopbackTarget();
  int results = 0;
  auto check = startCheck(&loop.loop, tcpAction(l.port), target, 2000,
                          [&](const CheckResult&) { results++; });
  check.reset();  // done already (handshake inside connect) or cancelled: never twice
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  EXPECT_LE(results, 1);
}

TEST(ProbeCheck, HttpGetSendsKubeletsRequestAndReadsTheAnswer) {
  Listener l;
  ASSERT_TRUE(l.fd);
  Loop loop;
  CheckResult ok, failed, moved;
  {
    HttpServer server(l, 2, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/healthz"), ok), 1);
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), ok), 1);
  }
  EXPECT_TRUE(ok.success) << ok.output;
  EXPECT_EQ(ok.output, "ok");
  {
    HttpServer server(l, 1, "HTTP/1.1 503 Unavailable\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), failed), 1);
    EXPECT_NE(server.requests.find("GET / HTTP/1.1\r\nHost: 127.0.0.1:"), std::string::npos)
        << server.requests;
  }
  EXPECT_FALSE(failed.success);
  EXPECT_EQ(failed.output, "HTTP probe failed with statuscode: 503");
  {
    HttpServer server(l, 1, "HTTP/1.1 302 Found\r\nLocation: http://10.0.0.9/\r\n\r\n");
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), moved), 1);
  }
  EXPECT_TRUE(moved.success);
  EXPECT_TRUE(moved.warning);
}

// A request sent inside connect()'s loopback handshake is answered later than the first look at
// the socket (a grid time ~5-25 ms later): the check waits for the answer on the loop, or fails
// at its deadline when none comes.
TEST(ProbeCheck, AResponseLaterThanTheFirstLookIsWaitedForUntilTheDeadline) {
  Listener l;
  ASSERT_TRUE(l.fd);
  Loop loop;
  CheckResult late, never;
  {
    HttpServer server(l, 1, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nlate", 150);
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), late), 1);
  }
  EXPECT_TRUE(late.success) << late.output;
  EXPECT_EQ(late.output, "late");
  // Accepted by the kernel (the listen queue), never answered.
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), never, 300), 1);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(never.success);
  EXPECT_EQ(never.output,
            "Get \"http://127.0.0.1:" + std::to_string(l.port) + "/\": timeout after 0s");
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

// A listener with a backlog of 0 whose one queued connection is not accepted drops the next SYN:
// the check's connect() returns before the handshake is done. The SYN is sent again after 1 s.
struct FullListener : Listener {
  Fd filler;
  FullListener() {
    if (!fd || ::listen(fd.get(), 0) != 0) {
      fd.reset();
      return;
    }
    filler.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(filler.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fd.reset();
    ::shutdown(filler.get(), SHUT_WR);  // an HttpServer reads its (empty) request at once
  }
};

TEST(ProbeCheck, AHandshakeNotDoneInConnectIsAwaitedUntilTheTimeout) {
  FullListener l;
  ASSERT_TRUE(l.fd) << "listen on 127.0.0.1 with a full accept queue";
  Loop loop;
  CheckResult tcp, http;
  EXPECT_EQ(runCheck(&loop.loop, tcpAction(l.port), tcp, 400), 1);
  EXPECT_FALSE(tcp.success);
  EXPECT_EQ(tcp.output, "dial tcp 127.0.0.1:" + std::to_string(l.port) + ": timeout after 0s");
  EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), http, 400), 1);
  EXPECT_FALSE(http.success);
  EXPECT_EQ(http.output,
            "Get \"http://127.0.0.1:" + std::to_string(l.port) + "/\": timeout after 0s");
}

TEST(ProbeCheck, AHandshakeThatFinishesLaterSucceeds) {
  Loop loop;
  CheckResult tcp, http;
  {
    FullListener l;
    ASSERT_TRUE(l.fd);
    std::thread drain([&l] {  // room in the queue before the SYN is sent again
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      Fd first(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    });
    EXPECT_EQ(runCheck(&loop.loop, tcpAction(l.port), tcp, 5000), 1);
    drain.join();
  }
  EXPECT_TRUE(tcp.success) << tcp.output;
  {
    FullListener l;
    ASSERT_TRUE(l.fd);
    // The filler first, then the check's connection, once its SYN came again.
    HttpServer server(l, 2, "HTTP/1.1 204 No Content\r\n\r\n", 200);
    EXPECT_EQ(runCheck(&loop.loop, httpAction(l.port, "/"), http, 5000), 1);
  }
  EXPECT_TRUE(http.success) << http.output;
}

TEST(ProbeCheck, HttpHeadWithoutHeadersAndLookalikeHeaders) {
  HttpHead h;
  ASSERT_EQ(parseHttpHead("HTTP/1.1 204 No Content\r\n\r\n", h), 1);
  EXPECT_EQ(h.status, 204);
  EXPECT_EQ(h.location, "");
  EXPECT_EQ(h.headerBytes, 27u);
  HttpHead r;
  ASSERT_EQ(parseHttpHead("HTTP/1.1 301 Moved\r\nX-Location: /no\r\nLocations: /no\r\nServer: x\r\n"
                          "LOCATION:/yes\r\nContent-Length: 0\r\n\r\n",
                          r),
            1);
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.location, "/yes");
}

}  // namespace
}  // namespace boxd::agent
