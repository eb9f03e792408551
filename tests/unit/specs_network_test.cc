// Networking fields: container ports, hostNetwork, dnsPolicy, dnsConfig, hostAliases.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/util.h"
#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

TEST(SpecsNetwork, PortsDnsAndAliasesRoundTrip) {
  ParseResult r = parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  dnsPolicy: None
  dnsConfig:
    nameservers: [10.0.0.2, "fd00::53"]
    searches: [corp.example., example]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [db, db.corp.example]}
  containers:
  - name: web
    image: busybox
    ports:
    - {name: http, containerPort: 80, hostPort: 8080}
    - {containerPort: 53, protocol: UDP, hostPort: 5353, hostIP: 127.0.0.1}
    - {containerPort: 9090}
)");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const PodSpec& p = r.pods[0].spec;
  EXPECT_FALSE(p.hostNetwork);
  EXPECT_EQ(p.dnsPolicy, "None");
  ASSERT_TRUE(p.dnsConfig);
  EXPECT_EQ(p.dnsConfig->nameservers, (std::vector<std::string>{"10.0.0.2", "fd00::53"}));
  ASSERT_EQ(p.dnsConfig->options.size(), 2u);
  EXPECT_EQ(p.dnsConfig->options[0].value, "2");
  EXPECT_FALSE(p.dnsConfig->options[1].value);
  ASSERT_EQ(p.hostAliases.size(), 1u);
  EXPECT_EQ(p.hostAliases[0].hostnames[1], "db.corp.example");
  const auto& ports = p.containers[0].ports;
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0].protocol, "TCP") << "TCP is the default";
  EXPECT_EQ(ports[0].hostPort, 8080);
  EXPECT_EQ(ports[1].hostIP, "127.0.0.1");
  EXPECT_EQ(ports[2].hostPort, 0) << "a port without hostPort is not published";
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(SpecsNetwork, DefaultsLeaveTheCanonicalJsonAsBefore) {
  ParseResult r = parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: false
  dnsPolicy: ClusterFirst
  containers: [{name: c, image: busybox}]
)");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  auto j = toJson(r.pods[0].spec);
  EXPECT_FALSE(j.contains("hostNetwork"));
  EXPECT_FALSE(j.contains("dnsPolicy"));
  EXPECT_FALSE(j["containers"][0].contains("ports"));
}

TEST(SpecsNetwork, HostNetworkPod) {
  ParseResult r = parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  containers:
  - {name: c, image: busybox, ports: [{containerPort: 8080, hostPort: 8080}]}
)");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_TRUE(r.pods[0].spec.hostNetwork);
  EXPECT_TRUE(toJson(r.pods[0].spec)["hostNetwork"].get<bool>());
}

TEST(SpecsNetwork, BadDefinitionsAreReportedWithPositionAndPath) {
  auto e = errorsOf(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  hostNetwork: true
  dnsPolicy: ClusterLast
  dnsConfig:
    nameservers: [dns.example]
    searches: [Bad_Domain]
  hostAliases:
  - {ip: 300.1.1.1, hostnames: [x]}
  containers:
  - name: a
    image: busybox
    ports:
    - {containerPort: 0}
    - {containerPort: 80, hostPort: 8080}
    - {containerPort: 81, hostPort: 81, protocol: SCTP}
    - {containerPort: 82, hostPort: 82, hostIP: "::1"}
  - name: b
    image: busybox
    ports:
    - {containerPort: 90, hostPort: 90, protocol: udp}
    - {containerPort: 90, hostPort: 90}
    - {containerPort: 90, hostPort: 90, hostIP: 127.0.0.1}
)");
  std::vector<std::string> want = {
      "f.yaml:6:14: spec.dnsPolicy: must be one of \"ClusterFirst\", \"ClusterFirstWithHostNet\", "
      "\"Default\", \"None\", got \"ClusterLast\"",
      "f.yaml:8:18: spec.dnsConfig.nameservers: must be an IPv4 or IPv6 address, got "
      "\"dns.example\"",
      "f.yaml:9:15: spec.dnsConfig.searches: must be a DNS name (lowercase letters, digits, '-' "
      "and '.', at most 253 characters), got \"Bad_Domain\"",
      "f.yaml:11:10: spec.hostAliases[0].ip: must be an IPv4 or IPv6 address, got \"300.1.1.1\"",
      "f.yaml:16:23: spec.containers[0].ports[0].containerPort: must be a port number from 1 to "
      "65535, got 0",
      "f.yaml:17:37: spec.containers[0].ports[1].hostPort: with hostNetwork the container listens "
      "on the host itself: hostPort must equal containerPort (80), got 8080",
      "f.yaml:18:51: spec.containers[0].ports[2].protocol: SCTP is not supported by boxd; use TCP "
      "or UDP",
      "f.yaml:19:49: spec.containers[0].ports[3].hostIP: must be an IPv4 address, got \"::1\"",
      "f.yaml:23:51: spec.containers[1].ports[0].protocol: must be \"TCP\" or \"UDP\", got "
      "\"udp\"",
      "f.yaml:25:37: spec.containers[1].ports[2].hostPort: hostPort 127.0.0.1:90/TCP is already "
      "published by spec.containers[1].ports[1].hostPort"};
  EXPECT_EQ(e, want);
}

TEST(SpecsNetwork, DnsPolicyNoneNeedsNameservers) {
  auto e = errorsOf(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  dnsPolicy: None
  containers: [{name: c, image: busybox}]
)");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "f.yaml:5:14: spec.dnsPolicy: dnsPolicy \"None\" takes every resolver setting from "
            "spec.dnsConfig, which must list at least one nameserver");
}

}  // namespace
}  // namespace boxd::specs

namespace boxd::specs {
namespace {

// The examples the demo runs are read by the same parser boxd uses.
TEST(Examples, EveryExampleParses) {
  std::string dir = std::string(BOXD_TEST_SOURCE_DIR) + "/examples";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    auto content = readFile(e.path().string());
    ASSERT_TRUE(content.ok()) << content.error().message;
    ParseResult r = parseSpecFile(e.path().filename().string(), *content);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
    ++files;
  }
  EXPECT_GE(files, 3);
  ParseResult web = parseSpecFile("web.yaml", *readFile(dir + "/web.yaml"));
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(web.pods[0].spec.containers[0].ports[0].hostPort, 18080);
}

}  // namespace
}  // namespace boxd::specs
