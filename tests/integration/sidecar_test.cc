// Sidecar containers (initContainers[] with restartPolicy: Always) end to end, with a real boxd
// and busybox: they start in their place among the init containers and keep running beside the
// app, are restarted whatever the pod's restartPolicy, hold the next init container until their
// startup probe passes, are stopped once the app is done (the pod's phase from the app alone),
// and at deletion are stopped after the app, last declared first.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/util.h"
#include "tests/integration/harness.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {
namespace {

class SidecarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  // The container's state from status: initContainers first, then containers.
  nlohmann::json container(const std::string& pod, const std::string& name) {
    nlohmann::json p = b_.pod(pod);
    if (p.is_null()) return nullptr;
    for (const char* list : {"initContainers", "containers"}) {
      if (!p.contains(list)) continue;
      for (const auto& c : p[list])
        if (c["name"] == name) return c;
    }
    return nullptr;
  }
  bool waitRunning(const std::string& pod, const std::string& name, int timeoutMs = 15000) {
    return waitFor(
        [&] {
          auto c = container(pod, name);
          return !c.is_null() && c["state"] == "Running" && c.value("pid", 0) > 0;
        },
        timeoutMs);
  }
  Boxd b_;
};

// A process that is gone, or a zombie its reaper has not collected yet.
bool processGone(int pid) {
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && stat->size() > paren + 2 && (*stat)[paren + 2] == 'Z';
}

// A shell loop that exits 0 on SIGTERM (a container's first process ignores signals it does not
// handle).
constexpr const char* kIdle = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";

TEST_F(SidecarTest, AJobsLogSidecarShipsTheAppsLogAndIsStoppedWhenTheAppCompletes) {
  b_.writeSpec("job.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: job}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  volumes:
  - {name: logs, emptyDir: {}}
  initContainers:
  - name: shipper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'touch /logs/app.log; trap "exit 0" TERM; tail -f /logs/app.log & wait']
    volumeMounts: [{name: logs, mountPath: /logs}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4; do echo "app wrote line $i" >> /logs/app.log; sleep 1; done']
    volumeMounts: [{name: logs, mountPath: /logs}]
)");
  ASSERT_TRUE(waitFor([&] { return b_.pod("job")["ready"] == "2/2"; }, 20000))
      << "READY counts the sidecar, as kubectl does: " << b_.status().dump(2);
  ASSERT_TRUE(waitRunning("job", "shipper"));
  const int shipperPid = container("job", "shipper")["pid"].get<int>();
  ASSERT_TRUE(b_.waitPhase("job", "Succeeded", 30000)) << b_.status().dump(2);
  auto p = b_.pod("job");
  EXPECT_EQ(p["reason"], "Completed");
  auto shipper = container("job", "shipper"), app = container("job", "app");
  EXPECT_EQ(app["state"], "Terminated");
  EXPECT_EQ(app["exitCode"], 0);
  EXPECT_EQ(shipper["state"], "Terminated") << "the sidecar is stopped once the app is done";
  EXPECT_EQ(shipper["exitCode"], 0) << "stopped with SIGTERM (its trap exits 0), not killed";
  EXPECT_EQ(shipper["restarts"], 0) << "a sidecar the pod stopped is not restarted";
  EXPECT_LE(shipper["startedAtMs"].get<int64_t>(), app["startedAtMs"].get<int64_t>())
      << "the sidecar starts first, in its place among the init containers";
  EXPECT_GE(shipper["finishedAtMs"].get<int64_t>(), app["finishedAtMs"].get<int64_t>());
  EXPECT_TRUE(waitFor([&] { return processGone(shipperPid); }, 5000));
  std::string logs = b_.boxctl({"logs", "job", "-c", "shipper"}).out;
  for (int i = 1; i <= 4; ++i)
    EXPECT_NE(logs.find("app wrote line " + std::to_string(i)), std::string::npos) << logs;
  std::string events = b_.boxctl({"events", "job"}).out;
  EXPECT_NE(events.find("Stopping sidecar container shipper"), std::string::npos) << events;
  // Nothing restarts it later either (a resync, a status): still Succeeded, still stopped.
  ::usleep(1500 * 1000);
  EXPECT_EQ(b_.pod("job")["phase"], "Succeeded");
  EXPECT_EQ(container("job", "shipper")["state"], "Terminated");
}

TEST_F(SidecarTest, AKilledSidecarIsRestartedWhileTheAppKeepsRunning) {
  TempDir shared("sidecar");
  // Each container notes its SIGTERM in a host directory that outlives the pod: the order of
  // deletion is read there once the pod is gone.
  auto note = [](const std::string& who) {
    return std::string("trap \"echo ") + who +
           " >> /shared/order; exit 0\" TERM; while true; do sleep 1 & wait; done";
  };
  b_.writeSpec("svc.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: svc}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 10
  volumes:
  - {name: shared, hostPath: {path: )" +
                               shared.path() + R"(, type: Directory}}
  initContainers:
  - name: first
    image: busybox
    restartPolicy: Always
    command: [sh, -c, ')" + note("first") +
                               R"(']
    volumeMounts: [{name: shared, mountPath: /shared}]
    readinessProbe:
      exec: {command: [test, -e, /shared/ready]}
      periodSeconds: 1
  - name: second
    image: busybox
    restartPolicy: Always
    command: [sh, -c, ')" + note("second") +
                               R"(']
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'echo second-preStop >> /shared/order']}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, ')" + note("app") +
                               R"(']
    volumeMounts: [{name: shared, mountPath: /shared}]
)");
  ASSERT_TRUE(waitRunning("svc", "app")) << b_.status().dump(2);
  ASSERT_TRUE(waitRunning("svc", "first"));
  const int appPid = container("svc", "app")["pid"].get<int>();
  const int oldPid = container("svc", "first")["pid"].get<int>();
  ASSERT_EQ(::kill(oldPid, SIGKILL), 0);
  ASSERT_TRUE(waitFor(
      [&] {
        auto c = container("svc", "first");
        return c["restarts"].get<int>() >= 1 && c["state"] == "Running" && c["pid"] != oldPid &&
               c["pid"].get<int>() > 0;
      },
      20000))
      << "restarted although the pod's restartPolicy is Never: " << b_.status().dump(2);
  EXPECT_TRUE(processGone(oldPid));
  auto app = container("svc", "app");
  EXPECT_EQ(app["state"], "Running");
  EXPECT_EQ(app["pid"], appPid) << "the app keeps running through the sidecar's restart";
  EXPECT_EQ(app["restarts"], 0);
  EXPECT_EQ(b_.pod("svc")["phase"], "Running");
  EXPECT_EQ(container("svc", "first")["lastState"]["exitCode"], 137);
  // The sidecar's readiness probe counts in READY, as kubectl counts sidecars.
  ASSERT_TRUE(waitFor([&] { return b_.pod("svc")["ready"] == "2/3"; }, 10000))
      << b_.pod("svc").dump(2);
  ::usleep(1500 * 1000);  // a probe or two more: still not ready
  EXPECT_EQ(b_.pod("svc")["ready"], "2/3");
  EXPECT_EQ(container("svc", "first")["ready"], false);
  ASSERT_TRUE(writeFileAtomic(shared / "ready", "", 0644).ok());
  ASSERT_TRUE(waitFor([&] { return b_.pod("svc")["ready"] == "3/3"; }, 10000))
      << b_.pod("svc").dump(2);

  b_.removeSpec("svc.yaml");
  ASSERT_TRUE(b_.waitGone("svc", 40000)) << b_.status().dump(2);
  auto order = readFile(shared / "order");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, "app\nsecond-preStop\nsecond\nfirst\n")
      << "deletion stops the app first, then the sidecars last declared first, each after its "
         "preStop hook";
}

TEST_F(SidecarTest, TheNextInitContainerWaitsForTheSidecarsStartupProbe) {
  b_.writeSpec("probe.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, 'sleep 3; touch /tmp/ready; )") +
                                 kIdle + R"(']
    startupProbe:
      exec: {command: [test, -e, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 30
  - name: after
    image: busybox
    command: [sh, -c, 'echo after']
  containers:
  - name: app
    image: busybox
    command: [sh, -c, ')" + kIdle +
                                 R"(']
)");
  ASSERT_TRUE(waitRunning("probe", "proxy")) << b_.status().dump(2);
  const int64_t proxyStarted = container("probe", "proxy")["startedAtMs"].get<int64_t>();
  ::usleep(1500 * 1000);  // the proxy runs, its startup probe fails: nothing else starts
  auto p = b_.pod("probe");
  EXPECT_EQ(p["phase"], "Pending");
  EXPECT_EQ(p["reason"], "Init:0/2") << p.dump(2);
  EXPECT_EQ(container("probe", "after")["state"], "Waiting");
  EXPECT_EQ(container("probe", "proxy")["ready"], false);
  ASSERT_TRUE(waitRunning("probe", "app", 30000)) << b_.status().dump(2);
  auto after = container("probe", "after");
  EXPECT_EQ(after["state"], "Terminated");
  EXPECT_EQ(after["exitCode"], 0);
  EXPECT_GE(after["startedAtMs"].get<int64_t>() - proxyStarted, 2500)
      << "the next init container started only once the startup probe passed";
  EXPECT_EQ(container("probe", "proxy")["state"], "Running") << "the sidecar keeps running";
  EXPECT_EQ(container("probe", "proxy")["restarts"], 0);
  EXPECT_TRUE(b_.waitPhase("probe", "Running"));
  EXPECT_TRUE(waitFor([&] { return b_.pod("probe")["ready"] == "2/2"; }, 10000))
      << b_.pod("probe").dump(2);
}

TEST_F(SidecarTest, ABoxdRestartNeitherRestartsNorRevivesSidecars) {
  b_.writeSpec("done.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: helper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, ')") + kIdle +
                                R"(']
  containers:
  - {name: app, image: busybox, command: [sh, -c, 'sleep 1']}
)");
  b_.writeSpec("live.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: helper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, ')") + kIdle +
                                R"(']
  containers:
  - name: app
    image: busybox
    command: [sh, -c, ')" + kIdle +
                                R"(']
)");
  ASSERT_TRUE(b_.waitPhase("done", "Succeeded", 20000)) << b_.status().dump(2);
  ASSERT_TRUE(waitRunning("live", "app")) << b_.status().dump(2);
  ASSERT_TRUE(waitRunning("live", "helper"));
  const int helperPid = container("live", "helper")["pid"].get<int>();
  const int appPid = container("live", "app")["pid"].get<int>();
  b_.kill9();
  b_.start();
  ASSERT_TRUE(waitFor([&] { return b_.pod("live")["ready"] == "2/2"; }, 15000))
      << b_.status().dump(2);
  ::usleep(1500 * 1000);  // time for a wrong restart to show
  EXPECT_EQ(container("live", "helper")["pid"], helperPid) << "re-adopted, not restarted";
  EXPECT_EQ(container("live", "helper")["restarts"], 0) << b_.boxctl({"events", "live"}).out;
  EXPECT_EQ(container("live", "app")["pid"], appPid);
  EXPECT_EQ(b_.pod("done")["phase"], "Succeeded");
  EXPECT_EQ(container("done", "helper")["state"], "Terminated")
      << "the completed pod's sidecar stays stopped";
  EXPECT_EQ(container("done", "helper")["restarts"], 0);
}

}  // namespace
}  // namespace boxd::testing
