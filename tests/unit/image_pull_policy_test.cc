// Pull policy, names and pull credentials for pods: Kubernetes' defaults, the two names a
// spec's image is looked up by, a locally imported short name not pulled by default, the
// imagePullPolicy / imagePullSecrets fields read from a manifest (and refused when wrong), and
// the credentials of a pod's Secrets without any secret in the problems reported.
#include "agent/image_pull_policy.h"

#include <gtest/gtest.h>

#include "specs/parse.h"

namespace boxd::agent {
namespace {

specs::Container container(const std::string& image, const std::string& policy = "") {
  specs::Container c;
  c.name = "c";
  c.image = image;
  c.imagePullPolicy = policy;
  return c;
}

TEST(ImagePullPolicy, KubernetesDefaults) {
  EXPECT_EQ(effectivePullPolicy(container("nginx")), PullPolicy::Always);
  EXPECT_EQ(effectivePullPolicy(container("nginx:latest")), PullPolicy::Always);
  EXPECT_EQ(effectivePullPolicy(container("nginx:1.25")), PullPolicy::IfNotPresent);
  EXPECT_EQ(effectivePullPolicy(container("127.0.0.1:5000/app")), PullPolicy::Always);
  EXPECT_EQ(effectivePullPolicy(container("127.0.0.1:5000/app:v1")), PullPolicy::IfNotPresent);
  const std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(effectivePullPolicy(container("app@" + digest)), PullPolicy::IfNotPresent);
  EXPECT_EQ(effectivePullPolicy(container("app:latest@" + digest)), PullPolicy::Always);
  EXPECT_EQ(effectivePullPolicy(container("nginx", "IfNotPresent")), PullPolicy::IfNotPresent);
  EXPECT_EQ(effectivePullPolicy(container("nginx:1.25", "Always")), PullPolicy::Always);
  EXPECT_EQ(effectivePullPolicy(container("nginx:1.25", "Never")), PullPolicy::Never);
}

TEST(ImagePullPolicy, LookupNamesAsWrittenThenNormalised) {
  EXPECT_EQ(imageLookupNames("busybox"),
            (std::vector<std::string>{"busybox:latest", "docker.io/library/busybox:latest"}));
  EXPECT_EQ(imageLookupNames("team/app:2"),
            (std::vector<std::string>{"team/app:2", "docker.io/team/app:2"}));
  EXPECT_EQ(imageLookupNames("127.0.0.1:5000/app:v1"),
            (std::vector<std::string>{"127.0.0.1:5000/app:v1"}));
  const std::string digest = "sha256:" + std::string(64, 'b');
  EXPECT_EQ(imageLookupNames("app@" + digest),
            (std::vector<std::string>{"app@" + digest, "docker.io/library/app@" + digest}));
  EXPECT_TRUE(isNormalisedName("127.0.0.1:5000/app"));
  EXPECT_TRUE(isNormalisedName("docker.io/library/busybox:1"));
  EXPECT_FALSE(isNormalisedName("busybox"));
  EXPECT_FALSE(isNormalisedName("team/app"));
}

TEST(ImagePullPolicy, Decisions) {
  // IfNotPresent and Never use what is there.
  EXPECT_EQ(decidePull(container("a:1"), true, false), PullDecision::UseLocal);
  EXPECT_EQ(decidePull(container("a:1"), false, false), PullDecision::Pull);
  EXPECT_EQ(decidePull(container("a:1", "Never"), false, false), PullDecision::NeverPullMissing);
  EXPECT_EQ(decidePull(container("a", "Never"), true, false), PullDecision::UseLocal);
  // Always pulls, even what is present under its normalised name...
  EXPECT_EQ(decidePull(container("127.0.0.1:5000/app"), true, true), PullDecision::Pull);
  EXPECT_EQ(decidePull(container("busybox"), true, false), PullDecision::Pull);
  // ...but a short name imported by hand is used as is when the policy is left unset.
  EXPECT_EQ(decidePull(container("busybox"), true, true), PullDecision::UseLocal);
  EXPECT_EQ(decidePull(container("busybox", "Always"), true, true), PullDecision::Pull);
  EXPECT_EQ(decidePull(container("busybox"), false, false), PullDecision::Pull);
}

TEST(ImagePullPolicy, Backoff) {
  EXPECT_EQ(nextPullBackoffMs(0), 10000);
  EXPECT_EQ(nextPullBackoffMs(10000), 20000);
  EXPECT_EQ(nextPullBackoffMs(160000), 300000);
  EXPECT_EQ(nextPullBackoffMs(300000), 300000);
}

TEST(ImagePullPolicy, SpecFields) {
  auto r = specs::parseSpecFile("p.yaml",
                                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
                                "  imagePullSecrets:\n  - name: regcred\n  - name: other\n"
                                "  containers:\n  - name: c\n    image: app:v1\n"
                                "    imagePullPolicy: Never\n");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const auto& spec = r.pods[0].spec;
  EXPECT_EQ(spec.imagePullSecrets, (std::vector<std::string>{"regcred", "other"}));
  EXPECT_EQ(spec.containers[0].imagePullPolicy, "Never");
  auto back = specs::fromJson(specs::toJson(spec));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, spec);
  // Unset fields leave the canonical JSON (and so every existing pod's hash) as it was.
  auto plain = specs::parseSpecFile("q.yaml",
                                    "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n"
                                    "  containers:\n  - name: c\n    image: app\n");
  ASSERT_TRUE(plain.ok());
  auto j = specs::toJson(plain.pods[0].spec);
  EXPECT_FALSE(j.contains("imagePullSecrets"));
  EXPECT_FALSE(j["containers"][0].contains("imagePullPolicy"));

  auto bad = specs::parseSpecFile("b.yaml",
                                  "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n"
                                  "  imagePullSecrets:\n  - name: Bad_Name\n"
                                  "  containers:\n  - name: c\n    image: app\n"
                                  "    imagePullPolicy: Sometimes\n");
  ASSERT_FALSE(bad.ok());
  std::string all;
  for (const auto& e : bad.errors) all += e.str() + "\n";
  EXPECT_NE(all.find("spec.containers[0].imagePullPolicy: must be one of"), std::string::npos)
      << all;
  EXPECT_NE(all.find("spec.imagePullSecrets[0].name"), std::string::npos) << all;
}

TEST(ImagePullPolicy, PodKeyringFromSecrets) {
  specs::Secret good;
  good.name = "regcred";
  good.type = "kubernetes.io/dockerconfigjson";
  good.data[".dockerconfigjson"] =
      R"({"auths":{"127.0.0.1:5000":{"username":"u","password":"hunter2-secret"}}})";
  specs::Secret wrongType;
  wrongType.name = "opaque";
  wrongType.data["password"] = "hunter2-secret";
  specs::Secret broken;
  broken.name = "broken";
  broken.type = "kubernetes.io/dockerconfigjson";
  broken.data[".dockerconfigjson"] = R"({"auths":{"x":{"auth":"hunter2-secret"}}})";
  std::map<std::string, specs::Secret> all{
      {"regcred", good}, {"opaque", wrongType}, {"broken", broken}};
  auto kr = podKeyring("default", {"missing", "opaque", "broken", "regcred"}, all);
  ASSERT_EQ(kr.problems.size(), 3u);
  EXPECT_NE(
      kr.problems[0].find("\"missing\" of namespace \"default\" is not in the specs directory"),
      std::string::npos)
      << kr.problems[0];
  for (const auto& p : kr.problems) EXPECT_EQ(p.find("hunter2"), std::string::npos) << p;
  auto ref = images::parseReference("127.0.0.1:5000/app:v1");
  ASSERT_TRUE(ref.ok());
  auto cred = kr.keyring.lookup(*ref);
  ASSERT_TRUE(cred.has_value());
  EXPECT_EQ(cred->username, "u");
}

// A pod's pull secrets are those of its own namespace: the desired state keys them
// "namespace/name" (the bare name in the default namespace), and a Secret of the same name in
// another namespace never stands in.
TEST(ImagePullPolicy, PodKeyringUsesThePodsNamespaceOnly) {
  auto secretFor = [](const std::string& user) {
    specs::Secret s;
    s.name = "regcred";
    s.type = "kubernetes.io/dockerconfigjson";
    s.data[".dockerconfigjson"] =
        R"({"auths":{"127.0.0.1:5000":{"username":")" + user + R"(","password":"p"}}})";
    return s;
  };
  std::map<std::string, specs::Secret> all{{"regcred", secretFor("default-user")},
                                           {"team-a/regcred", secretFor("team-a-user")}};
  auto ref = images::parseReference("127.0.0.1:5000/app:v1");
  ASSERT_TRUE(ref.ok());
  for (const auto& [ns, user] : std::vector<std::pair<std::string, std::string>>{
           {"team-a", "team-a-user"}, {"default", "default-user"}, {"", "default-user"}}) {
    auto kr = podKeyring(ns, {"regcred"}, all);
    EXPECT_TRUE(kr.problems.empty()) << ns;
    auto cred = kr.keyring.lookup(*ref);
    ASSERT_TRUE(cred.has_value()) << ns;
    EXPECT_EQ(cred->username, user) << ns;
  }
  auto other = podKeyring("team-b", {"regcred"}, all);
  EXPECT_FALSE(other.keyring.lookup(*ref).has_value());
  ASSERT_EQ(other.problems.size(), 1u);
  EXPECT_NE(other.problems[0].find("secret \"regcred\" of namespace \"team-b\""), std::string::npos)
      << other.problems[0];
}

}  // namespace
}  // namespace boxd::agent
