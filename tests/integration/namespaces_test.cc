// Namespaces, nodeSelector and enableServiceLinks on a real boxd: two pods named "web" in two
// namespaces run side by side, each reading its own namespace's ConfigMap; boxctl shows the
// default namespace unless -n or -A; a nodeSelector the node does not match keeps its pod Pending
// with the scheduler's reason until the node's labels match.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "tests/integration/node_labels.h"

namespace boxd::testing {
namespace {

std::string webPod(const std::string& ns) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: greeting\n  namespace: " + ns +
         "\ndata:\n  text: hello-from-" + ns +
         "\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: " + ns + R"(
spec:
  enableServiceLinks: false
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo $GREETING ns=$NS; env | grep -c ^KUBERNETES_ || true; sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: greeting, key: text}}
    - name: NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
)";
}

class NamespacesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  bool logsHave(const std::vector<std::string>& args, const std::string& text) {
    return waitFor([&] { return b_.boxctl(args).out.find(text) != std::string::npos; }, 20000);
  }
  Boxd b_;
};

TEST_F(NamespacesTest, SameNameInTwoNamespaces) {
  b_.start();
  b_.importBusybox();
  b_.writeSpec("default.yaml", webPod("default"));
  b_.writeSpec("prod.yaml", webPod("prod"));
  ASSERT_TRUE(b_.waitPhase("web", "Running", 30000)) << b_.status().dump(2);
  ASSERT_TRUE(b_.waitPhase("prod/web", "Running", 30000)) << b_.status().dump(2);

  EXPECT_TRUE(logsHave({"logs", "web"}, "hello-from-default ns=default\n0\n"))
      << b_.boxctl({"logs", "web"}).out;
  EXPECT_TRUE(logsHave({"logs", "-n", "prod", "web"}, "hello-from-prod ns=prod\n0\n"))
      << b_.boxctl({"logs", "-n", "prod", "web"}).out;
  EXPECT_EQ(b_.boxctl({"exec", "--namespace", "prod", "web", "--", "sh", "-c", "echo $NS"}).out,
            "prod\n");

  CmdResult def = b_.boxctl({"status"});
  EXPECT_EQ(def.code, 0);
  EXPECT_EQ(def.out.find("NAMESPACE"), std::string::npos) << def.out;
  EXPECT_NE(def.out.find("\nweb "), std::string::npos) << def.out;
  CmdResult prod = b_.boxctl({"status", "-n", "prod", "-o", "json"});
  auto pj = nlohmann::json::parse(prod.out, nullptr, false);
  ASSERT_FALSE(pj.is_discarded()) << prod.out;
  ASSERT_EQ(pj["pods"].size(), 1u) << prod.out;
  EXPECT_EQ(pj["pods"][0]["namespace"], "prod");
  CmdResult all = b_.boxctl({"status", "-A"});
  EXPECT_NE(all.out.find("NAMESPACE   NAME   READY   STATUS"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("default     web    1/1     Running"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("prod        web    1/1     Running"), std::string::npos) << all.out;
  EXPECT_NE(b_.boxctl({"describe", "-n", "prod", "web"}).out.find("Namespace:    prod\n"),
            std::string::npos);
  CmdResult missing = b_.boxctl({"describe", "-n", "staging", "web"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("pod \"web\" not found in namespace \"staging\""), std::string::npos)
      << missing.out;

  // Distinct cgroups; removing one namespace's pod leaves the other running.
  std::string uidDefault = b_.pod("web")["uid"], uidProd = b_.pod("prod/web")["uid"];
  EXPECT_NE(uidDefault, uidProd);
  b_.removeSpec("prod.yaml");
  EXPECT_TRUE(b_.waitGone("prod/web", 20000));
  EXPECT_EQ(b_.pod("web")["phase"], "Running");
  EXPECT_EQ(b_.pod("web")["uid"], uidDefault);
}

TEST_F(NamespacesTest, NodeSelectorPendingUntilTheNodeMatches) {
  ASSERT_NO_FATAL_FAILURE(expectPendingUntilRelabelled(
      b_, "  nodeSelector:\n    disktype: ssd\n    kubernetes.io/os: linux\n",
      "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
      "(nodeSelector disktype=ssd; this node has disktype=hdd)",
      "ssd"));
}

}  // namespace
}  // namespace boxd::testing
