// resolveSecurity: the container's securityContext over the pod's over boxd's defaults, and the
// "security" object of the shim protocol (absent = the defaults every container had before).
#include "agent/security_context.h"

#include <gtest/gtest.h>

#include "specs/capabilities.h"
#include "specs/parse.h"
#include "tests/support/pod_spec.h"

namespace boxd::agent {
namespace {

using boxd::testing::parsePod;
using reconcilers::ContainerSecurity;
using specs::capabilityBit;
using specs::capabilityNumber;

uint64_t caps(std::initializer_list<const char*> names) {
  uint64_t m = 0;
  for (const char* n : names) m |= capabilityBit(capabilityNumber(n));
  return m;
}

// The effective settings of the pod's first container, given its securityContext (YAML flow).
Result<ContainerSecurity> resolve(const std::string& podContext, const std::string& context) {
  specs::PodSpec pod = parsePod("  securityContext: " + podContext +
                                "\n  containers:\n  - name: c\n    image: busybox\n"
                                "    securityContext: " +
                                context + "\n");
  if (pod.containers.empty()) return makeError("no container");
  return resolveSecurity(pod, pod.containers[0]);
}

TEST(SecurityContext, DefaultsAreWhatEveryContainerHadBefore) {
  auto s = resolve("{}", "{}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, ContainerSecurity{});
  EXPECT_EQ(s->uid, 0u);
  EXPECT_EQ(s->gid, 0u);
  EXPECT_TRUE(s->groups.empty());
  EXPECT_EQ(s->capabilities, specs::kDefaultCapabilities);
  EXPECT_TRUE(s->noNewPrivs);
  EXPECT_FALSE(s->privileged);
  EXPECT_FALSE(s->readOnlyRootfs);
}

TEST(SecurityContext, ContainerValuesOverrideThePods) {
  auto s = resolve("{runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000]}",
                   "{runAsUser: 2000}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->uid, 2000u);
  EXPECT_EQ(s->gid, 3000u) << "the pod's runAsGroup when the container sets none";
  EXPECT_EQ(s->groups, (std::vector<uint32_t>{4000}));
  auto noGroup = resolve("{}", "{runAsUser: 1000}");
  ASSERT_TRUE(noGroup.ok());
  EXPECT_EQ(noGroup->gid, 0u) << "no runAsGroup anywhere: group 0, as Kubernetes documents";
}

TEST(SecurityContext, FsGroupIsASupplementaryGroupOfEveryContainer) {
  auto s = resolve("{fsGroup: 2000, supplementalGroups: [4000, 2000]}", "{runAsUser: 1000}");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->groups, (std::vector<uint32_t>{2000, 4000})) << "fsGroup first, each once";
  EXPECT_EQ(s->gid, 0u) << "not the primary group";
  auto only = resolve("{fsGroup: 0}", "{}");
  ASSERT_TRUE(only.ok());
  EXPECT_EQ(only->groups, (std::vector<uint32_t>{0}));
}

TEST(SecurityContext, CapabilitiesAddAndDrop) {
  auto get = [](const std::string& c) {
    auto s = resolve("{}", "{capabilities: " + c + "}");
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->capabilities : ~uint64_t{0};
  };
  EXPECT_EQ(get("{add: [NET_ADMIN]}"), specs::kDefaultCapabilities | caps({"NET_ADMIN"}));
  EXPECT_EQ(get("{drop: [CHOWN, KILL]}"), specs::kDefaultCapabilities & ~caps({"CHOWN", "KILL"}));
  EXPECT_EQ(get("{drop: [ALL]}"), 0u);
  EXPECT_EQ(get("{drop: [ALL], add: [NET_BIND_SERVICE]}"), caps({"NET_BIND_SERVICE"}))
      << "drop ALL then add X keeps X, whatever the order the lists are written in";
  EXPECT_EQ(get("{add: [ALL], drop: [SYS_ADMIN]}"), specs::kAllCapabilities & ~caps({"SYS_ADMIN"}));
  EXPECT_EQ(get("{add: [NET_RAW], drop: [NET_RAW]}"), specs::kDefaultCapabilities)
      << "a capability in both lists ends dropped";
}

TEST(SecurityContext, PrivilegedGetsEverythingAndNoNoNewPrivs) {
  auto s = resolve("{}", "{privileged: true, capabilities: {drop: [ALL]}}");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->privileged);
  EXPECT_EQ(s->capabilities, specs::kAllCapabilities);
  EXPECT_FALSE(s->noNewPrivs);
  auto escalate = resolve("{}", "{allowPrivilegeEscalation: true}");
  ASSERT_TRUE(escalate.ok());
  EXPECT_FALSE(escalate->noNewPrivs);
  EXPECT_FALSE(escalate->privileged);
  auto strict = resolve("{}", "{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}");
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict->noNewPrivs);
  EXPECT_TRUE(strict->readOnlyRootfs);
}

TEST(SecurityContext, RunAsNonRootRefusesRoot) {
  auto implicitRoot = resolve("{runAsNonRoot: true}", "{}");
  ASSERT_FALSE(implicitRoot.ok());
  EXPECT_EQ(implicitRoot.error().message,
            "runAsNonRoot is set but the image runs as root (it sets no non-root user: set "
            "runAsUser) (pod p, container c)");
  auto explicitRoot = resolve("{runAsUser: 0}", "{runAsNonRoot: true}");
  ASSERT_FALSE(explicitRoot.ok());
  EXPECT_EQ(explicitRoot.error().message,
            "runAsNonRoot is set but runAsUser is 0 (root) (pod p, container c)");
  EXPECT_TRUE(resolve("{runAsNonRoot: true, runAsUser: 1000}", "{}").ok());
  EXPECT_TRUE(resolve("{runAsNonRoot: true}", "{runAsNonRoot: false}").ok())
      << "the container's false overrides the pod's true";
}

TEST(SecurityContext, WireFormRoundTripsAndAbsentMeansDefaults) {
  namespace proto = reconcilers::shimproto;
  ContainerSecurity s;
  s.uid = 1000;
  s.gid = 3000;
  s.groups = {4000, 4294967294u};
  s.capabilities = specs::kAllCapabilities;
  s.privileged = true;
  s.readOnlyRootfs = true;
  s.noNewPrivs = false;
  auto back = proto::securityFromJson(proto::securityToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, s);

  // A start request from a boxd that knew nothing of securityContext.
  auto old = proto::launchFromJson(
      nlohmann::json{{"op", "start"}, {"name", "c"}, {"rootfs", "/r"}, {"argv", {"sh"}}});
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->security, ContainerSecurity{});
  auto partial = proto::securityFromJson(nlohmann::json{{"uid", 5}});
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->uid, 5u);
  EXPECT_EQ(partial->capabilities, specs::kDefaultCapabilities);

  for (const char* bad : {R"({"uid": -1})", R"({"gid": 4294967295})", R"({"groups": [1, "x"]})",
                          R"({"capabilities": -3})", R"({"noNewPrivs": 1})", R"([])"}) {
    EXPECT_FALSE(proto::securityFromJson(nlohmann::json::parse(bad)).ok()) << bad;
  }
}

// The mounts the shim makes in a container's namespace (agent/shim/mounts.h): their wire form.
TEST(ShimProtocol, MountsRoundTripAndARequestWithoutThemStillParses) {
  namespace proto = reconcilers::shimproto;
  reconcilers::ContainerLaunch l;
  l.name = "c";
  l.rootfs = "/r";
  l.argv = {"sh"};
  l.mounts = {{"/var/lib/boxd/pods/u/volumes/e", "sub/dir", "/data", true, true},
              {"/var/lib/boxd/pods/u/etc/hosts", "", "/etc/hosts", false, false}};
  auto back = proto::launchFromJson(proto::startRequest(l));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->mounts, l.mounts);

  auto old = proto::launchFromJson(
      nlohmann::json{{"op", "start"}, {"name", "c"}, {"rootfs", "/r"}, {"argv", {"sh"}}});
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_TRUE(old->mounts.empty());

  struct Bad {
    const char* mounts;
    const char* error;
  } bad[] = {
      {R"({"source": "/v"})", "must be an array"},
      {R"([{"source": "/v"}])", "mounts[0]: missing field \"mountPath\""},
      {R"([{"source": "v", "mountPath": "/m"}])", "must be absolute"},
      {R"([{"source": "/v", "mountPath": "m"}])", "must be absolute"},
      {R"([{"source": "/v", "mountPath": "/m", "subPath": "/etc"}])", "subPath must be relative"},
      {R"([{"source": "/v", "mountPath": "/m", "readOnly": "yes"}])", "must be a boolean"},
      {R"([7])", "must be an object"},
  };
  for (const auto& b : bad) {
    nlohmann::json j = proto::startRequest(l);
    j["mounts"] = nlohmann::json::parse(b.mounts);
    auto r = proto::launchFromJson(j);
    ASSERT_FALSE(r.ok()) << b.mounts;
    EXPECT_NE(r.error().message.find(b.error), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace boxd::agent
