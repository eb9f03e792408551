// One check of a network action on the loop (probe_check.h): tcpSocket against a listener on
// 127.0.0.1 in the test's own namespace, whose handshake the kernel finishes inside connect()
// (boxd then reports it without waiting for the loop), a refused port, and HTTP heads.
#include "agent/probe_check.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

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

// Runs one check to its end; how many results it gave (exactly one is right).
int runCheck(uv_loop_t* loop, const specs::Action& a, CheckResult& out) {
  int results = 0;
  CheckTarget target;
  target.defaultIp = "127.0.0.1";
  auto check = startCheck(loop, a, target, 2000, [&](CheckResult r) {
    results++;
    out = std::move(r);
  });
  for (int i = 0; i < 100 && results == 0; ++i) uv_run(loop, UV_RUN_ONCE);
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
  CheckTarget target;
  target.defaultIp = "127.0.0.1";
  int results = 0;
  auto check = startCheck(&loop.loop, tcpAction(l.port), target, 2000,
                          [&](const CheckResult&) { results++; });
  check.reset();  // done already (handshake inside connect) or cancelled: never twice
  uv_run(&loop.loop, UV_RUN_DEFAULT);
  EXPECT_LE(results, 1);
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
