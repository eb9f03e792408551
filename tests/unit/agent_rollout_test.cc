// Pacing a workload's rollout (agent/rollout.h): one pod at a time, never below `replicas` ready.
#include <gtest/gtest.h>

#include "agent/rollout.h"
#include "specs/parse.h"
#include "specs/workload.h"

namespace boxd::agent {
namespace {

using Names = std::vector<std::string>;

std::map<std::string, DesiredPod> podsOf(std::string_view kind, int replicas,
                                         std::string_view image) {
  std::string text = "apiVersion: apps/v1\nkind: " + std::string(kind) +
                     "\nmetadata: {name: web}\nspec:\n" +
                     (kind == "DaemonSet" ? "" : "  replicas: " + std::to_string(replicas) + "\n") +
                     "  selector: {matchLabels: {app: web}}\n  template:\n"
                     "    metadata: {labels: {app: web}}\n"
                     "    spec: {containers: [{name: c, image: " +
                     std::string(image) + "}]}\n";
  specs::ParseResult r = specs::parseSpecFile("w.yaml", text);
  EXPECT_TRUE(r.ok());
  std::map<std::string, DesiredPod> out;
  for (const auto& p : r.pods) out[p.spec.name] = {p.spec, specs::specHash(p.spec), "w.yaml"};
  return out;
}

Names names(const std::map<std::string, DesiredPod>& pods) {
  Names out;
  for (const auto& [n, p] : pods) out.push_back(n);
  return out;
}

// Every pod of `pods` running, ready or not.
void run(std::map<std::string, CurrentPod>& current, const std::map<std::string, DesiredPod>& pods,
         bool ready) {
  for (const auto& [n, p] : pods) current[n] = {p, ready};
}

TEST(Rollout, PodsOfNoWorkloadAndFirstCreationsPassThrough) {
  auto v1 = podsOf("Deployment", 3, "busybox");
  EXPECT_EQ(names(pacedPods(v1, {})), names(v1));
  std::map<std::string, DesiredPod> plain = {{"solo", {specs::PodSpec{}, "h", "a.yaml"}}};
  EXPECT_EQ(names(pacedPods(plain, {})), Names{"solo"});
}

TEST(Rollout, DeploymentRollsOnePodAtATimeKeepingReplicasReady) {
  auto v1 = podsOf("Deployment", 2, "busybox");
  auto v2 = podsOf("Deployment", 2, "busybox:1.36");
  std::map<std::string, CurrentPod> current;
  run(current, v1, true);
  Names old = names(v1);
  Names next;
  for (const auto& p : v2) next.push_back(p.first);
  // Order of the new pods by replica.
  std::sort(next.begin(), next.end(), [&](const std::string& a, const std::string& b) {
    return specs::replicaOf(v2[a].spec) < specs::replicaOf(v2[b].spec);
  });
  std::string old0, old1;
  for (const auto& [n, p] : v1) (specs::replicaOf(p.spec) == 0 ? old0 : old1) = n;

  // Step 1: the first new pod, both old ones kept.
  auto paced = pacedPods(v2, current);
  EXPECT_EQ(paced.size(), 3u);
  EXPECT_TRUE(paced.count(next[0]) && paced.count(old0) && paced.count(old1));
  EXPECT_EQ(paced[old0].hash, v1[old0].hash) << "an old pod is kept exactly as it runs";
  // Created but not ready: nothing more.
  current[next[0]] = {v2[next[0]], false};
  EXPECT_EQ(pacedPods(v2, current).size(), 3u);
  // Ready: the highest old replica goes; the second new pod waits until it is gone.
  current[next[0]].ready = true;
  paced = pacedPods(v2, current);
  EXPECT_EQ(paced.size(), 2u);
  EXPECT_TRUE(paced.count(next[0]) && paced.count(old0));
  current.erase(old1);
  paced = pacedPods(v2, current);
  EXPECT_EQ(paced.size(), 3u);
  EXPECT_TRUE(paced.count(next[0]) && paced.count(next[1]) && paced.count(old0));
  current[next[1]] = {v2[next[1]], true};
  // Both new pods ready: no old pod left.
  paced = pacedPods(v2, current);
  EXPECT_EQ(names(paced), names(v2));
}

TEST(Rollout, AHostPortOrADaemonSetIsReplacedByDeleteThenCreate) {
  for (std::string_view kind : {"DaemonSet", "Deployment"}) {
    SCOPED_TRACE(kind);
    std::string image =
        kind == "Deployment" ? "busybox, ports: [{containerPort: 80, hostPort: 8080}]" : "busybox";
    auto v1 = podsOf(kind, 1, image);
    auto v2 = podsOf(kind, 1, image + ", args: [x]");
    ASSERT_EQ(v1.size(), 1u);
    ASSERT_EQ(v2.size(), 1u);
    std::map<std::string, CurrentPod> current;
    run(current, v1, true);
    EXPECT_TRUE(pacedPods(v2, current).empty()) << "the old pod goes first";
    current.clear();  // gone
    EXPECT_EQ(names(pacedPods(v2, current)), names(v2));
  }
}

TEST(Rollout, ScalingDownDropsTheHighestReplicas) {
  auto v3 = podsOf("Deployment", 3, "busybox");
  auto v1 = podsOf("Deployment", 1, "busybox");
  std::map<std::string, CurrentPod> current;
  run(current, v3, true);
  EXPECT_EQ(names(pacedPods(v1, current)), names(v1));
  auto s3 = podsOf("StatefulSet", 3, "busybox");
  auto s1 = podsOf("StatefulSet", 1, "busybox");
  current.clear();
  run(current, s3, true);
  EXPECT_EQ(names(pacedPods(s1, current)), Names{"web-0"});
}

TEST(Rollout, StatefulSetCreatesInOrderAndUpdatesFromTheHighestOrdinal) {
  auto v1 = podsOf("StatefulSet", 3, "busybox");
  std::map<std::string, CurrentPod> current;
  EXPECT_EQ(names(pacedPods(v1, current)), Names{"web-0"});
  current["web-0"] = {v1["web-0"], false};
  EXPECT_EQ(names(pacedPods(v1, current)), Names{"web-0"});
  current["web-0"].ready = true;
  EXPECT_EQ(names(pacedPods(v1, current)), (Names{"web-0", "web-1"}));
  run(current, v1, true);

  auto v2 = podsOf("StatefulSet", 3, "busybox:1.36");
  auto paced = pacedPods(v2, current);
  EXPECT_EQ(paced["web-2"].hash, v2["web-2"].hash) << "the highest ordinal goes first";
  EXPECT_EQ(paced["web-1"].hash, v1["web-1"].hash);
  EXPECT_EQ(paced["web-0"].hash, v1["web-0"].hash);
  current["web-2"].ready = false;  // being replaced
  paced = pacedPods(v2, current);
  EXPECT_EQ(paced["web-2"].hash, v2["web-2"].hash) << "never back to the old spec mid-way";
  EXPECT_EQ(paced["web-1"].hash, v1["web-1"].hash);
  current["web-2"] = {v2["web-2"], true};
  paced = pacedPods(v2, current);
  EXPECT_EQ(paced["web-1"].hash, v2["web-1"].hash);
  EXPECT_EQ(paced["web-0"].hash, v1["web-0"].hash);
}

}  // namespace
}  // namespace boxd::agent
