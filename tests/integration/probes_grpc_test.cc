// grpc probes end to end: busybox pods whose grpc probes go to a gRPC health server listening in
// the pod's network namespace (on a thread of this test: its socket was made in that namespace),
// with a status the test switches; the test watches what a user sees (READY, `boxctl wait`,
// events, restarts, describe).
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>

#include "tests/fixtures/grpc_health_server.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

using Mode = GrpcHealthServer::Mode;

class GrpcProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  void TearDown() override { server_.reset(); }  // before the pods go: it holds their netns
  std::string events(const std::string& pod) { return b_.boxctl({"events", pod}).out; }
  bool eventShows(const std::string& pod, const std::string& needle, int timeoutMs = 15000) {
    return waitFor([&] { return events(pod).find(needle) != std::string::npos; }, timeoutMs);
  }
  // A pod running `sleep` whose container carries probes.
  void writePod(const std::string& name, const std::string& probes) {
    b_.writeSpec(name + ".yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
                                     "}\nspec:\n  terminationGracePeriodSeconds: 1\n"
                                     "  containers:\n  - name: c\n    image: busybox\n"
                                     "    command: [sleep, '1000']\n" +
                                     probes);
  }
  // The health server on port 9090 of the pod's network namespace.
  ::testing::AssertionResult serveIn(const std::string& pod, Mode mode) {
    if (!b_.waitContainersRunning(pod, 20000))
      return ::testing::AssertionFailure() << "not running: " << b_.status().dump(2);
    int pid = b_.pod(pod)["containers"][0]["pid"].get<int>();
    auto s = GrpcHealthServer::start("0.0.0.0", 9090, "/proc/" + std::to_string(pid) + "/ns/net");
    if (!s.ok()) return ::testing::AssertionFailure() << s.error().message;
    server_ = std::move(*s);
    server_->setMode(mode);
    return ::testing::AssertionSuccess();
  }

  Boxd b_;
  std::unique_ptr<GrpcHealthServer> server_;  // destroyed first
};

TEST_F(GrpcProbesTest, ReadinessFollowsTheServingStatus) {
  writePod("g", R"(    readinessProbe:
      grpc: {port: 9090}
      periodSeconds: 1
)");
  ASSERT_TRUE(serveIn("g", Mode::NotServing));
  EXPECT_TRUE(
      eventShows("g", "Readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")"))
      << events("g");
  EXPECT_EQ(b_.pod("g")["ready"], "0/1");
  EXPECT_EQ(server_->lastCall(),
            "/grpc.health.v1.Health/Check service= content-type=application/grpc te=trailers");

  server_->setMode(Mode::Serving);
  auto w = b_.boxctl({"wait", "g", "--for=condition=Ready", "--timeout=10s"});
  EXPECT_EQ(w.code, 0) << w.out << events("g");
  EXPECT_EQ(b_.pod("g")["ready"], "1/1");

  server_->setMode(Mode::Unimplemented);
  w = b_.boxctl({"wait", "g", "--for=condition=Ready=false", "--timeout=10s"});
  EXPECT_EQ(w.code, 0) << w.out << events("g");
  EXPECT_TRUE(
      eventShows("g",
                 "Readiness probe failed: error: this server does not implement the grpc "
                 "health protocol (grpc.health.v1.Health): rpc error: code = Unimplemented"))
      << events("g");
  EXPECT_EQ(b_.pod("g")["restarts"], 0) << "readiness never restarts a container";
}

TEST_F(GrpcProbesTest, LivenessFailureRestartsTheContainer) {
  writePod("live", R"(    livenessProbe:
      grpc: {port: 9090, service: shop.v1.Orders}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 1
)");
  ASSERT_TRUE(serveIn("live", Mode::Serving));
  server_->setKnownService("shop.v1.Orders");
  EXPECT_TRUE(waitFor([&] { return server_->calls() >= 2; }, 10000)) << events("live");
  EXPECT_NE(server_->lastCall().find("service=shop.v1.Orders"), std::string::npos)
      << server_->lastCall();
  EXPECT_EQ(b_.pod("live")["restarts"], 0) << events("live");

  server_->setMode(Mode::NotServing);
  ASSERT_TRUE(waitFor([&] { return b_.pod("live")["restarts"].get<int>() >= 1; }, 20000))
      << b_.status().dump(2) << events("live");
  std::string ev = events("live");
  EXPECT_NE(ev.find("Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
            std::string::npos)
      << ev;
  EXPECT_NE(ev.find("Container c failed liveness probe, will be restarted"), std::string::npos)
      << ev;
  auto d = b_.boxctl({"describe", "live"});
  EXPECT_NE(d.out.find("Message:   Liveness probe failed: service unhealthy"), std::string::npos)
      << d.out;
}

TEST_F(GrpcProbesTest, NothingListeningTimesOutWithinTimeoutSeconds) {
  writePod("none", R"(    readinessProbe:
      grpc: {port: 9091}
      timeoutSeconds: 1
      periodSeconds: 2
)");
  ASSERT_TRUE(b_.waitContainersRunning("none", 20000)) << b_.status().dump(2);
  std::string ip = b_.pod("none").value("podIP", "");
  ASSERT_FALSE(ip.empty()) << b_.status().dump(2);
  EXPECT_TRUE(eventShows("none", "Readiness probe failed: timeout: failed to connect service \"" +
                                     ip + ":9091\" within 1s: connection refused"))
      << events("none");
  EXPECT_EQ(b_.pod("none")["ready"], "0/1");
}

}  // namespace
}  // namespace boxd::testing
