// boxd.yaml's images: section (the registries' settings).
#include <gtest/gtest.h>

#include "agent/config.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

TEST(RegistryConfig, ImagesSection) {
  TempDir t;
  Config cfg;
  EXPECT_EQ(cfg.images.certsDir, "/etc/boxd/certs.d");
  EXPECT_EQ(cfg.images.authFile, "");
  ASSERT_TRUE(writeFileAtomic(t / "boxd.yaml",
                              "images:\n"
                              "  authFile: /etc/boxd/auth.json\n"
                              "  certsDir: /etc/docker/certs.d\n"
                              "  insecureRegistries: [registry.lan:5000, \"http://10.0.0.9/\"]\n"
                              "  mirrors:\n"
                              "    docker.io: [\"https://mirror.example.com\", cache.lan:5000]\n")
                  .ok());
  Status st = loadConfigFile(t / "boxd.yaml", cfg);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(cfg.images.authFile, "/etc/boxd/auth.json");
  EXPECT_EQ(cfg.images.certsDir, "/etc/docker/certs.d");
  EXPECT_EQ(cfg.images.insecureRegistries,
            (std::vector<std::string>{"registry.lan:5000", "10.0.0.9"}));
  EXPECT_EQ(cfg.images.mirrors["docker.io"],
            (std::vector<std::string>{"mirror.example.com", "cache.lan:5000"}));
}

TEST(RegistryConfig, BadImagesKeysNameTheKey) {
  TempDir t;
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"images:\n  authfile: x\n", "unknown key \"images.authfile\""},
           {"images:\n  insecureRegistries: reg:5000\n", "must be a list"},
           {"images:\n  mirrors:\n    docker.io: [\"a b\"]\n", "images.mirrors.docker.io"},
           {"images:\n  mirrors: [x]\n", "images.mirrors must map"}}) {
    ASSERT_TRUE(writeFileAtomic(t / "boxd.yaml", yaml).ok());
    Config cfg;
    Status st = loadConfigFile(t / "boxd.yaml", cfg);
    ASSERT_FALSE(st.ok()) << yaml;
    EXPECT_NE(st.error().message.find(want), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("boxd.yaml:"), std::string::npos) << st.error().message;
  }
}

}  // namespace
}  // namespace boxd::agent
