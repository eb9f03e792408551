// Workload kinds on a real boxd (docs/workloads.md): a Deployment of 2 replicas runs; a change of
// its template rolls the pods one at a time, never below 2 ready pods and never above 3 pods;
// scaling down keeps replica 0; a StatefulSet's pods are <name>-<ordinal> and show their owner.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "specs/parse.h"
#include "specs/workload.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

std::string deployment(int replicas, const std::string& version) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
         "  replicas: " +
         std::to_string(replicas) +
         "\n  selector: {matchLabels: {app: web}}\n"
         "  template:\n"
         "    metadata: {labels: {app: web}}\n"
         "    spec:\n"
         "      terminationGracePeriodSeconds: 1\n"
         "      containers:\n"
         "      - name: web\n"
         "        image: busybox\n"
         "        command: [sh, -c, 'echo " +
         version + "; exec sleep 1000']\n";
}

// The pod names boxd gives these documents, replica 0 first (the parser is the reference).
std::vector<std::string> podNames(const std::string& text) {
  specs::ParseResult r = specs::parseSpecFile("w.yaml", text);
  EXPECT_TRUE(r.ok());
  std::vector<std::string> out;
  for (const auto& p : r.pods) out.push_back(p.spec.name);
  return out;
}

struct Owned {
  std::set<std::string> all, ready;
};

Owned owned(Boxd& b, const std::string& owner) {
  Owned o;
  nlohmann::json st = b.status();  // held: a range over a temporary's member would dangle
  for (const auto& p : st["pods"]) {
    if (p.value("owner", "") != owner) continue;
    std::string name = p["name"];
    o.all.insert(name);
    if (p.value("phase", "") == "Running" && p.value("ready", "") == "1/1") o.ready.insert(name);
  }
  return o;
}

std::string joined(const std::set<std::string>& s) {
  std::string out;
  for (const auto& n : s) out += n + " ";
  return out;
}

std::set<std::string> setOf(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

using WorkloadsTest = BoxdBusyboxTest;

TEST_F(WorkloadsTest, DeploymentRunsRollsAndScalesDown) {
  std::string v1 = deployment(2, "v1"), v2 = deployment(2, "v2");
  std::vector<std::string> names1 = podNames(v1), names2 = podNames(v2);
  ASSERT_EQ(names1.size(), 2u);
  b_.writeSpec("web.yaml", v1);
  ASSERT_TRUE(waitFor([&] { return owned(b_, "Deployment/web").ready == setOf(names1); }, 60000))
      << b_.status().dump(2);
  EXPECT_NE(b_.boxctl({"status"}).out.find("Deployment/web"), std::string::npos)
      << "boxctl status shows the owner";

  // The template changes: pods of v2 replace those of v1, one at a time.
  b_.writeSpec("web.yaml", v2);
  size_t most = 0, fewestReady = 2;
  bool done = waitFor(
      [&] {
        Owned o = owned(b_, "Deployment/web");
        most = std::max(most, o.all.size());
        fewestReady = std::min(fewestReady, o.ready.size());
        return o.all == setOf(names2) && o.ready == setOf(names2);
      },
      90000);
  ASSERT_TRUE(done) << b_.status().dump(2);
  EXPECT_LE(most, 3u) << "one pod more than replicas at most";
  EXPECT_EQ(fewestReady, 2u) << "never fewer ready pods than replicas during the rollout";
  std::string out = b_.boxctl({"logs", names2[1]}).out;
  EXPECT_EQ(out, "v2\n");

  // Scale down: replica 0 stays, replica 1 goes.
  b_.writeSpec("web.yaml", deployment(1, "v2"));
  ASSERT_TRUE(b_.waitGone(names2[1], 30000)) << b_.status().dump(2);
  EXPECT_EQ(owned(b_, "Deployment/web").ready, std::set<std::string>{names2[0]});

  b_.removeSpec("web.yaml");
  EXPECT_TRUE(b_.waitGone(names2[0], 30000));
}

TEST_F(WorkloadsTest, StatefulSetPodsAreNamedByOrdinal) {
  std::string text =
      "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n"
      "  serviceName: db\n  replicas: 2\n"
      "  selector: {matchLabels: {app: db}}\n"
      "  template:\n"
      "    metadata: {labels: {app: db}}\n"
      "    spec:\n"
      "      terminationGracePeriodSeconds: 1\n"
      "      containers: [{name: db, image: busybox, command: [sh, -c, 'exec sleep 1000']}]\n";
  b_.writeSpec("db.yaml", text);
  ASSERT_TRUE(waitFor(
      [&] {
        return owned(b_, "StatefulSet/db").ready == std::set<std::string>{"db-0", "db-1"};
      },
      60000))
      << "ready: " << joined(owned(b_, "StatefulSet/db").ready) << "\n"
      << b_.status().dump(2);
  CmdResult d = b_.boxctl({"describe", "db-1"});
  EXPECT_NE(d.out.find("Controlled By: StatefulSet/db"), std::string::npos) << d.out;
  b_.removeSpec("db.yaml");
  EXPECT_TRUE(b_.waitGone("db-0", 30000));
  EXPECT_TRUE(b_.waitGone("db-1", 30000));
}

}  // namespace
}  // namespace boxd::testing
