// The canonical form: toJson / fromJson round trip, hash stability, image references.
#include <gtest/gtest.h>

#include "specs/parse.h"

namespace boxd::specs {
namespace {

PodSpec parseOne(std::string_view content) {
  ParseResult r = parseSpecFile("p.yaml", content);
  for (const Diagnostic& d : r.errors) ADD_FAILURE() << d.str();
  if (r.pods.size() != 1) {
    ADD_FAILURE() << "expected one pod, got " << r.pods.size();
    return {};
  }
  return r.pods[0].spec;
}

constexpr std::string_view kYaml = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    env: [{name: A, value: "1"}]
    resources:
      limits: {cpu: 500m, memory: 64Mi}
)";

// The same pod: other key order, other quantity spellings, defaults written out, flow style.
constexpr std::string_view kYamlReordered = R"(spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 30
  containers:
  - resources:
      requests: {memory: 67108864, cpu: "0.5"}
      limits: {memory: 65536Ki, cpu: 0.5}
    env:
    - value: "1"
      name: A
    command:
    - sleep
    - '3600'
    image: busybox
    name: main
metadata:
  labels:
    tier: front
    app: web
  name: web
kind: Pod
apiVersion: v1
)";

constexpr std::string_view kJson = R"({"kind": "Pod", "apiVersion": "v1",
  "metadata": {"labels": {"tier": "front", "app": "web"}, "name": "web"},
  "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"],
    "env": [{"name": "A", "value": "1"}],
    "resources": {"limits": {"cpu": "500m", "memory": "0.0625Gi"}}}]}})";

TEST(SpecsPod, SamePodSpelledDifferentlyHasTheSameHash) {
  PodSpec a = parseOne(kYaml);
  PodSpec b = parseOne(kYamlReordered);
  PodSpec c = parseOne(kJson);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(toJson(a).dump(), toJson(b).dump());
  EXPECT_EQ(specHash(a), specHash(b));
  EXPECT_EQ(specHash(a), specHash(c));
  EXPECT_EQ(specHash(a).size(), 64u);
}

TEST(SpecsPod, AnyChangedFieldChangesTheHash) {
  const PodSpec base = parseOne(kYaml);
  const std::string h = specHash(base);
  std::vector<std::pair<std::string, PodSpec>> variants;
  auto vary = [&](const std::string& what, auto&& change) {
    PodSpec p = base;
    change(p);
    variants.emplace_back(what, std::move(p));
  };
  vary("name", [](PodSpec& p) { p.name = "web2"; });
  vary("label", [](PodSpec& p) { p.labels["app"] = "other"; });
  vary("annotation", [](PodSpec& p) { p.annotations["a"] = ""; });
  vary("restart", [](PodSpec& p) { p.restartPolicy = RestartPolicy::Never; });
  vary("hostname", [](PodSpec& p) { p.hostname = "h"; });
  vary("grace", [](PodSpec& p) { p.terminationGracePeriodSeconds = 31; });
  vary("image", [](PodSpec& p) { p.containers[0].image = "busybox:1.36"; });
  vary("command", [](PodSpec& p) { p.containers[0].command.push_back("x"); });
  vary("args", [](PodSpec& p) { p.containers[0].args.push_back("x"); });
  vary("env", [](PodSpec& p) { p.containers[0].env[0].value = "2"; });
  vary("workingDir", [](PodSpec& p) { p.containers[0].workingDir = "/tmp"; });
  vary("cpu", [](PodSpec& p) { p.containers[0].resources.cpuLimitMilli = 501; });
  vary("memory request", [](PodSpec& p) { p.containers[0].resources.memoryRequestBytes = 1; });
  vary("container", [](PodSpec& p) { p.containers.push_back(p.containers[0]); });
  // Moving a string between command and args is a different pod.
  vary("command/args", [](PodSpec& p) {
    p.containers[0].args = {p.containers[0].command.back()};
    p.containers[0].command.pop_back();
  });
  std::set<std::string> seen{h};
  for (const auto& [what, p] : variants) {
    EXPECT_TRUE(seen.insert(specHash(p)).second) << what << " did not change the hash";
  }
}

TEST(SpecsPod, CanonicalJsonHasEveryFieldInAFixedShape) {
  PodSpec p = parseOne(kYaml);
  EXPECT_EQ(
      toJson(p).dump(),
      R"({"annotations":{},"containers":[{"args":[],"command":["sleep","3600"],"env":[{"name":"A","value":"1"}],)"
      R"("image":"busybox","name":"main","resources":{"cpuLimitMilli":500,"cpuRequestMilli":500,)"
      R"("memoryLimitBytes":67108864,"memoryRequestBytes":67108864},"workingDir":""}],"hostname":"",)"
      R"("labels":{"app":"web","tier":"front"},"name":"web","restartPolicy":"Always",)"
      R"("terminationGracePeriodSeconds":30})");
}

TEST(SpecsPod, JsonRoundTrip) {
  PodSpec p = parseOne(kYaml);
  p.annotations["note"] = "ünïcode ✓";
  p.hostname = "h";
  p.restartPolicy = RestartPolicy::OnFailure;
  p.containers.push_back(Container{
      "side", "localhost:5000/a/b:1", {}, {"x"}, {}, "/w", {std::nullopt, 5, 1, std::nullopt}});
  Result<PodSpec> back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
  // Through text, as the state store keeps it.
  Result<PodSpec> fromText = fromJson(nlohmann::json::parse(toJson(p).dump()));
  ASSERT_TRUE(fromText.ok()) << fromText.error().message;
  EXPECT_EQ(specHash(*fromText), specHash(p));
}

TEST(SpecsPod, FromJsonFillsDefaultsAndRejectsWrongTypes) {
  Result<PodSpec> minimal = fromJson(nlohmann::json{{"name", "a"}});
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->terminationGracePeriodSeconds, 30);
  EXPECT_EQ(minimal->restartPolicy, RestartPolicy::Always);

  auto err = [](const nlohmann::json& j) {
    Result<PodSpec> r = fromJson(j);
    return r.ok() ? std::string("ok") : r.error().message;
  };
  EXPECT_EQ(err(nlohmann::json::array()), "decode pod spec: expected a JSON object");
  EXPECT_EQ(err({{"name", 3}}), "decode pod spec: name: expected a string");
  EXPECT_EQ(err({{"restartPolicy", "Sometimes"}}),
            "decode pod spec: restartPolicy: unknown value \"Sometimes\"");
  EXPECT_EQ(err({{"containers", {{{"resources", {{"cpuLimitMilli", "5"}}}}}}}),
            "decode pod spec: cpuLimitMilli: expected an integer or null");
  EXPECT_EQ(err({{"labels", {{"a", 1}}}}), "decode pod spec: labels.a: expected a string");
  EXPECT_EQ(err({{"terminationGracePeriodSeconds", uint64_t{1} << 63}}),
            "decode pod spec: terminationGracePeriodSeconds: expected an integer");
  EXPECT_EQ(err({{"terminationGracePeriodSeconds", 1.5}}),
            "decode pod spec: terminationGracePeriodSeconds: expected an integer");
}

TEST(SpecsPod, RestartPolicyNames) {
  EXPECT_STREQ(toString(RestartPolicy::Always), "Always");
  EXPECT_STREQ(toString(RestartPolicy::OnFailure), "OnFailure");
  EXPECT_STREQ(toString(RestartPolicy::Never), "Never");
}

struct ImageCase {
  std::string ref;
  std::string name;
  std::string tag;
  std::string digest;
  std::string str;
};

TEST(SpecsPod, ImageRefs) {
  const std::string sha = "sha256:" + std::string(64, 'a');
  const ImageCase cases[] = {
      {"busybox", "busybox", "latest", "", "busybox:latest"},
      {"busybox:1.36", "busybox", "1.36", "", "busybox:1.36"},
      {"library/busybox:1.36.1-musl", "library/busybox", "1.36.1-musl", "",
       "library/busybox:1.36.1-musl"},
      {"localhost:5000/x/busybox:1.0", "localhost:5000/x/busybox", "1.0", "",
       "localhost:5000/x/busybox:1.0"},
      {"localhost:5000/x/busybox", "localhost:5000/x/busybox", "latest", "",
       "localhost:5000/x/busybox:latest"},
      {"busybox@" + sha, "busybox", "", sha, "busybox@" + sha},
      {"reg.io:443/busybox:1@" + sha, "reg.io:443/busybox", "1", sha,
       "reg.io:443/busybox:1@" + sha},
  };
  for (const ImageCase& c : cases) {
    ImageRef r = parseImageRef(c.ref);
    EXPECT_EQ(r.name, c.name) << c.ref;
    EXPECT_EQ(r.tag, c.tag) << c.ref;
    EXPECT_EQ(r.digest, c.digest) << c.ref;
    EXPECT_EQ(r.str(), c.str) << c.ref;
  }
}

}  // namespace
}  // namespace boxd::specs
