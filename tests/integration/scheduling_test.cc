// boxd as its node's scheduler on a real boxd (docs/scheduling.md): a pod whose required
// nodeAffinity the node's labels do not match stays Pending (Unschedulable, the scheduler's
// message) until the node is relabelled; two Deployment replicas with required podAntiAffinity
// on kubernetes.io/hostname wait while a matching pod runs, and once it is removed one runs and
// the other keeps waiting.
#include <gtest/gtest.h>
#include <unistd.h>

#include "specs/parse.h"
#include "tests/integration/harness.h"
#include "tests/integration/node_labels.h"

namespace boxd::testing {
namespace {

class SchedulingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  bool waitReason(const std::string& name, const std::string& reason) {
    return waitFor(
        [&] {
          auto p = b_.pod(name);
          return !p.is_null() && p["reason"] == reason;
        },
        20000);
  }
  Boxd b_;
};

TEST_F(SchedulingTest, NodeAffinityPendingUntilTheNodeMatches) {
  ASSERT_NO_FATAL_FAILURE(expectPendingUntilRelabelled(
      b_, R"(  serviceAccountName: builder
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disktype, operator: In, values: [ssd, nvme]}
          - {key: kubernetes.io/os, operator: In, values: [linux]}
)",
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
      "(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: its "
      "term matches; disktype In [ssd, nvme]; this node has label disktype=hdd)",
      "nvme"));
}

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: web
        image: busybox
        command: [sleep, "1000"]
)";

const char* kHolder = R"(apiVersion: v1
kind: Pod
metadata: {name: holder, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sleep, "1000"]
)";

std::string antiMessage(const std::string& other) {
  return "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules "
         "(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0], "
         "topologyKey kubernetes.io/hostname selects pod default/" +
         other + " on this node)";
}

// A pod labelled app=web holds the node: both replicas wait for it. Once it is removed, one
// replica runs and the other keeps waiting, now for that replica.
TEST_F(SchedulingTest, AntiAffinityRunsOneReplicaOnceTheHolderGoes) {
  b_.start();
  b_.importBusybox();
  specs::ParseResult parsed = specs::parseSpecFile("web.yaml", kDeployment);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed.pods.size(), 2u);
  const std::string r0 = parsed.pods[0].spec.name, r1 = parsed.pods[1].spec.name;

  b_.writeSpec("holder.yaml", kHolder);
  ASSERT_TRUE(b_.waitPhase("holder", "Running", 30000)) << b_.status().dump(2) << b_.log();
  b_.writeSpec("web.yaml", kDeployment);
  ASSERT_TRUE(waitReason(r0, "Unschedulable")) << b_.status().dump(2);
  ASSERT_TRUE(waitReason(r1, "Unschedulable")) << b_.status().dump(2);
  EXPECT_EQ(b_.pod(r0)["phase"], "Pending");
  EXPECT_EQ(b_.pod(r0)["message"], antiMessage("holder"));
  EXPECT_EQ(b_.pod(r1)["message"], antiMessage("holder"));

  b_.removeSpec("holder.yaml");  // the conflicting pod goes: one replica starts
  ASSERT_TRUE(b_.waitGone("holder", 30000)) << b_.status().dump(2);
  std::string running, waiting;
  ASSERT_TRUE(waitFor(
      [&] {
        for (const auto& [a, b] : {std::pair{r0, r1}, std::pair{r1, r0}}) {
          auto pa = b_.pod(a), pb = b_.pod(b);
          if (!pa.is_null() && pa["phase"] == "Running" && !pb.is_null() &&
              pb["reason"] == "Unschedulable") {
            running = a;
            waiting = b;
            return true;
          }
        }
        return false;
      },
      30000))
      << b_.status().dump(2) << b_.log();
  EXPECT_EQ(b_.pod(waiting)["phase"], "Pending");
  EXPECT_EQ(b_.pod(waiting)["message"], antiMessage(running));
  EXPECT_NE(b_.boxctl({"events", waiting}).out.find("FailedScheduling"), std::string::npos);

  b_.removeSpec("web.yaml");
  EXPECT_TRUE(b_.waitGone(running, 30000));
  EXPECT_TRUE(b_.waitGone(waiting, 30000));
  EXPECT_TRUE(b_.leftovers().empty());
}

}  // namespace
}  // namespace boxd::testing
