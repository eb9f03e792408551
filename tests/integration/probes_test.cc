// Probes end to end: a private boxd runs busybox pods whose probes pass, fail and time out;
// the test watches what a user sees (status, READY, `boxctl wait`, events, describe).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

class ProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  // Every event of the pod as one text.
  std::string events(const std::string& pod) { return b_.boxctl({"events", pod}).out; }
  bool eventShows(const std::string& pod, const std::string& needle, int timeoutMs = 15000) {
    return waitFor([&] { return events(pod).find(needle) != std::string::npos; }, timeoutMs);
  }
  Boxd b_;
};

std::string podYaml(const std::string& name, const std::string& command, const std::string& probes,
                    const std::string& extra = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n" + extra +
         "  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, '" + command +
         "']\n    ports: [{name: web, containerPort: 8080}]\n" + probes;
}

// httpd serving /www on 8080; /www/ready exists only once the test creates it.
const char* kWeb = "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www";

TEST_F(ProbesTest, ReadinessDrivesReadyAndWait) {
  b_.writeSpec("r.yaml", podYaml("r", kWeb, R"(    readinessProbe:
      httpGet: {path: /ready, port: web}
      periodSeconds: 1
)"));
  ASSERT_TRUE(b_.waitPhase("r", "Running")) << b_.status().dump(2);
  auto w = b_.boxctl({"wait", "r", "--for=condition=Ready", "--timeout=3s"});
  EXPECT_NE(w.code, 0) << w.out;
  EXPECT_NE(w.out.find("timed out waiting for the condition on pods/r"), std::string::npos)
      << w.out;
  EXPECT_EQ(b_.pod("r")["ready"], "0/1");
  EXPECT_TRUE(eventShows("r", "Readiness probe failed: HTTP probe failed with statuscode: 404"))
      << events("r");
  EXPECT_NE(b_.boxctl({"status"}).out.find("0/1"), std::string::npos);

  ASSERT_EQ(b_.boxctl({"exec", "r", "--", "touch", "/www/ready"}).code, 0);
  w = b_.boxctl({"wait", "r", "--for=condition=Ready", "--timeout=10s"});
  EXPECT_EQ(w.code, 0) << w.out;
  EXPECT_EQ(b_.pod("r")["ready"], "1/1");
  EXPECT_EQ(b_.pod("r")["containers"][0]["ready"], true);
  EXPECT_EQ(b_.pod("r")["restarts"], 0) << "readiness never restarts a container";

  ASSERT_EQ(b_.boxctl({"exec", "r", "--", "rm", "/www/ready"}).code, 0);
  EXPECT_TRUE(waitFor([&] { return b_.pod("r")["ready"] == "0/1"; }, 10000));
  w = b_.boxctl({"wait", "r", "--for=condition=Ready=false", "--timeout=5s"});
  EXPECT_EQ(w.code, 0) << w.out;
}

TEST_F(ProbesTest, PodWithoutProbesIsReadyWhenItRuns) {
  b_.writeSpec("plain.yaml", podYaml("plain", "exec sleep 1000", ""));
  auto w = b_.boxctl({"wait", "plain", "--for=condition=Ready", "--timeout=15s"});
  EXPECT_EQ(w.code, 0) << w.out << b_.status().dump(2);
  EXPECT_EQ(b_.boxctl({"wait", "plain", "--for=phase=Running", "--timeout=1s"}).code, 0);
}

TEST_F(ProbesTest, LivenessRestartsAContainerThatStopsAnswering) {
  // Answers on 8080 for 2 s, then only sleeps.
  b_.writeSpec("l.yaml", podYaml("l",
                                 "echo run >> /tmp/runs; httpd -f -p 8080 -h / & sleep 2; kill $!; "
                                 "exec sleep 1000",
                                 R"(    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 1
)"));
  ASSERT_TRUE(b_.waitPhase("l", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(waitFor([&] { return b_.pod("l")["restarts"].get<int>() >= 1; }, 20000))
      << b_.status().dump(2) << events("l");
  std::string ev = events("l");
  EXPECT_NE(ev.find("Liveness probe failed: dial tcp"), std::string::npos) << ev;
  EXPECT_NE(ev.find("connection refused"), std::string::npos) << ev;
  EXPECT_NE(ev.find("Container c failed liveness probe, will be restarted"), std::string::npos)
      << ev;
  ASSERT_TRUE(waitFor([&] { return b_.pod("l")["containers"][0]["state"] == "Running"; }, 10000));
  auto d = b_.boxctl({"describe", "l"});
  EXPECT_NE(d.out.find("Last State: Terminated"), std::string::npos) << d.out;
  EXPECT_NE(d.out.find("Message:   Liveness probe failed: dial tcp"), std::string::npos) << d.out;
}

TEST_F(ProbesTest, ExecProbeIsKilledAtItsTimeout) {
  b_.writeSpec("e.yaml", podYaml("e", "exec sleep 1000", R"(    readinessProbe:
      exec: {command: [sh, -c, "echo started; exec sleep 30"]}
      timeoutSeconds: 1
      periodSeconds: 20
)"));
  ASSERT_TRUE(b_.waitPhase("e", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(eventShows("e", "Readiness probe failed: command timed out")) << events("e");
  // The probe's command went with its timeout (the next probe is 20 s away).
  auto ps = b_.boxctl({"exec", "e", "--", "sh", "-c", "ps -o args | grep -c '^sleep 30' || true"});
  EXPECT_EQ(trim(ps.out), "0") << ps.out;
  EXPECT_EQ(b_.pod("e")["ready"], "0/1");
}

TEST_F(ProbesTest, ExecProbeExitCodeDecides) {
  b_.writeSpec("x.yaml", podYaml("x", "exec sleep 1000", R"(    readinessProbe:
      exec: {command: [cat, /tmp/ok]}
      periodSeconds: 1
)"));
  ASSERT_TRUE(b_.waitPhase("x", "Running"));
  ASSERT_TRUE(eventShows("x", "Readiness probe failed: cat: can't open '/tmp/ok'")) << events("x");
  ASSERT_EQ(b_.boxctl({"exec", "x", "--", "touch", "/tmp/ok"}).code, 0);
  EXPECT_EQ(b_.boxctl({"wait", "x", "--for=condition=Ready", "--timeout=10s"}).code, 0)
      << events("x") << b_.status().dump(2);
}

TEST_F(ProbesTest, StartupProbeHoldsLivenessBack) {
  // httpd starts after 4 s; a liveness probe alone (failureThreshold 1) would kill it first.
  b_.writeSpec("s.yaml", podYaml("slow", std::string("sleep 4; ") + kWeb, R"(    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 20
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 1
)"));
  auto w = b_.boxctl({"wait", "slow", "--for=condition=Ready", "--timeout=2s"});
  EXPECT_NE(w.code, 0) << "not ready before its startup probe passed";
  w = b_.boxctl({"wait", "slow", "--for=condition=Ready", "--timeout=20s"});
  EXPECT_EQ(w.code, 0) << w.out << events("slow");
  ::sleep(2);
  EXPECT_EQ(b_.pod("slow")["restarts"], 0) << events("slow");
  std::string ev = events("slow");
  EXPECT_NE(ev.find("Startup probe failed"), std::string::npos) << ev;
  EXPECT_EQ(ev.find("Liveness probe failed"), std::string::npos) << ev;
}

TEST_F(ProbesTest, FailedPostStartKillsTheContainer) {
  b_.writeSpec("ps.yaml", podYaml("poststart", "exec sleep 1000", R"(    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo no-config >&2; exit 3"]}
)"));
  EXPECT_TRUE(eventShows("poststart", "FailedPostStartHook")) << events("poststart");
  EXPECT_TRUE(eventShows("poststart", "no-config")) << events("poststart");
  EXPECT_TRUE(waitFor([&] { return b_.pod("poststart")["restarts"].get<int>() >= 1; }, 20000))
      << b_.status().dump(2);
  EXPECT_NE(b_.pod("poststart")["ready"], "1/1");
}

TEST_F(ProbesTest, PreStopRunsBeforeSigterm) {
  // The hook and the TERM trap append to a file of the host: their order survives the pod.
  TempDir out("prestop");
  ASSERT_EQ(::chmod(out.path().c_str(), 0777), 0);
  b_.writeSpec("stop.yaml",
               podYaml("stopper",
                       "trap \"echo term >> /out/order; exit 0\" TERM; while true; do sleep 1 & "
                       "wait; done",
                       R"(    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "echo prestop >> /out/order; echo prestop-ran"]}
)",
                       "  volumes: [{name: out, hostPath: {path: " + out.path() + "}}]\n"));
  // Ready: its container runs (phase Running alone may still be starting it).
  ASSERT_EQ(b_.boxctl({"wait", "stopper", "--for=condition=Ready", "--timeout=15s"}).code, 0)
      << b_.status().dump(2);
  b_.removeSpec("stop.yaml");
  ASSERT_TRUE(b_.waitGone("stopper", 20000));
  auto order = readFile(out / "order");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, "prestop\nterm\n");
}

// An HTTP server on the pod network's gateway (the host's side of the bridge): it answers one
// request with status, and hands back what it was sent. Bounded: gives up after timeoutMs.
std::string serveOnce(int listenFd, int status, int timeoutMs) {
  pollfd p{listenFd, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) != 1) return "";
  Fd c(::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!c) return "";
  std::string req;
  char buf[4096];
  int64_t deadline = monotonicMs() + 5000;
  while (req.find("\r\n\r\n") == std::string::npos && monotonicMs() < deadline) {
    pollfd q{c.get(), POLLIN, 0};
    if (::poll(&q, 1, 500) != 1) continue;
    ssize_t n = ::read(c.get(), buf, sizeof buf);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
  (void)!::write(c.get(), reply.data(), reply.size());
  return req;
}

Fd listenOn(const std::string& ip, int& port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;  // the bridge (and its address) comes with the first pod
  if (!s || ::setsockopt(s.get(), IPPROTO_IP, IP_FREEBIND, &one, sizeof one) != 0) return Fd();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(s.get(), 4) != 0)
    return Fd();
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return s;
}

TEST_F(ProbesTest, HttpGetPostStartHookCallsItsHost) {
  int port = 0;
  Fd l = listenOn(b_.gateway(), port);
  ASSERT_TRUE(l) << "listen on " << b_.gateway();
  b_.writeSpec("h.yaml", podYaml("hooked", "exec sleep 1000",
                                 "    lifecycle:\n      postStart:\n        httpGet: {host: " +
                                     b_.gateway() + ", port: " + std::to_string(port) +
                                     ", path: /started, httpHeaders: [{name: X-Hook, value: "
                                     "post}]}\n"));
  std::string req = serveOnce(l.get(), 200, 30000);
  EXPECT_EQ(req.rfind("GET /started HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Hook: post\r\n"), std::string::npos) << req;
  EXPECT_EQ(b_.boxctl({"wait", "hooked", "--for=condition=Ready", "--timeout=15s"}).code, 0)
      << events("hooked");
  EXPECT_TRUE(eventShows("hooked", "postStart hook of container c done")) << events("hooked");

  // A hook answered with an error status kills the container, as kubelet does.
  b_.writeSpec("h2.yaml",
               podYaml("hooked2", "exec sleep 1000",
                       "    lifecycle:\n      postStart:\n        httpGet: {host: " + b_.gateway() +
                           ", port: " + std::to_string(port) + ", path: /fail}\n"));
  req = serveOnce(l.get(), 500, 30000);
  EXPECT_EQ(req.rfind("GET /fail HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_TRUE(eventShows("hooked2", "FailedPostStartHook")) << events("hooked2");
  EXPECT_TRUE(eventShows("hooked2", "500")) << events("hooked2");
}

TEST_F(ProbesTest, StartupProbeThatNeverPassesKillsTheContainer) {
  b_.writeSpec("ns.yaml", podYaml("never", "exec sleep 1000", R"(    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 1
)"));
  ASSERT_TRUE(waitFor([&] { return b_.pod("never")["restarts"].get<int>() >= 1; }, 30000))
      << b_.status().dump(2) << events("never");
  std::string ev = events("never");
  EXPECT_NE(ev.find("Startup probe failed: dial tcp"), std::string::npos) << ev;
  EXPECT_NE(ev.find("Container c failed startup probe, will be restarted"), std::string::npos)
      << ev;
  EXPECT_NE(b_.pod("never")["ready"], "1/1");
}

TEST_F(ProbesTest, ProbesResumeAfterABoxdRestartWithoutKilling) {
  // Liveness on a port that answers; readiness on a file the test removes afterwards.
  b_.writeSpec("rs.yaml",
               podYaml("resume", "touch /tmp/ready; mkdir -p /www && exec httpd -f -p 8080 -h /www",
                       R"(    livenessProbe:
      tcpSocket: {port: 8080}
      initialDelaySeconds: 1
      periodSeconds: 1
      failureThreshold: 2
    readinessProbe:
      exec: {command: [cat, /tmp/ready]}
      periodSeconds: 1
)"));
  ASSERT_EQ(b_.boxctl({"wait", "resume", "--for=condition=Ready", "--timeout=20s"}).code, 0)
      << events("resume");
  int pid = b_.pod("resume")["containers"][0]["pid"].get<int>();
  b_.stop();  // pods keep running; no probe runs for these 4 s (two failure thresholds)
  ::sleep(4);
  b_.start();
  EXPECT_EQ(b_.boxctl({"wait", "resume", "--for=condition=Ready", "--timeout=20s"}).code, 0)
      << events("resume");
  EXPECT_EQ(b_.pod("resume")["restarts"], 0) << "killed for the time boxd was down";
  EXPECT_EQ(b_.pod("resume")["containers"][0]["pid"], pid);
  // Probing runs again: readiness follows the file.
  ASSERT_EQ(b_.boxctl({"exec", "resume", "--", "rm", "/tmp/ready"}).code, 0);
  EXPECT_EQ(b_.boxctl({"wait", "resume", "--for=condition=Ready=false", "--timeout=15s"}).code, 0)
      << events("resume");
  EXPECT_EQ(b_.pod("resume")["restarts"], 0) << events("resume");
}

}  // namespace
}  // namespace boxd::testing
