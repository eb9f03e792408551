#include <gtest/gtest.h>

#include <vector>

#include "images/registry/reference.h"

namespace boxd::images {
namespace {

std::string norm(const std::string& text) {
  auto r = parseReference(text);
  return r.ok() ? r->str() : "ERROR: " + r.error().message;
}

const std::string kHex(64, 'a');

TEST(RegistryReference, ShortNamesGoToDockerHubLibrary) {
  EXPECT_EQ(norm("nginx"), "docker.io/library/nginx:latest");
  EXPECT_EQ(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
  EXPECT_EQ(norm("user/app"), "docker.io/user/app:latest");
  EXPECT_EQ(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
  EXPECT_EQ(norm("index.docker.io/library/nginx:1"), "docker.io/library/nginx:1");
  EXPECT_EQ(norm("a/b/c"), "docker.io/a/b/c:latest");
}

TEST(RegistryReference, HostsPortsAndLocalhost) {
  EXPECT_EQ(norm("quay.io/org/app:v1"), "quay.io/org/app:v1");
  EXPECT_EQ(norm("localhost/app"), "localhost/app:latest");
  EXPECT_EQ(norm("localhost:5000/app:v2"), "localhost:5000/app:v2");
  EXPECT_EQ(norm("127.0.0.1:5000/team/app"), "127.0.0.1:5000/team/app:latest");
  EXPECT_EQ(norm("[::1]:5000/app"), "[::1]:5000/app:latest");
  auto r = parseReference("registry.example.com:5000/team/app:1.0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->domain, "registry.example.com:5000");
  EXPECT_EQ(r->path, "team/app");
  EXPECT_EQ(r->tag, "1.0");
  EXPECT_EQ(r->apiHost(), "registry.example.com:5000");
  EXPECT_EQ(parseReference("nginx")->apiHost(), "registry-1.docker.io");
}

TEST(RegistryReference, DigestsWinOverTags) {
  EXPECT_EQ(norm("nginx@sha256:" + kHex), "docker.io/library/nginx@sha256:" + kHex);
  auto r = parseReference("localhost:5000/app:v1@sha256:" + kHex);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "");
  EXPECT_EQ(r->digest, "sha256:" + kHex);
  EXPECT_EQ(r->manifestRef(), "sha256:" + kHex);
}

TEST(RegistryReference, RefusesWhatContainerdRefuses) {
  for (const std::string& bad :
       std::vector<std::string>{"", "Nginx", "docker.io/Library/x", "app:", "app:-x", "a//b",
                                "app@sha256:abc", "app@md5:" + kHex, kHex, "app/", "-app",
                                "app:" + std::string(129, 'x'), "reg:port/app", "a..b"}) {
    EXPECT_FALSE(parseReference(bad).ok()) << bad;
  }
  EXPECT_NE(norm("app@sha256:abc").find("sha256:"), std::string::npos);
  EXPECT_TRUE(parseReference("my_app__x.y-z---w").ok());
}

TEST(RegistryReference, LoopbackHosts) {
  EXPECT_TRUE(isLoopbackHost("127.0.0.1:5000"));
  EXPECT_TRUE(isLoopbackHost("127.9.8.7"));
  EXPECT_TRUE(isLoopbackHost("localhost:5000"));
  EXPECT_TRUE(isLoopbackHost("[::1]:5000"));
  EXPECT_FALSE(isLoopbackHost("128.0.0.1:5000"));
  EXPECT_FALSE(isLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(isLoopbackHost("docker.io"));
}

}  // namespace
}  // namespace boxd::images
