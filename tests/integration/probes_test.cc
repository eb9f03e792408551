// Probes end to end: a private boxd runs busybox pods whose probes pass, fail and time out;
// the test watches what a user sees (status, READY, `boxctl wait`, events, describe).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace
}  // namespace boxd::testing
