#include <gtest/gtest.h>

#include "images/registry/credentials.h"

namespace boxd::images {
namespace {

Reference ref(const std::string& text) { return parseReference(text).value(); }

std::string authOf(const std::string& user, const std::string& pass) {
  return base64Encode(user + ":" + pass);
}

TEST(RegistryCredentials, DockerConfigJsonWithAuthAndUsernamePassword) {
  std::string cfg = R"({"auths": {
    "https://index.docker.io/v1/": {"auth": ")" +
                    authOf("hubuser", "hub:pass") + R"("},
    "registry.example.com:5000": {"username": "u2", "password": "p2"},
    "registry.example.com:5000/team": {"auth": ")" +
                    authOf("teamuser", "tp") + R"("},
    "*.corp.example": {"auth": ")" +
                    authOf("corp", "cp") + R"("}}})";
  auto ring =
      keyringFromSecret("regcred", "kubernetes.io/dockerconfigjson", {{".dockerconfigjson", cfg}});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  auto hub = ring->lookup(ref("nginx"));
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "hubuser");
  EXPECT_EQ(hub->password, "hub:pass");  // split at the first colon only
  EXPECT_EQ(hub->source, "secret regcred (.dockerconfigjson)");
  EXPECT_EQ(ring->lookup(ref("registry.example.com:5000/team/app"))->username, "teamuser");
  EXPECT_EQ(ring->lookup(ref("registry.example.com:5000/other/app"))->username, "u2");
  EXPECT_FALSE(ring->lookup(ref("registry.example.com/team/app")));  // the port must match
  EXPECT_EQ(ring->lookup(ref("r.corp.example/app"))->username, "corp");
  EXPECT_FALSE(ring->lookup(ref("a.b.corp.example/app")));  // '*' is one label
  EXPECT_FALSE(ring->lookup(ref("quay.io/app")));
  EXPECT_EQ(ring->lookupHost("registry.example.com:5000")->username, "u2");
}

TEST(RegistryCredentials, LegacyDockercfg) {
  std::string cfg =
      R"({"localhost:5000": {"auth": ")" + authOf("a", "b") + R"(", "email": "x@y"}})";
  auto ring = keyringFromSecret("old", "kubernetes.io/dockercfg", {{".dockercfg", cfg}});
  ASSERT_TRUE(ring.ok()) << ring.error().message;
  EXPECT_EQ(ring->lookup(ref("localhost:5000/app"))->password, "b");
}

TEST(RegistryCredentials, ErrorsNeverShowSecrets) {
  const std::string secret = "s3cr3t-Value";
  auto broken = parseDockerConfig(R"({"auths": {"r.io": {"auth": ")" + secret + R"(!"}}})", false,
                                  "auth.json");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().message.find(secret), std::string::npos) << broken.error().message;
  EXPECT_NE(broken.error().message.find("r.io"), std::string::npos);
  auto notJson =
      parseDockerConfig(R"({"auths": {"r.io": {"password": ")" + secret + "}", false, "auth.json");
  ASSERT_FALSE(notJson.ok());
  EXPECT_EQ(notJson.error().message.find(secret), std::string::npos) << notJson.error().message;
  auto wrongType = keyringFromSecret("s", "Opaque", {{".dockerconfigjson", "{}"}});
  ASSERT_FALSE(wrongType.ok());
  EXPECT_NE(wrongType.error().message.find("kubernetes.io/dockerconfigjson"), std::string::npos);
  EXPECT_FALSE(keyringFromSecret("s", "kubernetes.io/dockerconfigjson", {}).ok());
  EXPECT_FALSE(
      parseDockerConfig(R"({"auths": {"r.io": {"auth": ")" + base64Encode("nocolon") + R"("}}})",
                        false, "f")
          .ok());
}

TEST(RegistryCredentials, MissingAuthFileIsEmpty) {
  auto ring = loadAuthFile("/nonexistent/boxd-auth.json");
  ASSERT_TRUE(ring.ok());
  EXPECT_TRUE(ring->empty());
}

TEST(RegistryCredentials, Base64) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("user:pass"), "dXNlcjpwYXNz");
}

TEST(RegistryChallenge, BearerWithQuotedParameters) {
  auto cs =
      parseChallenges(R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
                      R"(scope="repository:library/nginx:pull,push")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "Bearer");
  EXPECT_EQ(cs[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(cs[0].param("service"), "registry.docker.io");
  EXPECT_EQ(cs[0].param("scope"), "repository:library/nginx:pull,push");
}

TEST(RegistryChallenge, BasicAndSeveralChallenges) {
  auto cs =
      parseChallenges(R"(basic realm="Registry Realm", Bearer realm=https://t/x, ERROR="a\"b")");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].scheme, "Basic");
  EXPECT_EQ(cs[0].param("realm"), "Registry Realm");
  EXPECT_EQ(cs[1].scheme, "Bearer");
  EXPECT_EQ(cs[1].param("realm"), "https://t/x");
  EXPECT_EQ(cs[1].param("error"), "a\"b");
  EXPECT_TRUE(parseChallenges("").empty());
}

}  // namespace
}  // namespace boxd::images
