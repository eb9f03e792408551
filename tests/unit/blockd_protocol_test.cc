// The boxd ↔ boxd-blockd config: round trip, strictness, and that no error carries a secret.
#include <gtest/gtest.h>

#include <functional>

#include "blockd/protocol.h"

namespace boxd::blockd {
namespace {

using nlohmann::json;

Config rbdConfig() {
  Config c;
  c.backend = "rbd";
  c.mountpoint = "/run/boxd/blockd/vol1";
  c.pidFile = "/run/boxd/blockd/vol1.pid";
  c.logFile = "/var/log/boxd/blockd-vol1.log";
  c.connectTimeoutMs = 5000;
  c.ioTimeoutMs = 20000;
  c.threads = 4;
  c.rbd = RbdConfig{"v2:127.0.0.1:3300", "agent", "AQBsecretkey==", "rbd", "img", true, false};
  return c;
}

Config iscsiConfig() {
  Config c;
  c.backend = "iscsi";
  c.mountpoint = "/run/boxd/blockd/t1";
  IscsiConfig i;
  i.portals = {"127.0.0.1:3260", "127.0.0.2:3260"};
  i.iqn = "iqn.2024-01.test:t1";
  i.initiatorName = "iqn.2024-01.test:node";
  i.sessions = 2;
  i.chap = Chap{"user", "chapsecret123", "tgt", "mutualsecret456"};
  i.discoveryChap = Chap{"disc", "discsecret789", "", ""};
  i.discovery = true;
  c.iscsi = i;
  return c;
}

TEST(BlockdProtocol, RbdConfigRoundTrips) {
  Config c = rbdConfig();
  auto back = configFromJson(json::parse(toJson(c).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, c);
}

TEST(BlockdProtocol, IscsiConfigRoundTrips) {
  Config c = iscsiConfig();
  auto back = configFromJson(json::parse(toJson(c).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, c);
}

TEST(BlockdProtocol, MissingOptionalFieldsTakeDefaults) {
  json j = {
      {"backend", "rbd"},
      {"mountpoint", "/m"},
      {"rbd", {{"monHost", "h"}, {"user", "u"}, {"key", "k"}, {"pool", "p"}, {"image", "i"}}}};
  auto c = configFromJson(j);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->connectTimeoutMs, 10000);
  EXPECT_EQ(c->ioTimeoutMs, 30000);
  EXPECT_EQ(c->threads, 8);
  EXPECT_FALSE(c->rbd->readOnly);
  EXPECT_TRUE(c->rbd->exclusive);
  EXPECT_FALSE(c->iscsi.has_value());
}

// Each case: a mutation of a valid config and the field its error must name.
struct BadCase {
  std::string name, field;
  std::function<void(json&)> mutate;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class BlockdProtocolBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(BlockdProtocolBad, ErrorNamesTheFieldAndNoSecret) {
  json j = toJson(rbdConfig());
  GetParam().mutate(j);
  auto c = configFromJson(j);
  ASSERT_FALSE(c.ok());
  const std::string& msg = c.error().message;
  EXPECT_NE(msg.find(GetParam().field), std::string::npos) << msg;
  EXPECT_EQ(msg.find("AQBsecretkey"), std::string::npos) << msg;
  EXPECT_EQ(c.error().code, EINVAL);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BlockdProtocolBad,
    ::testing::Values(
        BadCase{"KeyNotString", "rbd.key", [](json& j) { j["rbd"]["key"] = 42; }},
        BadCase{"KeyMissing", "rbd.key", [](json& j) { j["rbd"].erase("key"); }},
        BadCase{"KeyEmpty", "rbd.key", [](json& j) { j["rbd"]["key"] = ""; }},
        BadCase{"ThreadsString", "threads", [](json& j) { j["threads"] = "8"; }},
        BadCase{"ThreadsZero", "threads", [](json& j) { j["threads"] = 0; }},
        BadCase{"TimeoutFloat", "ioTimeoutMs", [](json& j) { j["ioTimeoutMs"] = 1.5; }},
        BadCase{"ReadOnlyString", "rbd.readOnly", [](json& j) { j["rbd"]["readOnly"] = "yes"; }},
        BadCase{"UnknownField", "rbd.secret", [](json& j) { j["rbd"]["secret"] = "x"; }},
        BadCase{"UnknownTopField", "mountPoint", [](json& j) { j["mountPoint"] = "/x"; }},
        BadCase{"RelativeMountpoint", "mountpoint", [](json& j) { j["mountpoint"] = "rel"; }},
        BadCase{"BackendUnknown", "backend", [](json& j) { j["backend"] = "nbd"; }},
        BadCase{"BackendWithoutSection", "rbd", [](json& j) { j.erase("rbd"); }},
        BadCase{"BothSections", "iscsi",
                [](json& j) { j["iscsi"] = toJson(iscsiConfig())["iscsi"]; }},
        BadCase{"RbdNotObject", "rbd", [](json& j) { j["rbd"] = "AQBsecretkey=="; }},
        BadCase{"NotAnObject", "the config", [](json& j) { j = json::array({"AQBsecretkey"}); }}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return p.param.name; });

TEST(BlockdProtocol, IscsiErrorsNameNestedFieldsWithoutSecrets) {
  json j = toJson(iscsiConfig());
  j["iscsi"]["chap"]["password"] = 7;
  auto c = configFromJson(j);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("iscsi.chap.password"), std::string::npos) << c.error().message;

  j = toJson(iscsiConfig());
  j["iscsi"]["portals"] = json::array({"127.0.0.1:3260", 5});
  c = configFromJson(j);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("iscsi.portals[1]"), std::string::npos) << c.error().message;

  j = toJson(iscsiConfig());
  j["iscsi"]["chap"].erase("passwordIn");
  c = configFromJson(j);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("iscsi.chap"), std::string::npos) << c.error().message;
  for (const char* secret : {"chapsecret123", "mutualsecret456", "discsecret789"}) {
    EXPECT_EQ(c.error().message.find(secret), std::string::npos);
  }
}

TEST(BlockdProtocol, DiscardedParseIsAnError) {
  auto c = configFromJson(json::parse("{not json", nullptr, false));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("expected an object"), std::string::npos);
}

}  // namespace
}  // namespace boxd::blockd
