// Operator tooling end to end on a real boxd: `boxctl plan` against the running pods (and that
// it changes nothing), `boxctl top` from real cgroups, and the metrics, served on 127.0.0.1,
// scraped by a real Prometheus and checked with `promtool check metrics`.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/fixtures/process.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

using nlohmann::json;

class ToolingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  Boxd b_;
};

std::string sleeperPod(
    const std::string& name, const std::string& image = "busybox",
    const std::string& command = "trap 'exit 0' TERM; while true; do sleep 1 & wait; done") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: " +
         image + "\n    command: [sh, -c, \"" + command + "\"]\n";
}

constexpr const char* kSecret =
    "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {key: s3cr3t-value}\n";

// A TCP port free on 127.0.0.1 right now.
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

TEST_F(ToolingTest, PlanShowsCreateReplaceDeleteAndSecretsAndChangesNothing) {
  b_.start();
  b_.importBusybox();
  b_.writeSpec("a.yaml", sleeperPod("a"));
  b_.writeSpec("b.yaml", sleeperPod("b"));
  ASSERT_TRUE(b_.waitPhase("a", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(b_.waitPhase("b", "Running")) << b_.status().dump(2);
  const std::string uidA = b_.pod("a")["uid"], uidB = b_.pod("b")["uid"];

  // The specs dir as it is: nothing to do.
  CmdResult same = b_.boxctl({"plan"});
  EXPECT_EQ(same.code, 0) << same.out;
  EXPECT_NE(same.out.find("0 to create, 0 to replace, 0 to delete, 2 unchanged"), std::string::npos)
      << same.out;

  // A next revision: a changed (its command), b gone, c new, a secret added.
  TempDir next("plan");
  ASSERT_TRUE(writeFileAtomic(next / "a.yaml", sleeperPod("a", "busybox", "exec sleep 1000")).ok());
  ASSERT_TRUE(writeFileAtomic(next / "c.yaml", sleeperPod("c")).ok());
  ASSERT_TRUE(writeFileAtomic(next / "creds.yaml", kSecret, 0600).ok());
  CmdResult plan = b_.boxctl({"plan", next.path()});
  EXPECT_EQ(plan.code, 2) << plan.out;
  EXPECT_NE(plan.out.find("~ pod/a will be replaced (a.yaml): containers[0].command[2]"),
            std::string::npos)
      << plan.out;
  EXPECT_NE(plan.out.find("-        \"trap 'exit 0' TERM; while true; do sleep 1 & wait; done\""),
            std::string::npos)
      << plan.out;
  EXPECT_NE(plan.out.find("+        \"exec sleep 1000\""), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("+ pod/c will be created (c.yaml)"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("- pod/b will be deleted"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("+ secret/creds will be added (creds.yaml)"), std::string::npos)
      << plan.out;
  EXPECT_EQ(plan.out.find("s3cr3t"), std::string::npos) << "a secret value in the plan";

  CmdResult js = b_.boxctl({"plan", next.path(), "-o", "json"});
  EXPECT_EQ(js.code, 2);
  json j = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << js.out;
  std::map<std::string, std::string> actions;
  for (const auto& p : j["pods"]) actions[p["name"]] = p["action"];
  EXPECT_EQ(actions, (std::map<std::string, std::string>{
                         {"a", "replace"}, {"b", "delete"}, {"c", "create"}}));

  // Nothing changed on the host: the same pods, the same incarnations, no c.
  EXPECT_EQ(b_.pod("a")["uid"], uidA);
  EXPECT_EQ(b_.pod("b")["uid"], uidB);
  EXPECT_TRUE(b_.pod("c").is_null());
  EXPECT_EQ(b_.boxctl({"plan"}).code, 0);

  // Apply that revision for real: what plan said is what boxd does.
  b_.removeSpec("b.yaml");
  b_.writeSpec("a.yaml", sleeperPod("a", "busybox", "exec sleep 1000"));
  b_.writeSpec("c.yaml", sleeperPod("c"));
  ASSERT_TRUE(b_.waitGone("b", 15000));
  ASSERT_TRUE(b_.waitPhase("c", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(waitFor(
      [&] { return b_.pod("a")["uid"] != uidA && b_.pod("a")["phase"] == "Running"; }, 15000))
      << b_.status().dump(2);

  // A broken file: an error (exit 1), reported with its position.
  ASSERT_TRUE(
      writeFileAtomic(next / "c.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec: {}\n")
          .ok());
  CmdResult broken = b_.boxctl({"plan", next.path()});
  EXPECT_EQ(broken.code, 1) << broken.out;
  EXPECT_NE(broken.out.find("error: c.yaml"), std::string::npos) << broken.out;
  EXPECT_EQ(b_.boxctl({"plan", "/nonexistent/boxd-plan"}).code, 1);
}

TEST_F(ToolingTest, TopShowsCpuMemoryAndPidsPerPodAndContainer) {
  b_.start();
  b_.importBusybox();
  b_.writeSpec("t.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: t}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: burn
    image: busybox
    command: [sh, -c, "while :; do :; done"]
    resources: {limits: {cpu: 300m}}
  - name: idle
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]
)");
  ASSERT_TRUE(b_.waitPhase("t", "Running")) << b_.status().dump(2);
  ASSERT_TRUE(waitFor([&] { return b_.pod("t")["ready"] == "2/2"; }, 10000));
  CmdResult js = b_.boxctl({"top", "--containers", "--interval", "1.5", "-o", "json"});
  ASSERT_EQ(js.code, 0) << js.out;
  json j = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << js.out;
  ASSERT_EQ(j["pods"].size(), 1u) << js.out;
  const json& pod = j["pods"][0];
  ASSERT_EQ(pod["containers"].size(), 2u) << js.out;
  const json& burn = pod["containers"][0];
  const json& idle = pod["containers"][1];
  EXPECT_EQ(burn["name"], "burn");
  // Held at 300m by its quota: busy, but not above its limit (some slack for the sampling).
  EXPECT_GT(burn["cpuMilli"].get<int64_t>(), 150) << js.out;
  EXPECT_LT(burn["cpuMilli"].get<int64_t>(), 450) << js.out;
  EXPECT_LT(idle["cpuMilli"].get<int64_t>(), 50) << js.out;
  EXPECT_GT(burn["memoryBytes"].get<int64_t>(), 0) << js.out;
  EXPECT_GE(idle["pids"].get<int64_t>(), 1) << js.out;
  EXPECT_GE(pod["pids"].get<int64_t>(), burn["pids"].get<int64_t>() + idle["pids"].get<int64_t>());
  EXPECT_GE(pod["cpuMilli"].get<int64_t>(), burn["cpuMilli"].get<int64_t>() - 20);

  CmdResult table = b_.boxctl({"top", "--containers"});
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_EQ(table.out.rfind("POD   NAME   CPU(cores)   MEMORY(bytes)   PIDS\n", 0), 0u)
      << table.out;
  EXPECT_NE(table.out.find("t     burn   "), std::string::npos) << table.out;
  CmdResult pods = b_.boxctl({"top"});
  EXPECT_EQ(pods.out.rfind("NAME   CPU(cores)", 0), 0u) << pods.out;
}

TEST_F(ToolingTest, MetricsAreServedScrapedByPrometheusAndPassPromtool) {
  const int port = freePort();
  ASSERT_GT(port, 0);
  b_.addConfig("metricsAddress: 127.0.0.1:" + std::to_string(port) + "\n");
  b_.start();
  ASSERT_TRUE(b_.running()) << b_.log();
  b_.importBusybox();
  b_.writeSpec("m.yaml", sleeperPod("m"));
  ASSERT_TRUE(b_.waitPhase("m", "Running")) << b_.status().dump(2);

  // boxctl metrics, and the same families over HTTP.
  CmdResult text = b_.boxctl({"metrics"});
  ASSERT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("container_cpu_usage_seconds_total{pod=\"m\",container=\"main\"} "),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("container_memory_working_set_bytes{pod=\"m\",container=\"main\"} "),
            std::string::npos);
  EXPECT_NE(text.out.find("boxd_pods{phase=\"Running\"} 1\n"), std::string::npos) << text.out;
  EXPECT_NE(
      text.out.find("boxd_step_duration_seconds_bucket{kind=\"cgroup\",op=\"apply\",le=\"+Inf\"}"),
      std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("boxd_specs_revision_info{revision=\""), std::string::npos);

  auto check = runCommand({"promtool", "check", "metrics"}, 30000, text.out);
  ASSERT_TRUE(check.ok()) << check.error().message;
  EXPECT_EQ(check->exitCode, 0) << check->output << text.out;

  CmdResult http = run({"curl", "-sS", "--max-time", "10", "-i",
                        "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  ASSERT_EQ(http.code, 0) << http.out;
  EXPECT_EQ(http.out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << http.out;
  EXPECT_NE(http.out.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(http.out.find("boxd_spec_passes_total "), std::string::npos);
  CmdResult notFound = run({"curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w",
                            "%{http_code}", "http://127.0.0.1:" + std::to_string(port) + "/x"});
  EXPECT_EQ(notFound.out, "404");

  // A real Prometheus scrapes it; its query API then answers with boxd's own series.
  TempDir prom("prom");
  const int promPort = freePort();
  ASSERT_TRUE(writeFileAtomic(prom / "prometheus.yml",
                              "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                              "scrape_configs:\n- job_name: boxd\n  static_configs:\n"
                              "  - targets: ['127.0.0.1:" +
                                  std::to_string(port) + "']\n")
                  .ok());
  auto pid = spawnDaemon({"prometheus", "--config.file=" + prom / "prometheus.yml",
                          "--storage.tsdb.path=" + prom / "data",
                          "--web.listen-address=127.0.0.1:" + std::to_string(promPort)},
                         prom / "prometheus.log");
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  std::string answer;
  bool scraped = waitFor(
      [&] {
        CmdResult q =
            run({"curl", "-sS", "--max-time", "5",
                 "http://127.0.0.1:" + std::to_string(promPort) +
                     "/api/v1/query?query=container_memory_working_set_bytes%7Bpod%3D%22m%22%7D"});
        answer = q.out;
        json r = json::parse(q.out, nullptr, false);
        return r.is_object() && r.value("status", "") == "success" && !r["data"]["result"].empty();
      },
      60000);
  auto logText = readFile(prom / "prometheus.log");
  std::string promLog = logText.ok() ? *logText : "";
  stopChild(*pid, 5000);
  ASSERT_TRUE(scraped) << answer << "\n" << promLog;
  json r = json::parse(answer);
  EXPECT_EQ(r["data"]["result"][0]["metric"]["container"], "main");
  EXPECT_EQ(r["data"]["result"][0]["metric"]["job"], "boxd");
}

// A create that fails at its second step (the pod's cgroup) is rolled back: counted by kind and
// reason, with the undo durations; served here on a unix socket.
TEST_F(ToolingTest, RollbacksAndUndoDurationsOnAUnixSocket) {
  const std::string sock = b_.runDir() + "/metrics.sock";
  b_.addConfig("metricsAddress: unix:" + sock + "\n");
  b_.start({{"BOXD_FAULT_FAIL_STEP", "2"}});
  ASSERT_TRUE(b_.running()) << b_.log();
  b_.importBusybox();
  b_.writeSpec("f.yaml", sleeperPod("f"));
  std::string text;
  ASSERT_TRUE(waitFor(
      [&] {
        text = run({"curl", "-sS", "--max-time", "5", "--unix-socket", sock, "http://boxd/metrics"})
                   .out;
        // The rollback is counted when it starts; its undos are timed as they end.
        return text.find("boxd_rollbacks_total{kind=\"cgroup\",reason=\"apply_failed\"} ") !=
                   std::string::npos &&
               text.find("boxd_step_duration_seconds_count{kind=\"poddir\",op=\"undo\"} ") !=
                   std::string::npos;
      },
      15000))
      << text << b_.log();
  EXPECT_NE(text.find("boxd_step_duration_seconds_count{kind=\"cgroup\",op=\"undo\"} "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("boxd_step_duration_seconds_count{kind=\"poddir\",op=\"undo\"} "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("boxd_pods{phase=\"Pending\"} 1\n"), std::string::npos) << text;
  auto check = runCommand({"promtool", "check", "metrics"}, 30000, text);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->exitCode, 0) << check->output;
}

}  // namespace
}  // namespace boxd::testing
