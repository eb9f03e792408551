// The pure parts of plan, top and metrics: the decision plan shares with reconcile, the diff it
// shows, the top table from two samples, the exposition text and the metrics address.
#include <gtest/gtest.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/plan.h"
#include "agent/top_format.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using nlohmann::json;

DesiredPod desired(const std::string& name, const std::string& image, const std::string& file) {
  auto parsed = specs::parseSpecFile(
      file, "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
                "}\nspec:\n  containers:\n  - name: c\n    image: " + image + "\n");
  EXPECT_TRUE(parsed.ok());
  const specs::PodSpec& spec = parsed.pods.at(0).spec;
  return {spec, specs::specHash(spec), file};
}

TEST(PodAction, TheDecisionReconcileTakes) {
  DesiredPod want = desired("a", "busybox", "a.yaml");
  EXPECT_EQ(podAction(false, false, "", &want), PodAction::Create);
  EXPECT_EQ(podAction(false, false, "", nullptr), PodAction::Keep);
  EXPECT_EQ(podAction(true, false, want.hash, &want), PodAction::Keep);
  EXPECT_EQ(podAction(true, false, "other", &want), PodAction::Replace);
  EXPECT_EQ(podAction(true, true, want.hash, &want), PodAction::Replace);
  EXPECT_EQ(podAction(true, false, want.hash, nullptr), PodAction::Delete);
}

TEST(PlanChanges, PodsAndSecretsByName) {
  DesiredPod a1 = desired("a", "busybox:1", "a.yaml"), a2 = desired("a", "busybox:2", "a.yaml");
  DesiredPod b = desired("b", "busybox", "b.yaml"), c = desired("c", "busybox", "c.yaml");
  std::map<std::string, RunningPod> running = {{"a", {a1.spec, a1.hash, "a.yaml", false}},
                                               {"b", {b.spec, b.hash, "b.yaml", false}}};
  std::map<std::string, DesiredSecret> secrets = {
      {"keep", {{"keep", "Opaque", {{"k", "v"}}, false}, "s.yaml"}},
      {"edit", {{"edit", "Opaque", {{"k", "old"}}, false}, "s.yaml"}},
      {"gone", {{"gone", "Opaque", {{"k", "v"}}, false}, "s.yaml"}}};
  Desired next;
  next.pods = {{"a", a2}, {"c", c}};
  next.secrets = {{"keep", secrets["keep"]},
                  {"edit", {{"edit", "Opaque", {{"k", "new"}}, false}, "s.yaml"}},
                  {"new", {{"new", "Opaque", {{"k", "v"}}, false}, "t.yaml"}}};
  PlanChanges plan = planChanges(running, secrets, next);
  ASSERT_EQ(plan.pods.size(), 3u);
  EXPECT_EQ(plan.pods[0].action, PodAction::Replace);
  EXPECT_EQ(plan.pods[0].fields, std::vector<std::string>{"containers[0].image"});
  EXPECT_NE(plan.pods[0].diff.find(
                "-      \"image\": \"busybox:1\",\n+      \"image\": \"busybox:2\",\n"),
            std::string::npos)
      << plan.pods[0].diff;
  EXPECT_EQ(plan.pods[1].action, PodAction::Delete);
  EXPECT_EQ(plan.pods[1].sourceFile, "b.yaml");
  EXPECT_EQ(plan.pods[2].action, PodAction::Create);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& s : plan.secrets) got.emplace_back(s.name, s.action);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"edit", "changed"}, {"new", "added"}, {"gone", "removed"}}));
  EXPECT_TRUE(plan.changes());
  EXPECT_FALSE(
      planChanges({{"b", {b.spec, b.hash, "b.yaml", false}}}, {}, Desired{{{"b", b}}, {}, {}})
          .changes());
}

TEST(UnifiedDiff, HunksWithContext) {
  std::string a, b;
  for (int i = 1; i <= 20; ++i) {
    a += "line " + std::to_string(i) + "\n";
    b += (i == 5 ? "five\n" : i == 15 ? "" : "line " + std::to_string(i) + "\n");
  }
  EXPECT_EQ(
      unifiedDiff(a, b, "old", "new"),
      "--- old\n+++ new\n"
      "@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+five\n line 6\n line 7\n line 8\n"
      "@@ -12,7 +12,6 @@\n line 12\n line 13\n line 14\n-line 15\n line 16\n line 17\n line 18\n");
  EXPECT_EQ(unifiedDiff(a, a, "old", "new"), "");
  EXPECT_EQ(unifiedDiff("", "x\n", "old", "new"), "--- old\n+++ new\n@@ -0,0 +1,1 @@\n+x\n");
}

TEST(TopRows, CpuFromTwoSamplesMemoryAndPidsFromTheLast) {
  json first = {
      {"sampledAtNs", 1000000000},
      {"pods",
       {{{"name", "p"},
         {"cpuNs", 5000000},
         {"memoryBytes", 1},
         {"pids", 1},
         {"containers", {{{"name", "c"}, {"cpuNs", 4000000}, {"memoryBytes", 1}, {"pids", 1}}}}}}}};
  json second = {
      {"sampledAtNs", 3000000000},
      {"pods",
       {{{"name", "p"},
         {"cpuNs", 1005000000},
         {"memoryBytes", 5 << 20},
         {"pids", 3},
         {"containers",
          {{{"name", "c"}, {"cpuNs", 904000000}, {"memoryBytes", 3 << 20}, {"pids", 2}},
           {{"name", "new"}, {"cpuNs", nullptr}, {"memoryBytes", 2048}, {"pids", nullptr}}}}},
        {{"name", "q"},
         {"cpuNs", 1},
         {"memoryBytes", nullptr},
         {"pids", 1},
         {"containers", json::array()}}}}};
  json rows = topRows(first, second);
  EXPECT_EQ(rows["pods"][0]["cpuMilli"], 500);  // 1 s of CPU over 2 s
  EXPECT_EQ(rows["pods"][0]["containers"][0]["cpuMilli"], 450);
  EXPECT_TRUE(rows["pods"][0]["containers"][1]["cpuMilli"].is_null());
  EXPECT_TRUE(rows["pods"][1]["cpuMilli"].is_null());  // not in the first sample
  EXPECT_EQ(formatTop(rows, false),
            "NAME   CPU(cores)   MEMORY(bytes)   PIDS\n"
            "p      500m         5Mi             3\n"
            "q      -            -               1\n");
  EXPECT_EQ(formatTop(rows, true),
            "POD   NAME   CPU(cores)   MEMORY(bytes)   PIDS\n"
            "p     c      450m         3Mi             2\n"
            "p     new    -            2Ki             -\n");
  EXPECT_EQ(formatTop(topRows(json::object(), json::object()), false), "No pods running.\n");
}

TEST(Metrics, ExpositionText) {
  MetricsSnapshot s;
  s.podsByPhase = {{"Pending", 0}, {"Running", 2}};
  ContainerMetrics c;
  c.pod = "web";
  c.container = "a\"b";
  c.state = "Running";
  c.restarts = 3;
  c.lastExitCode = 137;
  c.cpuUsageNs = 1500000000;
  c.memoryWorkingSetBytes = 4096;
  s.containers.push_back(c);
  s.specPasses = 7;
  s.revision = "rev-1";
  s.version = "0.1.0";
  MetricsRegistry reg;
  reg.observeStep("cgroup", "apply", 0.003, true);
  reg.observeStep("cgroup", "apply", 2, false);
  reg.countRollback("netns", "apply_failed");
  std::string text = renderMetrics(s, reg);
  for (const char* line : {
           "# TYPE boxd_pods gauge\n",
           "boxd_pods{phase=\"Running\"} 2\n",
           "boxd_container_restarts_total{pod=\"web\",container=\"a\\\"b\"} 3\n",
           "boxd_container_last_exit_code{pod=\"web\",container=\"a\\\"b\"} 137\n",
           "container_cpu_usage_seconds_total{pod=\"web\",container=\"a\\\"b\"} 1.5\n",
           "container_memory_working_set_bytes{pod=\"web\",container=\"a\\\"b\"} 4096\n",
           "# TYPE boxd_step_duration_seconds histogram\n",
           "boxd_step_duration_seconds_bucket{kind=\"cgroup\",op=\"apply\",le=\"0.001\"} 0\n",
           "boxd_step_duration_seconds_bucket{kind=\"cgroup\",op=\"apply\",le=\"0.005\"} 1\n",
           "boxd_step_duration_seconds_bucket{kind=\"cgroup\",op=\"apply\",le=\"2.5\"} 2\n",
           "boxd_step_duration_seconds_bucket{kind=\"cgroup\",op=\"apply\",le=\"+Inf\"} 2\n",
           "boxd_step_duration_seconds_sum{kind=\"cgroup\",op=\"apply\"} 2.003\n",
           "boxd_step_duration_seconds_count{kind=\"cgroup\",op=\"apply\"} 2\n",
           "boxd_steps_total{kind=\"cgroup\",op=\"apply\",result=\"error\"} 1\n",
           "boxd_rollbacks_total{kind=\"netns\",reason=\"apply_failed\"} 1\n",
           "boxd_spec_passes_total 7\n",
           "boxd_specs_revision_info{revision=\"rev-1\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // No exit code before a container has exited; no CPU series when the cgroup has none.
  ContainerMetrics fresh;
  fresh.pod = "p";
  fresh.container = "c";
  s.containers = {fresh};
  text = renderMetrics(s, reg);
  EXPECT_EQ(text.find("boxd_container_last_exit_code{"), std::string::npos);
  EXPECT_EQ(text.find("container_cpu_usage_seconds_total{"), std::string::npos);
  EXPECT_EQ(escapeLabelValue("a\\b\nc"), "a\\\\b\\nc");
}

TEST(MetricsAddress, LoopbackOrUnixSocketOnly) {
  auto tcp = parseMetricsAddress("127.0.0.1:9102");
  ASSERT_TRUE(tcp.ok());
  EXPECT_FALSE(tcp->unixSocket);
  EXPECT_EQ(tcp->host, "127.0.0.1");
  EXPECT_EQ(tcp->port, 9102);
  auto v6 = parseMetricsAddress("[::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  auto sock = parseMetricsAddress("unix:/run/boxd/metrics.sock");
  ASSERT_TRUE(sock.ok());
  EXPECT_TRUE(sock->unixSocket);
  EXPECT_EQ(sock->path, "/run/boxd/metrics.sock");
  EXPECT_TRUE(parseMetricsAddress("/run/m.sock").ok());
  for (const char* bad : {"0.0.0.0:9102", "10.0.0.1:9102", "127.0.0.1:0", "127.0.0.1:70000",
                          "127.0.0.1", "unix:relative", "localhost:9102", "127.0.0.1:x"}) {
    EXPECT_FALSE(parseMetricsAddress(bad).ok()) << bad;
  }
  EXPECT_NE(parseMetricsAddress("0.0.0.0:9102").error().message.find("no authentication"),
            std::string::npos);
}

TEST(MetricsAddress, ConfigKey) {
  boxd::testing::TempDir t("cfg");
  Config cfg;
  EXPECT_EQ(cfg.metricsAddress, "");
  ASSERT_TRUE(writeFileAtomic(t / "boxd.yaml", "metricsAddress: 127.0.0.1:9102\n").ok());
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.metricsAddress, "127.0.0.1:9102");
  ASSERT_TRUE(writeFileAtomic(t / "boxd.yaml", "metricsAddress: 0.0.0.0:9102\n").ok());
  Status st = loadConfigFile(t / "boxd.yaml", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("boxd.yaml:1:1: metricsAddress \"0.0.0.0:9102\""),
            std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace boxd::agent
