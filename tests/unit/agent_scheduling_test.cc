// Scheduling fields: affinity, topologySpreadConstraints and the service account fields, parsed
// and validated (file:line:field), their canonical JSON (absent unless set), and the one-node
// scheduler's filters (agent/scheduling.h) with the scheduler's messages.
#include <gtest/gtest.h>

#include "agent/config_refs.h"
#include "agent/scheduling.h"
#include "specs/parse.h"

namespace boxd::agent {
namespace {

std::string pod(const std::string& name, const std::string& extra,
                const std::string& labels = "{app: web}") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  labels: " + labels +
         "\nspec:\n  containers:\n  - name: c\n    image: busybox\n" + extra;
}

specs::PodSpec parsed(const std::string& name, const std::string& extra,
                      const std::string& labels = "{app: web}") {
  auto r = specs::parseSpecFile("f.yaml", pod(name, extra, labels));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.ok() ? r.pods[0].spec : specs::PodSpec{};
}

std::vector<std::string> errors(const std::string& extra) {
  std::vector<std::string> out;
  for (const auto& d : specs::parseSpecFile("f.yaml", pod("web", extra)).errors)
    out.push_back(d.str());
  return out;
}

Node node(Labels extra = {}) {
  Labels l = nodeLabelsFor(extra, "host-a", "x86_64");
  return {"host-a", l};
}

const char* kAnti = R"(  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: kubernetes.io/hostname
)";

TEST(SchedulingFields, AcceptedAndAbsentFromTheHashUnlessSet) {
  auto plain = parsed("web", "");
  auto withFalse = parsed("web", "  automountServiceAccountToken: false\n  affinity: {}\n");
  EXPECT_EQ(specs::specHash(plain), specs::specHash(withFalse));
  EXPECT_FALSE(specs::toJson(plain).contains("affinity"));

  auto all = parsed("web", std::string(kAnti) + R"(    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference: {matchExpressions: [{key: zone, operator: In, values: [a]}]}
  serviceAccount: old
  serviceAccountName: builder
  automountServiceAccountToken: true
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: DoNotSchedule
    labelSelector: {matchLabels: {app: web}}
)");
  EXPECT_EQ(all.serviceAccountName, "builder");  // the deprecated alias loses, in any order
  EXPECT_TRUE(all.automountServiceAccountToken);
  ASSERT_EQ(all.affinity.podAntiAffinity.required.size(), 1u);
  EXPECT_EQ(all.affinity.nodeAffinity.preferred.at(0).weight, 100);
  ASSERT_EQ(all.topologySpreadConstraints.size(), 1u);
  EXPECT_NE(specs::specHash(all), specs::specHash(plain));
  auto back = specs::fromJson(specs::toJson(all));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, all);
  EXPECT_EQ(parsed("web", "  serviceAccount: old\n").serviceAccountName, "old");
  // The downward API reads the name as written; empty when unset (no default ServiceAccount).
  EXPECT_EQ(fieldValue(all, "spec.serviceAccountName", {}), "builder");
  EXPECT_EQ(fieldValue(plain, "spec.serviceAccountName", {}), "");
}

TEST(SchedulingFields, ValidationErrorsNameFileLineAndField) {
  auto e = errors(R"(  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disk, operator: Gt, values: ["1", "2"]}
          - {key: disk, operator: Near}
          matchFields:
          - {key: metadata.labels, operator: In, values: [a]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 0, preference: {}}
)");
  ASSERT_EQ(e.size(), 4u) << ::testing::PrintToString(e);
  EXPECT_EQ(
      e[0],
      "f.yaml:15:35: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
      "nodeSelectorTerms[0].matchExpressions[0].values: must be specified single value when "
      "`operator` is 'Lt' or 'Gt'");
  EXPECT_NE(e[1].find("matchExpressions[1].operator: Unsupported value: \"Near\""),
            std::string::npos);
  EXPECT_NE(e[2].find("matchFields[0].key: Unsupported value: \"metadata.labels\": supported "
                      "values: \"metadata.name\""),
            std::string::npos);
  EXPECT_EQ(
      e[3],
      "f.yaml:20:18: spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
      "[0].weight: must be in the range 1-100, got 0");

  // The preferred terms of pod (anti-)affinity: the same weight check, the term required.
  e = errors(R"(  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - {weight: 101, podAffinityTerm: {topologyKey: zone}}
      - {weight: 5}
      - {podAffinityTerm: {topologyKey: ""}, extra: 1}
)");
  const std::string anti =
      "spec.affinity.podAntiAffinity."
      "preferredDuringSchedulingIgnoredDuringExecution";
  EXPECT_EQ(e, (std::vector<std::string>{
                   "f.yaml:13:18: " + anti + "[0].weight: must be in the range 1-100, got 101",
                   "f.yaml:14:9: " + anti + "[1].podAffinityTerm: required field is missing",
                   "f.yaml:15:9: " + anti + "[2].weight: required field is missing",
                   "f.yaml:15:41: " + anti + "[2].podAffinityTerm.topologyKey: can not be empty",
                   "f.yaml:15:46: " + anti + "[2].extra: unknown field"}));

  EXPECT_EQ(errors("  affinity:\n    podAffinity:\n      "
                   "requiredDuringSchedulingIgnoredDuringExecution:\n      - labelSelector: {}\n"),
            std::vector<std::string>{
                "f.yaml:13:9: spec.affinity.podAffinity."
                "requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: required field is "
                "missing"});
  EXPECT_EQ(errors("  topologySpreadConstraints:\n  - {maxSkew: 0, topologyKey: zone, "
                   "whenUnsatisfiable: ScheduleAnyway, minDomains: 2}\n"),
            (std::vector<std::string>{
                "f.yaml:11:15: spec.topologySpreadConstraints[0].maxSkew: must be greater than "
                "zero, got 0",
                "f.yaml:11:84: spec.topologySpreadConstraints[0].minDomains: can only use "
                "minDomains if whenUnsatisfiable=DoNotSchedule"}));
  EXPECT_EQ(errors("  serviceAccountName: Not_A_Name\n").size(), 1u);
  EXPECT_EQ(errors("  automountServiceAccountToken: maybe\n").size(), 1u);
}

TEST(NodeAffinity, TermsAreOredAndExpressionsAnded) {
  auto spec = parsed("web", R"(  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: disktype, operator: In, values: [ssd]}
          - {key: cores, operator: Gt, values: ["8"]}
        - matchFields:
          - {key: metadata.name, operator: In, values: [other-host]}
)");
  EXPECT_EQ(nodeAffinityMismatch(spec, node({{"disktype", "ssd"}, {"cores", "16"}})), "");
  EXPECT_EQ(nodeAffinityMismatch(spec, node({{"disktype", "ssd"}, {"cores", "8"}})),
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
            "(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: no term "
            "of 2 matches; cores Gt [8]; this node has label cores=8)");
  EXPECT_NE(
      nodeAffinityMismatch(spec, node({{"cores", "16"}})).find("this node has no label disktype"),
      std::string::npos);
  Node other = node();
  other.name = "other-host";
  EXPECT_EQ(nodeAffinityMismatch(spec, other), "");  // the second term, on the node's name

  auto ops = parsed("web", R"(  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - {key: kubernetes.io/os, operator: NotIn, values: [windows]}
          - {key: gpu, operator: DoesNotExist}
          - {key: kubernetes.io/arch, operator: Exists}
          - {key: rack, operator: Lt, values: ["3"]}
)");
  EXPECT_EQ(nodeAffinityMismatch(ops, node({{"rack", "2"}})), "");
  EXPECT_NE(nodeAffinityMismatch(ops, node({{"rack", "2"}, {"gpu", ""}})), "");
  EXPECT_NE(nodeAffinityMismatch(ops, node({{"rack", "x"}})), "");  // not an integer: no match
  EXPECT_NE(nodeAffinityMismatch(ops, node()), "");                 // Lt on a missing label
}

TEST(PodAntiAffinity, AtMostOneMatchingPodOnTheHostnameTopology) {
  auto a = parsed("web-a", kAnti), b = parsed("web-b", kAnti);
  EXPECT_EQ(interPodAffinityMismatch(a, node(), {}), "");
  EXPECT_EQ(scheduleMismatch(b, node(), {&a}),
            "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules "
            "(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0], "
            "topologyKey kubernetes.io/hostname selects pod default/web-a on this node)");
  // The existing pod's rule keeps out a pod that has none itself.
  auto plain = parsed("plain", "");
  EXPECT_NE(interPodAffinityMismatch(plain, node(), {&a})
                .find("didn't satisfy existing pods anti-affinity rules (pod default/web-a"),
            std::string::npos);
  // Other labels, another namespace: no conflict.
  auto db = parsed("db", "", "{app: db}");
  EXPECT_EQ(interPodAffinityMismatch(db, node(), {&a}), "");
  auto prod = a;
  prod.namespaceName = "prod";
  EXPECT_EQ(interPodAffinityMismatch(b, node(), {&prod}), "");
  // A topology key the node has no label for: no domain, nothing to avoid.
  auto zoned = parsed("web-z", R"(  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: topology.kubernetes.io/zone
        namespaces: [default, prod]
)");
  EXPECT_EQ(interPodAffinityMismatch(zoned, node(), {&plain}), "");
  EXPECT_NE(interPodAffinityMismatch(zoned, node({{"topology.kubernetes.io/zone", "z1"}}), {&prod}),
            "");
}

TEST(PodAffinity, NeedsAMatchingPodUnlessItIsTheFirstOfItsGroup) {
  const char* kAff = R"(  affinity:
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: cache}}
        topologyKey: kubernetes.io/hostname
)";
  auto web = parsed("web", kAff);
  auto cache = parsed("cache", "", "{app: cache}");
  EXPECT_EQ(scheduleMismatch(web, node(), {}),
            "0/1 nodes are available: 1 node(s) didn't match pod affinity rules "
            "(spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0], "
            "topologyKey kubernetes.io/hostname: no pod on this node matches)");
  EXPECT_EQ(scheduleMismatch(web, node(), {&cache}), "");
  auto self = parsed("cache-2", kAff, "{app: cache}");  // affinity to its own group
  EXPECT_EQ(scheduleMismatch(self, node(), {}), "");
  auto zoned = parsed("web",
                      "  affinity:\n    podAffinity:\n      "
                      "requiredDuringSchedulingIgnoredDuringExecution:\n      - "
                      "labelSelector: {}\n        topologyKey: zone\n");
  EXPECT_NE(scheduleMismatch(zoned, node(), {&cache}).find("this node has no label zone"),
            std::string::npos);
  // namespaceSelector {} selects every namespace; kubernetes.io/metadata.name picks one.
  specs::PodAffinityTerm t = web.affinity.podAffinity.required[0];
  cache.namespaceName = "infra";
  EXPECT_FALSE(affinityTermSelects(t, web, cache));
  t.namespaceSelector = specs::LabelSelector{};
  EXPECT_TRUE(affinityTermSelects(t, web, cache));
  t.namespaceSelector->matchLabels = {{"kubernetes.io/metadata.name", "prod"}};
  EXPECT_FALSE(affinityTermSelects(t, web, cache));
  t.labelSelector.reset();  // nil: matches no pod
  t.namespaceSelector = specs::LabelSelector{};
  EXPECT_FALSE(affinityTermSelects(t, web, cache));
}

TEST(TopologySpread, OneNodeIsAlwaysBalancedButNeedsTheKey) {
  auto spread = [](const std::string& key, const std::string& extra = "") {
    return parsed("web", "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: " + key +
                             "\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector: "
                             "{matchLabels: {app: web}}\n" +
                             extra);
  };
  auto a = parsed("a", ""), b = parsed("b", "");
  EXPECT_EQ(scheduleMismatch(spread("kubernetes.io/hostname"), node(), {&a, &b}), "");
  EXPECT_EQ(scheduleMismatch(spread("zone"), node(), {}),
            "0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints "
            "(missing required label) (spec.topologySpreadConstraints[0]: this node has no label "
            "zone)");
  // minDomains above the one domain there is: the global minimum is 0, so maxSkew pods fit.
  auto min2 = spread("kubernetes.io/hostname", "    minDomains: 2\n");
  EXPECT_EQ(scheduleMismatch(min2, node(), {}), "");
  EXPECT_NE(scheduleMismatch(min2, node(), {&a}).find("skew 2 > maxSkew 1"), std::string::npos);
  auto anyway = parsed("web",
                       "  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: zone, "
                       "whenUnsatisfiable: ScheduleAnyway}\n");
  EXPECT_EQ(scheduleMismatch(anyway, node(), {}), "");
}

TEST(Scheduling, UnschedulableAndTerminatedPodsAreNotOnTheNode) {
  EXPECT_TRUE(occupiesNode("Pending", "ContainerCreating"));
  EXPECT_TRUE(occupiesNode("Running", ""));
  EXPECT_TRUE(occupiesNode("Terminating", ""));
  EXPECT_FALSE(occupiesNode("Pending", kUnschedulable));
  EXPECT_FALSE(occupiesNode("Succeeded", ""));
  EXPECT_FALSE(occupiesNode("Failed", "Evicted"));
}

}  // namespace
}  // namespace boxd::agent
