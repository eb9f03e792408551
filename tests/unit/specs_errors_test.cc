// Spec files that do not parse: every problem reported, each with file:line:column and field path.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

// A pod whose container list is supplied by the test, starting at line 5.
TEST(SpecsErrors, YamlSyntaxErrorIsOneDiagnosticWithItsPosition) {
  ParseResult r = parseSpecFile("f.yaml", "apiVersion: v1\nkind: [Pod\nmetadata: x\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "f.yaml");
  EXPECT_GT(r.errors[0].line, 0);
  EXPECT_GT(r.errors[0].column, 0);
  EXPECT_NE(r.errors[0].message.find("YAML syntax error"), std::string::npos) << r.errors[0].str();
  EXPECT_TRUE(r.pods.empty());
}

TEST(SpecsErrors, DeepNestingIsASyntaxErrorNotACrash) {
  std::string content =
      "apiVersion: v1\nspec: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  ParseResult r = parseSpecFile("f.yaml", content);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].line, 2);
  EXPECT_NE(r.errors[0].message.find("YAML is nested too deeply"), std::string::npos)
      << r.errors[0].str();
}

TEST(SpecsErrors, StrayCommaAfterATopLevelCollectionDoesNotHang) {
  // yaml-cpp alone loops forever on these, producing empty documents (found by the fuzzer).
  EXPECT_EQ(errorsOf("{a: 1},\n"), (Lines{"f.yaml:1:7: YAML syntax error: unexpected \",\""}));
  EXPECT_EQ(errorsOf("apiVersion: v1\n---\n[a], b\n"),
            (Lines{"f.yaml:3:4: YAML syntax error: unexpected \",\""}));
}

TEST(SpecsErrors, BadIndentation) {
  Lines e = errorsOf("apiVersion: v1\nkind: Pod\n  metadata: x\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].rfind("f.yaml:3:", 0), 0u) << e[0];
}

TEST(SpecsErrors, MissingTopLevelFields) {
  // Same position: in the order found (the entries first, then what was missing).
  EXPECT_EQ(errorsOf("foo: 1\n"), (Lines{
                                      "f.yaml:1:1: foo: unknown field",
                                      "f.yaml:1:1: apiVersion: required field is missing",
                                      "f.yaml:1:1: kind: required field is missing",
                                      "f.yaml:1:1: metadata: required field is missing",
                                      "f.yaml:1:1: spec: required field is missing",
                                  }));
}

TEST(SpecsErrors, WrongApiVersionAndNullMetadata) {
  EXPECT_EQ(
      errorsOf(
          "apiVersion: apps/v1\nkind: Pod\nmetadata:\nspec: {containers: [{name: c, image: i}]}\n"),
      (Lines{
          "f.yaml:1:13: apiVersion: must be \"v1\", got \"apps/v1\"",
          "f.yaml:3:1: metadata: required field has no value",
      }));
}

TEST(SpecsErrors, OtherKindsAreReportedAloneNotFieldByField) {
  EXPECT_EQ(
      errorsOf("apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec: {template: {}}\n"),
      (Lines{"f.yaml:2:7: kind: boxd runs only Pods (and reads the Secrets and ConfigMaps they "
             "name): kind must be \"Pod\", \"Secret\" or \"ConfigMap\", got "
             "\"HorizontalPodAutoscaler\""}));
}

TEST(SpecsErrors, DocumentsThatAreNotMappings) {
  EXPECT_EQ(errorsOf("- a\n- b\n---\nhello\n"),
            (Lines{"f.yaml:1:1: a document must be a mapping (a Pod), got a list",
                   "f.yaml:4:1: a document must be a mapping (a Pod), got a string"}));
}

TEST(SpecsErrors, MetadataProblems) {
  EXPECT_EQ(
      errorsOf(R"(apiVersion: v1
kind: Pod
metadata:
  name: Web_1
  namespace: Prod
  labels:
    app: true
    "bad key!": x
    ok: "not a valid value"
  annotations: {note: 3, "x/y/z": a}
  uid: 1234
spec: {containers: [{name: c, image: busybox}]}
)"),
      (Lines{
          "f.yaml:4:9: metadata.name: must be a DNS-1123 label: lowercase letters, digits and '-', "
          "starting "
          "and ending with a letter or digit (got \"Web_1\")",
          "f.yaml:5:14: metadata.namespace: must be a DNS-1123 label: lowercase letters, digits "
          "and "
          "'-', starting and ending with a letter or digit (got \"Prod\")",
          "f.yaml:7:10: metadata.labels.app: must be a string, got a boolean; quote it: \"true\"",
          "f.yaml:8:5: metadata.labels[\"bad key!\"]: key \"bad key!\": name must be 1-63 "
          "characters of "
          "[A-Za-z0-9-_.], starting and ending with a letter or digit, with an optional DNS "
          "subdomain prefix "
          "and '/'",
          "f.yaml:9:5: metadata.labels.ok: label value \"not a valid value\" must be at most 63 "
          "characters of "
          "[A-Za-z0-9-_.], starting and ending with a letter or digit",
          "f.yaml:10:23: metadata.annotations.note: must be a string, got a number; quote it: "
          "\"3\"",
          "f.yaml:10:26: metadata.annotations[\"x/y/z\"]: key \"x/y/z\": name must be 1-63 "
          "characters of "
          "[A-Za-z0-9-_.], starting and ending with a letter or digit, with an optional DNS "
          "subdomain prefix "
          "and '/'",
          "f.yaml:11:3: metadata.uid: field is not supported by boxd yet",
      }));
}

TEST(SpecsErrors, LongPodName) {
  Lines e = errorsOf("apiVersion: v1\nkind: Pod\nmetadata: {name: " + std::string(64, 'a') +
                     "}\nspec: {containers: [{name: c, image: i}]}\n");
  EXPECT_EQ(e, (Lines{"f.yaml:3:18: metadata.name: must be at most 63 characters (has 64)"}));
}

TEST(SpecsErrors, SpecFieldProblems) {
  EXPECT_EQ(
      errorsOf(podWith(R"(  containers:
  - name: c
    image: busybox
  restartPolicy: sometimes
  hostname: my_host
  terminationGracePeriodSeconds: "30"
  volumes:
  - name: data
    configMap: {name: x}
    nfs: {server: x}
  hostPID: true
  hostIPC: true
  nodeSelektor: {a: b}
)")),
      (Lines{
          "f.yaml:8:18: spec.restartPolicy: must be one of \"Always\", \"OnFailure\", \"Never\", "
          "got \"sometimes\"",
          "f.yaml:9:13: spec.hostname: must be a DNS-1123 label: lowercase letters, digits and "
          "'-', starting "
          "and ending with a letter or digit (got \"my_host\")",
          "f.yaml:10:34: spec.terminationGracePeriodSeconds: must be an integer, got a string",
          "f.yaml:14:5: spec.volumes[0].nfs: volume type nfs is not supported by boxd",
          "f.yaml:15:3: spec.hostPID: field is not supported by boxd yet",
          "f.yaml:16:3: spec.hostIPC: field is not supported by boxd yet",
          "f.yaml:17:3: spec.nodeSelektor: unknown field; did you mean \"nodeSelector\"?",
      }));
}

TEST(SpecsErrors, GracePeriodRange) {
  EXPECT_EQ(
      errorsOf(
          podWith("  containers: [{name: c, image: i}]\n  terminationGracePeriodSeconds: -5\n")),
      (Lines{"f.yaml:6:34: spec.terminationGracePeriodSeconds: must not be negative, got -5"}));
  EXPECT_EQ(errorsOf(podWith("  containers: [{name: c, image: i}]\n  "
                             "terminationGracePeriodSeconds: 99999999999999999999\n")),
            (Lines{"f.yaml:6:34: spec.terminationGracePeriodSeconds: integer 99999999999999999999 "
                   "is out of range"}));
  EXPECT_EQ(
      errorsOf(
          podWith("  containers: [{name: c, image: i}]\n  terminationGracePeriodSeconds: 1.5\n")),
      (Lines{"f.yaml:6:34: spec.terminationGracePeriodSeconds: must be an integer, got a number"}));
}

TEST(SpecsErrors, ContainersMissingEmptyOrNotAList) {
  EXPECT_EQ(errorsOf(podWith("  restartPolicy: Never\n")),
            (Lines{"f.yaml:5:3: spec.containers: required field is missing"}));
  EXPECT_EQ(errorsOf(podWith("  containers: []\n")),
            (Lines{"f.yaml:5:15: spec.containers: must list at least one container"}));
  EXPECT_EQ(errorsOf(podWith("  containers: {name: c}\n")),
            (Lines{"f.yaml:5:15: spec.containers: must be a list, got a mapping"}));
  EXPECT_EQ(errorsOf(podWith("  containers: [busybox]\n")),
            (Lines{"f.yaml:5:16: spec.containers[0]: must be a mapping, got a string"}));
}

TEST(SpecsErrors, ContainerProblemsAreAllReported) {
  EXPECT_EQ(
      errorsOf(podWith(R"(  containers:
  - name: app
    image: busybox
  - name: App
    imgae: busybox
    command: sleep 10
    args: [1, {a: b}]
    workingDir: srv
    stdin: true
  - name: app
    image: "Busybox:latest"
)")),
      (Lines{
          "f.yaml:8:5: spec.containers[1].image: required field is missing",
          "f.yaml:8:11: spec.containers[1].name: must be a DNS-1123 label: lowercase letters, "
          "digits and '-', "
          "starting and ending with a letter or digit (got \"App\")",
          "f.yaml:9:5: spec.containers[1].imgae: unknown field; did you mean \"image\"?",
          "f.yaml:10:14: spec.containers[1].command: must be a list, got a string",
          "f.yaml:11:12: spec.containers[1].args[0]: must be a string, got a number; quote it: "
          "\"1\"",
          "f.yaml:11:15: spec.containers[1].args[1]: must be a string, got a mapping",
          "f.yaml:12:17: spec.containers[1].workingDir: must be an absolute path, got \"srv\"",
          "f.yaml:13:5: spec.containers[1].stdin: field is not supported by boxd yet",
          "f.yaml:14:5: spec.containers[2].name: duplicate container name \"app\" (also "
          "spec.containers[0])",
          "f.yaml:15:12: spec.containers[2].image: invalid image reference \"Busybox:latest\": "
          "repository "
          "component \"Busybox\" must be lowercase letters and digits, separated by '.', '_', '__' "
          "or '-'",
      }));
}

TEST(SpecsErrors, EnvProblems) {
  EXPECT_EQ(
      errorsOf(podWith(R"(  containers:
  - name: c
    image: busybox
    env:
    - name: A
      value: 1
    - name: A=B
    - value: x
    - name: ""
    - name: A
      value: again
    - name: FROM
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: B
      valu: x
)")),
      (Lines{
          "f.yaml:10:14: spec.containers[0].env[0].value: must be a string, got a number; quote "
          "it: \"1\"",
          "f.yaml:11:13: spec.containers[0].env[1].name: must not contain '=' (got \"A=B\")",
          "f.yaml:12:7: spec.containers[0].env[2].name: required field is missing",
          "f.yaml:13:13: spec.containers[0].env[3].name: must not be empty",
          "f.yaml:14:13: spec.containers[0].env[4].name: duplicate environment variable \"A\" "
          "(first set at "
          "line 9)",
          "f.yaml:19:7: spec.containers[0].env[6].valu: unknown field; did you mean \"value\"?",
      }));
}

TEST(SpecsErrors, ResourceProblems) {
  EXPECT_EQ(
      errorsOf(podWith(R"(  containers:
  - name: c
    image: busybox
    resources:
      limits:
        cpu: 250m
        memory: 64Mi
        nvidia.com/gpu: 1
      requests:
        cpu: 500m
        memory: 65Mi
  - name: d
    image: busybox
    resources:
      limits: {cpu: -1, memory: 1.5}
      requests: {cpu: 0.0001, memory: lots}
      claims: [{name: x}]
  - name: e
    image: busybox
    resources:
      limits: {cpu: 0, memory: [1]}
      requests: 5
)")),
      (Lines{
          "f.yaml:12:9: spec.containers[0].resources.limits[\"nvidia.com/gpu\"]: resource "
          "\"nvidia.com/gpu\" is "
          "not supported by boxd (only cpu, memory and ephemeral-storage)",
          "f.yaml:14:14: spec.containers[0].resources.requests.cpu: cpu request 500m is greater "
          "than its "
          "limit 250m",
          "f.yaml:15:17: spec.containers[0].resources.requests.memory: memory request 68157440 "
          "bytes is "
          "greater than its limit 67108864 bytes",
          "f.yaml:19:21: spec.containers[1].resources.limits.cpu: quantity \"-1\" must not be "
          "negative",
          "f.yaml:19:33: spec.containers[1].resources.limits.memory: quantity \"1.5\" is not a "
          "whole number "
          "of bytes",
          "f.yaml:20:23: spec.containers[1].resources.requests.cpu: quantity \"0.0001\" is finer "
          "than 1m (one "
          "millicore), the smallest cpu unit",
          "f.yaml:20:39: spec.containers[1].resources.requests.memory: invalid quantity \"lots\" "
          "(expected a "
          "number with an optional unit, e.g. \"500m\", \"64Mi\", \"1e6\")",
          "f.yaml:21:7: spec.containers[1].resources.claims: field is not supported by boxd yet",
          "f.yaml:25:21: spec.containers[2].resources.limits.cpu: a limit of zero would stop the "
          "container; "
          "leave the limit out for none",
          "f.yaml:25:32: spec.containers[2].resources.limits.memory: must be a quantity such as "
          "\"500m\" or "
          "\"64Mi\", got a list",
          "f.yaml:26:17: spec.containers[2].resources.requests: must be a mapping of quantities, "
          "got a number",
      }));
}

TEST(SpecsErrors, DuplicateKeysAndPodNames) {
  EXPECT_EQ(errorsOf(R"(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: c, image: busybox}]
  restartPolicy: Never
  restartPolicy: Always
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec: {containers: [{name: c, image: busybox}]}
)"),
            (Lines{
                "f.yaml:7:3: spec.restartPolicy: duplicate key (first at line 6)",
                "f.yaml:11:18: metadata.name: duplicate pod name \"web\" (first defined at line 3)",
            }));
}

TEST(SpecsErrors, UnsupportedTagsAndNonStringKeys) {
  EXPECT_EQ(
      errorsOf(podWith("  containers: [{name: c, image: !custom busybox}]\n  ? [a, b]\n  : x\n")),
      (Lines{
          "f.yaml:5:33: spec.containers[0].image: unsupported YAML tag !custom",
          "f.yaml:6:5: spec: mapping keys must be strings, got a list",
      }));
}

TEST(SpecsErrors, MergeKeyProblems) {
  EXPECT_EQ(errorsOf(podWith("  containers: [{<<: 3, name: c, image: i}]\n")),
            (Lines{"f.yaml:5:17: spec.containers[0][\"<<\"]: a merge key needs a mapping or a list "
                   "of mappings, got "
                   "a number"}));
  // A map that merges itself: terminates with a diagnostic.
  Lines e = errorsOf(podWith("  containers: [&c {<<: *c, name: c, image: i}]\n"));
  ASSERT_FALSE(e.empty());
  EXPECT_NE(e[0].find("merge keys nested too deeply"), std::string::npos) << e[0];
}

TEST(SpecsErrors, EncodingProblemsPointAtTheBadByte) {
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: P\xC3\x28od\n"),
            (Lines{"f.yaml:2:8: file is not valid UTF-8"}));
  EXPECT_EQ(errorsOf(std::string("apiVersion: v1\nki\0nd: Pod\n", 26)),
            (Lines{"f.yaml:2:3: file contains a NUL byte"}));
  // An escape can still smuggle a NUL into a value.
  EXPECT_EQ(errorsOf(podWith("  containers: [{name: c, image: i, args: [\"a\\0b\"]}]\n")),
            (Lines{"f.yaml:5:43: spec.containers[0].args[0]: must not contain NUL characters"}));
}

TEST(SpecsErrors, TooManyErrorsAreCapped) {
  std::string content = podWith("  containers: [{name: c, image: i}]\n");
  for (int i = 0; i < 500; ++i) content += "  unknown" + std::to_string(i) + ": 1\n";
  ParseResult r = parseSpecFile("f.yaml", content);
  ASSERT_EQ(r.errors.size(), 201u);
  EXPECT_EQ(r.errors.back().str(), "f.yaml: too many errors; stopped reporting after 200");
}

TEST(SpecsErrors, AliasExpansionIsBounded) {
  // 1000 containers sharing one 2000-item args list through aliases: a 20 KB file that names two
  // million strings. The parser stops walking instead of doing unbounded work.
  std::string content = podWith("  x: &args [");
  for (int i = 0; i < 2000; ++i) content += i ? ",a" : "a";
  content += "]\n  y: &c {image: i, args: *args}\n  containers:\n";
  for (int i = 0; i < 1000; ++i) content += "  - {<<: *c, name: c" + std::to_string(i) + "}\n";
  ParseResult r = parseSpecFile("f.yaml", content);
  ASSERT_FALSE(r.ok());
  bool bounded = false;
  for (const Diagnostic& d : r.errors)
    bounded |= d.message.find("too large once its aliases are expanded") != std::string::npos;
  EXPECT_TRUE(bounded);
}

}  // namespace
}  // namespace boxd::specs
