// Namespaces (pods, Secrets and ConfigMaps keyed namespace/name; boxctl -n and -A),
// nodeSelector against the node's labels, and enableServiceLinks.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "agent/boxctl_format.h"
#include "agent/boxctl_namespace.h"
#include "agent/config_refs.h"
#include "agent/desired.h"
#include "agent/node_labels.h"
#include "agent/pod_plan.h"
#include "specs/parse.h"

namespace boxd::agent {
namespace {

std::string pod(const std::string& name, const std::string& ns, const std::string& extra = "") {
  std::string meta = "metadata:\n  name: " + name + "\n";
  if (!ns.empty()) meta += "  namespace: " + ns + "\n";
  return "apiVersion: v1\nkind: Pod\n" + meta +
         "spec:\n  containers:\n  - name: c\n    image: busybox\n" + extra;
}

FileResult file(const std::string& name, const std::string& content) {
  return {name, specs::parseSpecFile(name, content)};
}

TEST(Namespaces, KeysAreTheBareNameInDefaultAndNsSlashNameElsewhere) {
  EXPECT_EQ(specs::objectKey("default", "web"), "web");
  EXPECT_EQ(specs::objectKey("", "web"), "web");
  EXPECT_EQ(specs::objectKey("prod", "web"), "prod/web");
  EXPECT_EQ(specs::splitObjectKey("web"), (std::pair<std::string, std::string>{"default", "web"}));
  EXPECT_EQ(specs::splitObjectKey("prod/web"),
            (std::pair<std::string, std::string>{"prod", "web"}));
}

TEST(Namespaces, SameNameInTwoNamespacesOfOneFileAreTwoPods) {
  auto r = specs::parseSpecFile("f.yaml", pod("web", "") + "---\n" + pod("web", "prod"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_EQ(r.pods.size(), 2u);
  EXPECT_EQ(r.pods[0].spec.key(), "web");
  EXPECT_EQ(r.pods[1].spec.key(), "prod/web");
  EXPECT_EQ(r.pods[1].spec.namespaceName, "prod");

  auto dup = specs::parseSpecFile("f.yaml", pod("web", "prod") + "---\n" + pod("web", "prod"));
  ASSERT_EQ(dup.errors.size(), 1u);
  EXPECT_NE(dup.errors[0].str().find("duplicate pod name \"prod/web\""), std::string::npos)
      << dup.errors[0].str();
}

// A boxd without namespaces recorded pods by name with a hash of a spec that had no namespace:
// the same pod in "default" (written or not) keeps that hash and key, so it is not replaced.
TEST(Namespaces, DefaultNamespaceKeepsTheHashOfBefore) {
  auto bare = specs::parseSpecFile("f.yaml", pod("web", ""));
  auto explicitDefault = specs::parseSpecFile("f.yaml", pod("web", "default"));
  auto prod = specs::parseSpecFile("f.yaml", pod("web", "prod"));
  ASSERT_TRUE(bare.ok() && explicitDefault.ok() && prod.ok());
  EXPECT_EQ(specs::specHash(bare.pods[0].spec), specs::specHash(explicitDefault.pods[0].spec));
  EXPECT_FALSE(specs::toJson(bare.pods[0].spec).contains("namespace"));
  EXPECT_NE(specs::specHash(bare.pods[0].spec), specs::specHash(prod.pods[0].spec));
  auto back = specs::fromJson(specs::toJson(prod.pods[0].spec));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, prod.pods[0].spec);
}

TEST(Namespaces, DesiredStateHoldsBothPodsAndNamespacedObjects) {
  const std::string cms = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {k: from-default}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: prod}
data: {k: from-prod}
)";
  LastGood lg;
  auto d = resolveDesired(
      {file("a.yaml", pod("web", "")), file("b.yaml", pod("web", "prod")), file("c.yaml", cms)}, lg,
      {});
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.pods.size(), 2u);
  EXPECT_EQ(d.pods.count("web"), 1u);
  EXPECT_EQ(d.pods.count("prod/web"), 1u);
  ASSERT_EQ(d.configMaps.size(), 2u);
  EXPECT_EQ(d.configMaps.at("prod/cfg").configMap.data.at("k"), "from-prod");
}

// A pod sees the ConfigMaps and Secrets of its own namespace only, as in Kubernetes; the
// downward API's metadata.namespace is the real one.
TEST(Namespaces, PodsSeeTheirNamespacesObjects) {
  std::map<std::string, specs::ConfigMap> cms;
  cms["cfg"].data = {{"k", "from-default"}};
  cms["prod/cfg"].data = {{"k", "from-prod"}};
  const std::string env = R"(    env:
    - name: K
      valueFrom: {configMapKeyRef: {name: cfg, key: k}}
    - name: NS
      valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
)";
  for (const auto& [ns, want] : std::vector<std::pair<std::string, std::string>>{
           {"", "from-default"}, {"prod", "from-prod"}}) {
    auto r = specs::parseSpecFile("f.yaml", pod("web", ns, env));
    ASSERT_TRUE(r.ok()) << r.errors[0].str();
    const specs::PodSpec& spec = r.pods[0].spec;
    ConfigContext ctx;
    ctx.configMaps = &cms;
    ctx.namespaceName = spec.namespaceName;
    auto cfg = containerConfig(spec, spec.containers[0], ctx);
    ASSERT_TRUE(cfg.ok()) << cfg.error().message;
    auto has = [&](const std::string& kv) {
      return std::find(cfg->env.begin(), cfg->env.end(), kv) != cfg->env.end();
    };
    EXPECT_TRUE(has("K=" + want)) << ns;
    EXPECT_TRUE(has("NS=" + (ns.empty() ? std::string("default") : ns))) << ns;
  }
  std::map<std::string, specs::ConfigMap> onlyDefault = {{"cfg", cms["cfg"]}};
  auto r = specs::parseSpecFile("f.yaml", pod("web", "prod", env));
  ConfigContext ctx;
  ctx.configMaps = &onlyDefault;
  ctx.namespaceName = "prod";
  auto cfg = containerConfig(r.pods[0].spec, r.pods[0].spec.containers[0], ctx);
  ASSERT_FALSE(cfg.ok()) << "the default namespace's ConfigMap is not the prod pod's";
  EXPECT_NE(cfg.error().message.find("configmap \"cfg\" not found"), std::string::npos)
      << cfg.error().message;
}

TEST(Namespaces, CgroupOfANamespacedPodIsOneDirectory) {
  reconcilers::Paths paths;
  paths.cgroupParent = "boxd";
  EXPECT_EQ(podPaths(paths, "web", "0123456789abcdef").cgroupRel, "boxd/web-01234567");
  EXPECT_EQ(podPaths(paths, "prod/web", "0123456789abcdef").cgroupRel, "boxd/prod.web-01234567");
}

TEST(BoxctlNamespace, OptionsAreTakenOutBeforeDoubleDash) {
  std::vector<std::string> args = {"exec", "-n", "prod", "web", "--", "ls", "-n", "x"};
  auto s = takeNamespaceOptions(args);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ns, "prod");
  EXPECT_FALSE(s->all);
  EXPECT_EQ(args, (std::vector<std::string>{"exec", "web", "--", "ls", "-n", "x"}));
  EXPECT_EQ(podKey(*s, "web"), "prod/web");
  EXPECT_EQ(podKey(*s, "other/web"), "other/web");

  args = {"status", "--all-namespaces"};
  s = takeNamespaceOptions(args);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->all);
  EXPECT_EQ(args, (std::vector<std::string>{"status"}));
  args = {"--namespace=kube-system", "logs", "x"};
  s = takeNamespaceOptions(args);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(podKey(*s, "x"), "kube-system/x");
  args = {"status", "-n"};
  EXPECT_FALSE(takeNamespaceOptions(args).ok());
  args = {"status", "-n", "Bad_NS"};
  s = takeNamespaceOptions(args);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("namespace Bad_NS"), std::string::npos);
  args = {"describe", "web"};
  s = takeNamespaceOptions(args);
  EXPECT_EQ(podKey(*s, "web"), "web");
}

TEST(BoxctlNamespace, StatusShowsOneNamespaceOrAllWithAColumn) {
  nlohmann::json s = {{"specsDir", "/s"},
                      {"nowMs", 100000},
                      {"pods",
                       {{{"name", "web"},
                         {"namespace", "default"},
                         {"ready", "1/1"},
                         {"phase", "Running"},
                         {"createdAtMs", 40000},
                         {"containers", nlohmann::json::array()}},
                        {{"name", "web"},
                         {"namespace", "prod"},
                         {"ready", "0/1"},
                         {"phase", "Pending"},
                         {"reason", "Unschedulable"},
                         {"createdAtMs", 99000},
                         {"containers", nlohmann::json::array()}}}},
                      {"specErrors", nlohmann::json::array()}};
  NamespaceScope def;
  nlohmann::json d = podsInScope(s, def);
  ASSERT_EQ(d["pods"].size(), 1u);
  std::string out = formatStatus(d, false);
  EXPECT_NE(out.find("web    1/1     Running"), std::string::npos) << out;
  EXPECT_EQ(out.find("NAMESPACE"), std::string::npos) << out;

  NamespaceScope prod;
  prod.ns = "prod";
  EXPECT_EQ(podsInScope(s, prod)["pods"][0]["reason"], "Unschedulable");

  NamespaceScope all;
  all.all = true;
  out = formatStatus(podsInScope(s, all), true);
  EXPECT_NE(out.find("NAMESPACE   NAME   READY   STATUS"), std::string::npos) << out;
  EXPECT_NE(out.find("default     web    1/1     Running"), std::string::npos) << out;
  EXPECT_NE(out.find("prod        web    0/1     Unschedulable"), std::string::npos) << out;
}

TEST(NodeLabels, WellKnownLabelsUnderConfiguredOnes) {
  Labels l = nodeLabelsFor({{"disktype", "ssd"}}, "Node-A", "x86_64");
  EXPECT_EQ(l.at("kubernetes.io/hostname"), "node-a");
  EXPECT_EQ(l.at("kubernetes.io/os"), "linux");
  EXPECT_EQ(l.at("kubernetes.io/arch"), "amd64");
  EXPECT_EQ(l.at("disktype"), "ssd");
  EXPECT_EQ(nodeLabelsFor({}, "h", "aarch64").at("kubernetes.io/arch"), "arm64");
  EXPECT_EQ(nodeLabelsFor({{"kubernetes.io/hostname", "edge-1"}}, "h", "x86_64")
                .at("kubernetes.io/hostname"),
            "edge-1");
}

TEST(NodeLabels, SelectorMismatchGivesTheSchedulersMessage) {
  auto r = specs::parseSpecFile(
      "f.yaml", pod("web", "", "  nodeSelector: {disktype: ssd, kubernetes.io/os: linux}\n"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const specs::PodSpec& spec = r.pods[0].spec;
  EXPECT_EQ(nodeSelectorMismatch(spec, nodeLabelsFor({{"disktype", "ssd"}}, "h", "x86_64")), "");
  EXPECT_EQ(nodeSelectorMismatch(spec, nodeLabelsFor({}, "h", "x86_64")),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
            "(nodeSelector disktype=ssd; this node has no label disktype)");
  EXPECT_EQ(nodeSelectorMismatch(spec, nodeLabelsFor({{"disktype", "hdd"}}, "h", "x86_64")),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
            "(nodeSelector disktype=ssd; this node has disktype=hdd)");
  EXPECT_TRUE(specs::toJson(spec).contains("nodeSelector"));
  auto plain = specs::parseSpecFile("f.yaml", pod("web", ""));
  EXPECT_FALSE(specs::toJson(plain.pods[0].spec).contains("nodeSelector"));
}

TEST(NodeLabels, ConfigLabelsAreCheckedAsKubernetesLabels) {
  Labels l;
  EXPECT_TRUE(parseNodeLabels(YAML::Load("{disktype: ssd, example.com/zone: a}"), l).ok());
  EXPECT_EQ(l.at("example.com/zone"), "a");
  auto bad = parseNodeLabels(YAML::Load("{disktype: 'not ok'}"), l);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("nodeLabels.disktype"), std::string::npos);
  EXPECT_FALSE(parseNodeLabels(YAML::Load("[a]"), l).ok());
  auto badSelector = specs::parseSpecFile("f.yaml", pod("web", "", "  nodeSelector: {a: 'b c'}\n"));
  EXPECT_FALSE(badSelector.ok());
}

// boxd has no Services, so there are no service variables to leave out: the field is accepted
// either way and changes nothing.
TEST(EnableServiceLinks, AcceptedAndChangesNothing) {
  auto on = specs::parseSpecFile("f.yaml", pod("web", "", "  enableServiceLinks: true\n"));
  auto off = specs::parseSpecFile("f.yaml", pod("web", "", "  enableServiceLinks: false\n"));
  auto none = specs::parseSpecFile("f.yaml", pod("web", ""));
  ASSERT_TRUE(on.ok() && off.ok() && none.ok());
  EXPECT_EQ(specs::specHash(on.pods[0].spec), specs::specHash(none.pods[0].spec));
  EXPECT_EQ(specs::specHash(off.pods[0].spec), specs::specHash(none.pods[0].spec));
  EXPECT_FALSE(specs::parseSpecFile("f.yaml", pod("web", "", "  enableServiceLinks: 3\n")).ok());
}

}  // namespace
}  // namespace boxd::agent
