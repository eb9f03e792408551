#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "images/registry/manifest.h"

namespace boxd::images {
namespace {

using nlohmann::json;

std::string digestOf(char c) { return "sha256:" + std::string(64, c); }

json entry(char c, const std::string& os, const std::string& arch,
           const std::string& variant = "") {
  json p = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) p["variant"] = variant;
  return {{"mediaType", kOciManifest}, {"digest", digestOf(c)}, {"size", 100}, {"platform", p}};
}

Manifest indexOf(const json& entries) {
  json doc = {{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", entries}};
  return parseManifest(doc.dump(), "", "test").value();
}

TEST(RegistryManifest, ParsesBothImageManifestKinds) {
  for (const char* type : {kOciManifest, kDockerManifest}) {
    json doc = {
        {"schemaVersion", 2},
        {"mediaType", type},
        {"config", {{"mediaType", "x"}, {"digest", digestOf('c')}, {"size", 10}}},
        {"layers", json::array({{{"mediaType", "l"}, {"digest", digestOf('1')}, {"size", 5}}})}};
    auto m = parseManifest(doc.dump(), type, "m");
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ(m->kind, ManifestKind::Image);
    EXPECT_EQ(m->mediaType, type);
    EXPECT_EQ(m->config.digest, digestOf('c'));
    ASSERT_EQ(m->layers.size(), 1u);
    EXPECT_EQ(m->layers[0].size, 5);
  }
}

TEST(RegistryManifest, RefusesSchema1AndBadDescriptors) {
  json s1 = {{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", json::array()}};
  auto m =
      parseManifest(s1.dump(), "application/vnd.docker.distribution.manifest.v1+prettyjws", "m");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("schema 1"), std::string::npos);
  EXPECT_FALSE(parseManifest(s1.dump(), "application/json", "m").ok());
  json bad = {{"schemaVersion", 2},
              {"mediaType", kOciManifest},
              {"config", {{"digest", "sha512:abc"}, {"size", 1}}},
              {"layers", json::array()}};
  EXPECT_FALSE(parseManifest(bad.dump(), "", "m").ok());
  EXPECT_FALSE(parseManifest("not json", "", "m").ok());
}

TEST(RegistryPlatform, PicksTheHostPlatformFromAnIndex) {
  Manifest idx =
      indexOf(json::array({entry('1', "linux", "arm64", "v8"), entry('2', "linux", "amd64"),
                           entry('3', "windows", "amd64"), entry('4', "unknown", "unknown")}));
  EXPECT_EQ(idx.kind, ManifestKind::Index);
  auto d = selectPlatform(idx, {"linux", "amd64", ""}, "i");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->digest, digestOf('2'));
  EXPECT_EQ(selectPlatform(idx, {"linux", "arm64", "v8"}, "i")->digest, digestOf('1'));
}

TEST(RegistryPlatform, VariantRules) {
  Manifest arm =
      indexOf(json::array({entry('5', "linux", "arm", "v5"), entry('6', "linux", "arm", "v6"),
                           entry('7', "linux", "arm", "v7")}));
  EXPECT_EQ(selectPlatform(arm, {"linux", "arm", "v7"}, "i")->digest, digestOf('7'));
  EXPECT_EQ(selectPlatform(arm, {"linux", "arm", "v6"}, "i")->digest, digestOf('6'));
  Manifest old = indexOf(json::array({entry('6', "linux", "arm", "v6")}));
  EXPECT_EQ(selectPlatform(old, {"linux", "arm", "v7"}, "i")->digest, digestOf('6'));
  EXPECT_FALSE(selectPlatform(indexOf(json::array({entry('7', "linux", "arm", "v7")})),
                              {"linux", "arm", "v6"}, "i")
                   .ok());
  Manifest arm64 = indexOf(json::array({entry('a', "linux", "arm64")}));
  EXPECT_EQ(selectPlatform(arm64, {"linux", "arm64", "v8"}, "i")->digest, digestOf('a'));
  Manifest amd = indexOf(
      json::array({entry('b', "linux", "amd64", "v3"), entry('c', "linux", "amd64", "v1")}));
  EXPECT_EQ(selectPlatform(amd, {"linux", "amd64", ""}, "i")->digest, digestOf('c'));
}

TEST(RegistryPlatform, NoMatchListsWhatTheIndexHas) {
  Manifest idx =
      indexOf(json::array({entry('1', "linux", "arm64", "v8"), entry('3', "linux", "s390x"),
                           entry('4', "unknown", "unknown")}));
  auto d = selectPlatform(idx, {"linux", "amd64", ""}, "manifest x");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message,
            "manifest x: no match for platform linux/amd64 (the index has linux/arm64/v8, "
            "linux/s390x)");
}

TEST(RegistryPlatform, HostIsLinux) {
  Platform p = hostPlatform();
  EXPECT_EQ(p.os, "linux");
  EXPECT_FALSE(p.architecture.empty());
#if defined(__x86_64__)
  EXPECT_EQ(p.architecture, "amd64");
#endif
}

}  // namespace
}  // namespace boxd::images
