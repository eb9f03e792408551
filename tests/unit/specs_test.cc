// Spec files that parse: YAML and JSON, multi-document files, defaults, normalization.
#include <gtest/gtest.h>

#include "specs/parse.h"

namespace boxd::specs {
namespace {

std::string joinErrors(const ParseResult& r) {
  std::string s;
  for (const Diagnostic& d : r.errors) s += d.str() + "\n";
  return s;
}

ParseResult parseOk(std::string_view content, size_t pods = 1) {
  ParseResult r = parseSpecFile("pod.yaml", content);
  EXPECT_TRUE(r.ok()) << joinErrors(r);
  EXPECT_EQ(r.pods.size(), pods) << joinErrors(r);
  return r;
}

constexpr std::string_view kFullYaml = R"(# a comment
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels:
    app: web
    example.com/tier: front
  annotations:
    note: "anything goes here: even spaces"
spec:
  hostname: web-host
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: busybox:1.36
    command: ["/bin/sh", "-c"]
    args:
    - echo hello; sleep 3600
    workingDir: /srv
    env:
    - name: GREETING
      value: hello world
    - name: EMPTY
    resources:
      limits:
        cpu: 500m
        memory: 64Mi
      requests:
        cpu: 0.25
        memory: 32M
  - name: sidecar
    image: localhost:5000/tools/busybox
)";

TEST(SpecsParse, FullPodYaml) {
  ParseResult r = parseOk(kFullYaml);
  ASSERT_EQ(r.pods.size(), 1u);
  const PodSpec& p = r.pods[0].spec;
  EXPECT_EQ(r.pods[0].line, 2);
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.labels,
            (std::map<std::string, std::string>{{"app", "web"}, {"example.com/tier", "front"}}));
  EXPECT_EQ(p.annotations.at("note"), "anything goes here: even spaces");
  EXPECT_EQ(p.hostname, "web-host");
  EXPECT_EQ(p.restartPolicy, RestartPolicy::OnFailure);
  EXPECT_EQ(p.terminationGracePeriodSeconds, 5);
  ASSERT_EQ(p.containers.size(), 2u);
  const Container& c = p.containers[0];
  EXPECT_EQ(c.name, "main");
  EXPECT_EQ(c.image, "busybox:1.36");
  EXPECT_EQ(c.command, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(c.args, (std::vector<std::string>{"echo hello; sleep 3600"}));
  EXPECT_EQ(c.workingDir, "/srv");
  EXPECT_EQ(c.env, (std::vector<EnvVar>{{"GREETING", "hello world"}, {"EMPTY", ""}}));
  EXPECT_EQ(c.resources.cpuLimitMilli, 500);
  EXPECT_EQ(c.resources.cpuRequestMilli, 250);
  EXPECT_EQ(c.resources.memoryLimitBytes, 64 * 1024 * 1024);
  EXPECT_EQ(c.resources.memoryRequestBytes, 32'000'000);
  EXPECT_EQ(p.containers[1].image, "localhost:5000/tools/busybox");
  EXPECT_EQ(p.containers[1].resources, Resources{});
}

TEST(SpecsParse, DefaultsForAMinimalPod) {
  ParseResult r = parseOk(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: "
      "busybox}]}\n");
  const PodSpec& p = r.pods[0].spec;
  EXPECT_EQ(p.restartPolicy, RestartPolicy::Always);
  EXPECT_EQ(p.terminationGracePeriodSeconds, 30);
  EXPECT_EQ(p.hostname, "");
  EXPECT_TRUE(p.labels.empty());
  EXPECT_TRUE(p.containers[0].command.empty());
  EXPECT_EQ(p.containers[0].workingDir, "");
  EXPECT_FALSE(p.containers[0].resources.cpuLimitMilli.has_value());
}

TEST(SpecsParse, RequestsDefaultToLimitsLikeKubernetes) {
  ParseResult r = parseOk(R"(apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers:
  - name: c
    image: busybox
    resources: {limits: {cpu: 2, memory: 1Gi}, requests: {memory: 100Mi}}
)");
  const Resources& res = r.pods[0].spec.containers[0].resources;
  EXPECT_EQ(res.cpuLimitMilli, 2000);
  EXPECT_EQ(res.cpuRequestMilli, 2000);
  EXPECT_EQ(res.memoryLimitBytes, int64_t{1} << 30);
  EXPECT_EQ(res.memoryRequestBytes, 100 * 1024 * 1024);
}

TEST(SpecsParse, JsonSpec) {
  ParseResult r = parseOk(R"({
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "j", "labels": {"a": "1"}},
  "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["1", "two"],
                           "resources": {"limits": {"cpu": 0.5, "memory": 1e6}}}],
           "terminationGracePeriodSeconds": 0}
})");
  const PodSpec& p = r.pods[0].spec;
  EXPECT_EQ(p.name, "j");
  EXPECT_EQ(p.labels.at("a"), "1");
  EXPECT_EQ(p.containers[0].args, (std::vector<std::string>{"1", "two"}));
  EXPECT_EQ(p.containers[0].resources.cpuLimitMilli, 500);
  EXPECT_EQ(p.containers[0].resources.memoryLimitBytes, 1'000'000);
  EXPECT_EQ(p.terminationGracePeriodSeconds, 0);
}

TEST(SpecsParse, MultiDocumentFileSkipsEmptyDocuments) {
  ParseResult r = parseOk(R"(---
---
# only a comment
---
apiVersion: v1
kind: Pod
metadata: {name: one}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec: {containers: [{name: c, image: busybox}]}
...
)",
                          2);
  ASSERT_EQ(r.pods.size(), 2u);
  EXPECT_EQ(r.pods[0].spec.name, "one");
  EXPECT_EQ(r.pods[0].line, 5);
  EXPECT_EQ(r.pods[1].spec.name, "two");
  EXPECT_EQ(r.pods[1].line, 10);
}

TEST(SpecsParse, EmptyFilesHaveNoPodsAndNoErrors) {
  for (std::string_view content : {"", "\n\n", "# nothing\n", "---\n", "---\n...\n"}) {
    ParseResult r = parseSpecFile("empty.yaml", content);
    EXPECT_TRUE(r.ok()) << joinErrors(r);
    EXPECT_TRUE(r.pods.empty()) << content;
  }
}

TEST(SpecsParse, GoodDocumentsSurviveABadOne) {
  ParseResult r = parseSpecFile("m.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: good}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec: {containers: []}
)");
  ASSERT_EQ(r.pods.size(), 1u);
  EXPECT_EQ(r.pods[0].spec.name, "good");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), "m.yaml:9:20: spec.containers: must list at least one container");
}

TEST(SpecsParse, AnchorsAliasesAndMergeKeys) {
  ParseResult r = parseOk(R"(apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers:
  - &base
    name: one
    image: busybox
    env: &env [{name: A, value: a}]
  - <<: *base
    name: two
    env: *env
)");
  const PodSpec& p = r.pods[0].spec;
  ASSERT_EQ(p.containers.size(), 2u);
  EXPECT_EQ(p.containers[1].name, "two");
  EXPECT_EQ(p.containers[1].image, "busybox");
  EXPECT_EQ(p.containers[1].env, p.containers[0].env);
}

TEST(SpecsParse, GeneratedManifestNoiseThatAsksForNothingIsAccepted) {
  // What `kubectl run --dry-run=client -o yaml` writes.
  ParseResult r = parseOk(R"(apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels: {run: x}
  name: x
spec:
  containers:
  - image: busybox
    name: x
    resources: {}
    ports: []
  hostNetwork: false
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
)");
  EXPECT_EQ(r.pods[0].spec.labels.at("run"), "x");
}

TEST(SpecsParse, QuotedScalarsAreStringsAndTaggedStrings) {
  ParseResult r = parseOk(R"(apiVersion: v1
kind: Pod
metadata:
  name: a
  labels: {enabled: "true", n: '3', t: !!str yes, empty:}
spec: {containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]}
)");
  const PodSpec& p = r.pods[0].spec;
  EXPECT_EQ(p.labels.at("enabled"), "true");
  EXPECT_EQ(p.labels.at("n"), "3");
  EXPECT_EQ(p.labels.at("t"), "yes");
  EXPECT_EQ(p.labels.at("empty"), "");
}

TEST(SpecsParse, Utf8ByteOrderMarkAndUnicodeValues) {
  ParseResult r = parseOk(
      "\xEF\xBB\xBF"
      R"(apiVersion: v1
kind: Pod
metadata: {name: a, annotations: {note: "héllo ✓ 🚀"}}
spec: {containers: [{name: c, image: busybox, env: [{name: "ÜBER", value: "日本"}]}]}
)");
  EXPECT_EQ(r.pods[0].spec.annotations.at("note"), "héllo ✓ 🚀");
  EXPECT_EQ(r.pods[0].spec.containers[0].env[0].value, "日本");
}

TEST(SpecsParse, Dns1123Label) {
  EXPECT_TRUE(isDns1123Label("a"));
  EXPECT_TRUE(isDns1123Label("web-1"));
  EXPECT_TRUE(isDns1123Label("0abc"));
  EXPECT_TRUE(isDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(isDns1123Label(std::string(64, 'a')));
  EXPECT_FALSE(isDns1123Label(""));
  EXPECT_FALSE(isDns1123Label("-a"));
  EXPECT_FALSE(isDns1123Label("a-"));
  EXPECT_FALSE(isDns1123Label("Web"));
  EXPECT_FALSE(isDns1123Label("a.b"));
  EXPECT_FALSE(isDns1123Label("a_b"));
}

TEST(SpecsParse, DiagnosticStrOmitsMissingParts) {
  EXPECT_EQ((Diagnostic{"web.yaml", 12, 9, "spec.containers[1].image", "required field is missing"})
                .str(),
            "web.yaml:12:9: spec.containers[1].image: required field is missing");
  EXPECT_EQ((Diagnostic{"web.yaml", 12, 0, "", "bad"}).str(), "web.yaml:12: bad");
  EXPECT_EQ((Diagnostic{"web.yaml", 0, 0, "", "too big"}).str(), "web.yaml: too big");
  EXPECT_EQ((Diagnostic{"", 3, 4, "kind", "x"}).str(), "3:4: kind: x");
  EXPECT_EQ((Diagnostic{"", 0, 0, "", "x"}).str(), "x");
}

}  // namespace
}  // namespace boxd::specs
