// grpc probes: the health messages boxd encodes and decodes by hand, kubelet's verdicts and
// messages, and whole checks on a real libuv loop against a gRPC health server on 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>

#include "agent/grpc_health.h"
#include "agent/probe_check.h"
#include "common/util.h"
#include "tests/fixtures/grpc_health_server.h"

namespace boxd::agent {
namespace {

using testing::GrpcHealthServer;
namespace g = grpc;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

TEST(GrpcHealth, RequestIsALengthPrefixedProtobuf) {
  EXPECT_EQ(g::healthCheckRequest(""), bytes({0, 0, 0, 0, 0})) << "proto3 sends no default";
  EXPECT_EQ(g::healthCheckRequest("api"), bytes({0, 0, 0, 0, 5, 0x0a, 3, 'a', 'p', 'i'}));
  std::string longName(200, 's');
  std::string r = g::healthCheckRequest(longName);
  EXPECT_EQ(r.substr(0, 8), bytes({0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01})) << "a 2-byte varint";
  EXPECT_EQ(r.size(), 5u + 203u);
}

TEST(GrpcHealth, ResponseDecoding) {
  auto st = g::parseHealthCheckResponse(bytes({0, 0, 0, 0, 2, 0x08, 1}));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*st, 1);
  st = g::parseHealthCheckResponse(bytes({0, 0, 0, 0, 0}));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 0) << "an absent status is UNKNOWN";
  // Unknown fields (a string 2, a fixed32 3) around the status are skipped.
  st = g::parseHealthCheckResponse(
      bytes({0, 0, 0, 0, 11, 0x12, 2, 'h', 'i', 0x08, 2, 0x1d, 1, 2, 3, 4}));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(*st, 2);
  EXPECT_FALSE(g::parseHealthCheckResponse(bytes({0, 0, 0})).ok());
  EXPECT_FALSE(g::parseHealthCheckResponse(bytes({0, 0, 0, 0, 3, 0x08, 1})).ok())
      << "length does not match";
  EXPECT_FALSE(g::parseHealthCheckResponse(bytes({1, 0, 0, 0, 2, 0x08, 1})).ok()) << "compressed";
  EXPECT_FALSE(g::parseHealthCheckResponse(bytes({0, 0, 0, 0, 2, 0x08, 0x80})).ok())
      << "a varint that never ends";
  EXPECT_FALSE(g::parseHealthCheckResponse(bytes({0, 0, 0, 0, 2, 0x12, 5})).ok())
      << "a string past the end";
}

TEST(GrpcHealth, NamesAsKubeletPrintsThem) {
  EXPECT_EQ(g::servingStatusName(2), "NOT_SERVING");
  EXPECT_EQ(g::servingStatusName(3), "SERVICE_UNKNOWN");
  EXPECT_EQ(g::servingStatusName(7), "7");
  EXPECT_EQ(g::codeName(12), "Unimplemented");
  EXPECT_EQ(g::codeName(42), "Code(42)");
  EXPECT_EQ(g::goDuration(1000), "1s");
  EXPECT_EQ(g::goDuration(1500), "1.5s");
  EXPECT_EQ(g::goDuration(250), "250ms");
  EXPECT_EQ(g::goDuration(90000), "1m30s");
  EXPECT_EQ(g::goDuration(3600000), "1h0m0s");
  EXPECT_EQ(g::percentDecode("bad%20thing%zz%"), "bad thing%zz%");
}

TEST(GrpcHealth, OutcomeOfACall) {
  g::CallReply r;
  r.httpStatus = 200;
  r.grpcStatus = 0;
  r.body = bytes({0, 0, 0, 0, 2, 0x08, 1});
  auto o = g::callOutcome(r);
  EXPECT_TRUE(o.success);
  EXPECT_EQ(o.output, "service healthy");

  r.body = bytes({0, 0, 0, 0, 2, 0x08, 2});
  o = g::callOutcome(r);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.output, "service unhealthy (responded with \"NOT_SERVING\")");

  r.body = bytes({0, 0, 0, 0, 0});
  EXPECT_EQ(g::callOutcome(r).output, "service unhealthy (responded with \"UNKNOWN\")");

  r.body.clear();
  r.grpcStatus = 12;
  r.grpcMessage = "unknown service grpc.health.v1.Health";
  o = g::callOutcome(r);
  EXPECT_FALSE(o.success);
  EXPECT_EQ(o.output,
            "error: this server does not implement the grpc health protocol "
            "(grpc.health.v1.Health): rpc error: code = Unimplemented desc = unknown service "
            "grpc.health.v1.Health");

  r.grpcStatus = 5;
  r.grpcMessage = "unknown service";
  EXPECT_EQ(g::callOutcome(r).output,
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service");

  g::CallReply http;  // an HTTP/2 server that is not gRPC
  http.httpStatus = 404;
  EXPECT_NE(g::callOutcome(http).output.find("code = Unimplemented desc = unexpected HTTP status "
                                             "code received from server: 404"),
            std::string::npos)
      << g::callOutcome(http).output;

  g::CallReply cut;  // connection lost mid-call
  cut.httpStatus = 200;
  cut.streamError = "error reading from server: EOF";
  EXPECT_EQ(g::callOutcome(cut).output,
            "error: health rpc probe failed: rpc error: code = Unavailable desc = error reading "
            "from server: EOF");

  g::CallReply noStatus;  // a body but no trailers: not OK
  noStatus.httpStatus = 200;
  noStatus.body = bytes({0, 0, 0, 0, 2, 0x08, 1});
  EXPECT_FALSE(g::callOutcome(noStatus).success);

  EXPECT_EQ(g::connectTimeoutMessage("10.0.0.5:9000", 1000, "connection refused"),
            "timeout: failed to connect service \"10.0.0.5:9000\" within 1s: connection refused");
  EXPECT_EQ(g::callTimeoutMessage(2000), "timeout: health rpc did not complete within 2s");
}

// ---- whole checks on a loop ---------------------------------------------------------------

struct Ran {
  CheckResult result;
  int64_t elapsedMs = 0;
};

Ran runGrpc(int port, const std::string& service, int64_t timeoutMs) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  specs::Action a;
  a.grpc = specs::GrpcAction{port, service};
  CheckTarget t;
  t.defaultIp = "127.0.0.1";
  std::optional<CheckResult> got;
  int64_t start = monotonicMs();
  auto check = startCheck(&loop, a, t, timeoutMs, [&](CheckResult r) { got = std::move(r); });
  while (!got && monotonicMs() - start < timeoutMs + 5000) uv_run(&loop, UV_RUN_ONCE);
  Ran ran{got.value_or(CheckResult{false, false, "<no result within the timeout + 5 s>"}),
          monotonicMs() - start};
  check.reset();
  uv_run(&loop, UV_RUN_DEFAULT);  // the closes
  EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle was left open";
  return ran;
}

// A port on 127.0.0.1 that nothing listens on (just released).
int closedPort() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
    return 0;
  return ntohs(a.sin_port);
}

TEST(GrpcCheck, ServingNotServingAndNamedServices) {
  auto srv = GrpcHealthServer::start("127.0.0.1");
  ASSERT_TRUE(srv.ok()) << srv.error().message;
  GrpcHealthServer& s = **srv;
  Ran r = runGrpc(s.port(), "", 1000);
  EXPECT_TRUE(r.result.success) << r.result.output;
  EXPECT_EQ(s.lastCall(),
            "/grpc.health.v1.Health/Check service= content-type=application/grpc te=trailers");

  s.setMode(GrpcHealthServer::Mode::NotServing);
  r = runGrpc(s.port(), "", 1000);
  EXPECT_FALSE(r.result.success);
  EXPECT_EQ(r.result.output, "service unhealthy (responded with \"NOT_SERVING\")");

  s.setMode(GrpcHealthServer::Mode::Serving);
  s.setKnownService("shop.v1.Orders");
  r = runGrpc(s.port(), "shop.v1.Orders", 1000);
  EXPECT_TRUE(r.result.success) << r.result.output;
  EXPECT_NE(s.lastCall().find("service=shop.v1.Orders"), std::string::npos) << s.lastCall();
  r = runGrpc(s.port(), "shop.v1.Billing", 1000);
  EXPECT_EQ(r.result.output,
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service");

  s.setMode(GrpcHealthServer::Mode::Unimplemented);
  r = runGrpc(s.port(), "", 1000);
  EXPECT_FALSE(r.result.success);
  EXPECT_NE(r.result.output.find("does not implement the grpc health protocol "
                                 "(grpc.health.v1.Health): rpc error: code = Unimplemented"),
            std::string::npos)
      << r.result.output;
  EXPECT_EQ(s.calls(), 5);
}

TEST(GrpcCheck, ASilentServerFailsAtTheTimeout) {
  auto srv = GrpcHealthServer::start("127.0.0.1");
  ASSERT_TRUE(srv.ok()) << srv.error().message;
  (*srv)->setMode(GrpcHealthServer::Mode::Silent);
  Ran r = runGrpc((*srv)->port(), "", 1000);
  EXPECT_FALSE(r.result.success);
  EXPECT_EQ(r.result.output, "timeout: health rpc did not complete within 1s");
  EXPECT_GE(r.elapsedMs, 950);
  EXPECT_LT(r.elapsedMs, 1500) << "timeoutSeconds bounds the whole call";
}

TEST(GrpcCheck, NothingListeningFailsToConnectWithinTheTimeout) {
  int port = closedPort();
  ASSERT_NE(port, 0);
  Ran r = runGrpc(port, "", 1000);
  EXPECT_FALSE(r.result.success);
  EXPECT_EQ(r.result.output, "timeout: failed to connect service \"127.0.0.1:" +
                                 std::to_string(port) + "\" within 1s: connection refused");
  EXPECT_GE(r.elapsedMs, 950) << "connects are retried until the deadline, as kubelet's dial";
  EXPECT_LT(r.elapsedMs, 1500);
}

TEST(GrpcCheck, AServerThatComesUpWithinTheTimeoutIsReached) {
  int port = closedPort();
  ASSERT_NE(port, 0);
  std::unique_ptr<GrpcHealthServer> late;
  std::thread starter([&] {
    ::usleep(300 * 1000);
    auto s = GrpcHealthServer::start("127.0.0.1", port);
    if (s.ok()) late = std::move(*s);
  });
  Ran r = runGrpc(port, "", 2000);
  starter.join();
  ASSERT_TRUE(late) << "port " << port << " was taken meanwhile";
  EXPECT_TRUE(r.result.success) << r.result.output;
}

}  // namespace
}  // namespace boxd::agent
