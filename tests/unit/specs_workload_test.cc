// Workload kinds (apps/v1): expansion into pods, naming, and the checks Kubernetes makes.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "specs/workload.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

std::string workload(std::string_view kind, std::string_view spec) {
  return "apiVersion: apps/v1\nkind: " + std::string(kind) +
         "\nmetadata: {name: web, labels: {app: web}}\nspec:\n" + std::string(spec);
}

constexpr std::string_view kTemplate =
    "  selector: {matchLabels: {app: web}}\n"
    "  template:\n"
    "    metadata: {labels: {app: web, tier: front}}\n"
    "    spec:\n"
    "      containers: [{name: c, image: busybox}]\n";

std::vector<std::string> names(const ParseResult& r) {
  std::vector<std::string> out;
  for (const auto& p : r.pods) out.push_back(p.spec.name);
  return out;
}

bool isSafe(char c) {
  return std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos;
}

TEST(SpecsWorkload, DeploymentBecomesReplicasPodsNamedLikeKubernetes) {
  ParseResult r =
      parseSpecFile("f.yaml", workload("Deployment", "  replicas: 3\n" + std::string(kTemplate)));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  ASSERT_EQ(r.pods.size(), 3u);
  std::string hash = r.pods[0].spec.labels.at("pod-template-hash");
  ASSERT_EQ(hash.size(), 10u);
  for (char c : hash) EXPECT_TRUE(isSafe(c)) << hash;
  std::set<std::string> distinct;
  for (size_t i = 0; i < 3; ++i) {
    const PodSpec& p = r.pods[i].spec;
    EXPECT_EQ(p.name.rfind("web-" + hash + "-", 0), 0u) << p.name;
    EXPECT_EQ(p.name.size(), 4 + 10 + 1 + 5u) << p.name;
    EXPECT_EQ(ownerOf(p), "Deployment/web");
    EXPECT_EQ(replicaOf(p), static_cast<int64_t>(i));
    EXPECT_EQ(p.labels.at("tier"), "front");
    EXPECT_EQ(r.pods[i].line, 1);
    distinct.insert(p.name);
  }
  EXPECT_EQ(distinct.size(), 3u);
  // Stable: the same template gives the same names (a restart of boxd changes nothing).
  EXPECT_EQ(names(parseSpecFile(
                "g.yaml", workload("Deployment", "  replicas: 3\n" + std::string(kTemplate)))),
            names(r));
}

TEST(SpecsWorkload, AChangedTemplateGivesNewNamesAScaleKeepsThem) {
  std::string changed(kTemplate);
  changed.replace(changed.find("busybox"), 7, "busybox:1.36");
  Lines before = names(
      parseSpecFile("f.yaml", workload("Deployment", "  replicas: 2\n" + std::string(kTemplate))));
  Lines after = names(parseSpecFile("f.yaml", workload("Deployment", "  replicas: 2\n" + changed)));
  Lines scaled = names(
      parseSpecFile("f.yaml", workload("Deployment", "  replicas: 1\n" + std::string(kTemplate))));
  ASSERT_EQ(before.size(), 2u);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(before[0], after[0]);
  EXPECT_NE(before[1], after[1]);
  EXPECT_EQ(scaled, Lines{before[0]}) << "scaling down drops the highest replica";
}

TEST(SpecsWorkload, ReplicasDefaultToOneAndZeroIsAllowed) {
  EXPECT_EQ(parseSpecFile("f.yaml", workload("ReplicaSet", std::string(kTemplate))).pods.size(),
            1u);
  ParseResult zero =
      parseSpecFile("f.yaml", workload("Deployment", "  replicas: 0\n" + std::string(kTemplate)));
  EXPECT_TRUE(zero.ok());
  EXPECT_TRUE(zero.pods.empty());
}

TEST(SpecsWorkload, StatefulSetPodsAreNamedByOrdinal) {
  ParseResult r = parseSpecFile(
      "f.yaml",
      workload("StatefulSet", "  serviceName: web\n  replicas: 2\n" + std::string(kTemplate)));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  EXPECT_EQ(names(r), (Lines{"web-0", "web-1"}));
  EXPECT_EQ(r.pods[1].spec.labels.at("statefulset.kubernetes.io/pod-name"), "web-1");
  EXPECT_EQ(r.pods[1].spec.labels.at("apps.kubernetes.io/pod-index"), "1");
  EXPECT_EQ(ownerOf(r.pods[1].spec), "StatefulSet/web");
}

TEST(SpecsWorkload, DaemonSetRunsOnePodAndReplicaSetHasNoTemplateHashInTheName) {
  ParseResult ds = parseSpecFile("f.yaml", workload("DaemonSet", std::string(kTemplate)));
  ASSERT_TRUE(ds.ok()) << ::testing::PrintToString(errorLines(ds));
  ASSERT_EQ(ds.pods.size(), 1u);
  EXPECT_EQ(ds.pods[0].spec.name.size(), 4 + 5u);
  EXPECT_EQ(ownerOf(ds.pods[0].spec), "DaemonSet/web");
  EXPECT_EQ(errorsOf(workload("DaemonSet", "  replicas: 2\n" + std::string(kTemplate))),
            (Lines{"f.yaml:5:3: spec.replicas: unknown field"}));
  ParseResult rs =
      parseSpecFile("f.yaml", workload("ReplicaSet", "  replicas: 2\n" + std::string(kTemplate)));
  ASSERT_EQ(rs.pods.size(), 2u);
  EXPECT_EQ(rs.pods[0].spec.name.size(), 4 + 5u);
}

// Only boxd names a pod's owner: a Pod (or a template) claiming one would be paced as if a
// workload owned it.
TEST(SpecsWorkload, ASpecMayNotSetTheOwnerAnnotations) {
  const std::string pod =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
      "    boxd.io/owner: Deployment/web\n    boxd.io/replica: \"0\"\n"
      "spec: {containers: [{name: c, image: busybox}]}\n";
  Lines errors = errorsOf(pod);
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_NE(errors[0].find("metadata.annotations"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("set by boxd on the pods of a workload"), std::string::npos)
      << errors[0];
}

TEST(SpecsWorkload, SelectorMustMatchTheTemplateLabels) {
  EXPECT_EQ(errorsOf(workload("Deployment",
                              "  selector: {matchLabels: {app: api}}\n"
                              "  template:\n"
                              "    metadata: {labels: {app: web}}\n"
                              "    spec: {containers: [{name: c, image: busybox}]}\n")),
            (Lines{"f.yaml:7:5: spec.template.metadata.labels: Invalid value: \"{app=web}\": "
                   "`selector` does not match template `labels`"}));
  EXPECT_EQ(errorsOf(workload("Deployment",
                              "  selector: {}\n"
                              "  template:\n"
                              "    spec: {containers: [{name: c, image: busybox}]}\n")),
            (Lines{"f.yaml:5:13: spec.selector: empty selector is invalid for deployment"}));
  EXPECT_EQ(errorsOf(workload("Deployment",
                              "  template:\n"
                              "    spec: {containers: [{name: c, image: busybox}]}\n")),
            (Lines{"f.yaml:5:3: spec.selector: required field is missing"}));
  // matchExpressions, with Kubernetes' operators.
  ParseResult ok =
      parseSpecFile("f.yaml", workload("Deployment",
                                       "  selector:\n"
                                       "    matchExpressions:\n"
                                       "    - {key: app, operator: In, values: [web, api]}\n"
                                       "    - {key: canary, operator: DoesNotExist}\n"
                                       "  template:\n"
                                       "    metadata: {labels: {app: web}}\n"
                                       "    spec: {containers: [{name: c, image: busybox}]}\n"));
  EXPECT_TRUE(ok.ok()) << ::testing::PrintToString(errorLines(ok));
  EXPECT_EQ(errorsOf(workload("Deployment",
                              "  selector: {matchExpressions: [{key: app, operator: Is}]}\n"
                              "  template:\n"
                              "    spec: {containers: [{name: c, image: busybox}]}\n")),
            (Lines{"f.yaml:5:54: spec.selector.matchExpressions[0].operator: Unsupported value: "
                   "\"Is\": supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""}));
}

TEST(SpecsWorkload, TemplateErrorsCarryTheirPathAndRestartPolicyMustBeAlways) {
  EXPECT_EQ(errorsOf(workload("Deployment",
                              "  selector: {matchLabels: {app: web}}\n"
                              "  template:\n"
                              "    metadata: {labels: {app: web}}\n"
                              "    spec:\n"
                              "      restartPolicy: Never\n"
                              "      containers: [{name: c, imgae: busybox}]\n")),
            (Lines{"f.yaml:7:5: spec.template.spec.restartPolicy: Unsupported value: \"Never\": "
                   "supported values: \"Always\"",
                   "f.yaml:10:20: spec.template.spec.containers[0].image: required field is "
                   "missing",
                   "f.yaml:10:30: spec.template.spec.containers[0].imgae: unknown field; did you "
                   "mean \"image\"?"}));
}

TEST(SpecsWorkload, ReplicasThatWouldClashOnOneHostAreRefused) {
  std::string ports =
      "  replicas: 2\n"
      "  selector: {matchLabels: {app: web}}\n"
      "  template:\n"
      "    metadata: {labels: {app: web}}\n"
      "    spec:\n"
      "      containers:\n"
      "      - {name: c, image: busybox, ports: [{containerPort: 80, hostPort: 8080}]}\n";
  EXPECT_EQ(errorsOf(workload("Deployment", ports)),
            (Lines{"f.yaml:5:13: spec.replicas: 2 replicas on one host would all claim hostPort "
                   "8080 (container c); boxd runs every replica on this host: use replicas: 1"}));
  std::string one = ports;
  one.replace(one.find("replicas: 2"), 11, "replicas: 1");
  EXPECT_TRUE(parseSpecFile("f.yaml", workload("Deployment", one)).ok());
  EXPECT_EQ(
      errorsOf(workload("StatefulSet",
                        "  replicas: 3\n"
                        "  selector: {matchLabels: {app: web}}\n"
                        "  template:\n"
                        "    metadata: {labels: {app: web}}\n"
                        "    spec:\n"
                        "      containers: [{name: c, image: busybox}]\n"
                        "      volumes:\n"
                        "      - name: data\n"
                        "        rbd: {monitors: [\"10.0.0.1\"], image: data, fsType: ext4}\n")),
      (Lines{"f.yaml:5:13: spec.replicas: 3 replicas on one host would all claim the "
             "read-write block volume data; boxd runs every replica on this host: use "
             "replicas: 1"}));
}

// A template mounting its claim template is refused once, at volumeClaimTemplates; a mount of a
// volume declared nowhere is still reported.
TEST(SpecsWorkload, AClaimTemplateIsReportedOnceNotAlsoAsAnUndeclaredVolume) {
  EXPECT_EQ(errorsOf(workload("StatefulSet",
                              "  selector: {matchLabels: {app: web}}\n"
                              "  template:\n"
                              "    metadata: {labels: {app: web}}\n"
                              "    spec:\n"
                              "      containers:\n"
                              "      - name: c\n"
                              "        image: busybox\n"
                              "        volumeMounts: [{name: data, mountPath: /d}, {name: typo, "
                              "mountPath: /t}]\n"
                              "  volumeClaimTemplates: [{metadata: {name: data}}]\n")),
            (Lines{"f.yaml:12:60: spec.template.spec.containers[0].volumeMounts[1].name: volume "
                   "\"typo\" is not declared in spec.volumes",
                   "f.yaml:13:3: spec.volumeClaimTemplates: field is not supported by boxd yet"}));
}

TEST(SpecsWorkload, UnsupportedFieldsNamesAndDuplicates) {
  EXPECT_EQ(
      errorsOf(workload("StatefulSet", "  volumeClaimTemplates: [{metadata: {name: data}}]\n" +
                                           std::string(kTemplate))),
      (Lines{"f.yaml:5:3: spec.volumeClaimTemplates: field is not supported by boxd yet"}));
  EXPECT_EQ(errorsOf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: "
                     "a-very-long-deployment-name-that-goes-on-and-on-xx}\nspec:\n" +
                     std::string(kTemplate)),
            (Lines{"f.yaml:3:18: metadata.name: pod names made from it would be up to 67 "
                   "characters; boxd pod names are at most 63: shorten the name"}));
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: Pod\nmetadata: {name: web-0}\n"
                     "spec: {containers: [{name: c, image: busybox}]}\n---\n" +
                     workload("StatefulSet", std::string(kTemplate))),
            (Lines{"f.yaml:8:18: metadata.name: pod \"web-0\" of this StatefulSet is also "
                   "declared at line 3"}));
  EXPECT_EQ(
      errorsOf("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec:\n" +
               std::string(kTemplate)),
      (Lines{"f.yaml:1:13: apiVersion: must be \"apps/v1\", got \"extensions/v1beta1\""}));
  // Rollout pacing fields are accepted (boxd rolls one pod at a time: docs/workloads.md).
  EXPECT_TRUE(parseSpecFile("f.yaml", workload("Deployment",
                                               "  strategy: {type: RollingUpdate}\n"
                                               "  minReadySeconds: 5\n"
                                               "  revisionHistoryLimit: 3\n" +
                                                   std::string(kTemplate)))
                  .ok());
}

}  // namespace
}  // namespace boxd::specs
