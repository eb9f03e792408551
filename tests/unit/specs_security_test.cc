// securityContext: parsing at pod and container level, canonical JSON, and every bad value
// reported with file:line:column and its field path.
#include <gtest/gtest.h>

#include "specs/capabilities.h"
#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

TEST(SpecsSecurity, PodAndContainerFieldsAreRead) {
  ParseResult r = parseSpecFile("f.yaml", podWith(R"(  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    runAsNonRoot: true
    supplementalGroups: [4000, 5000, 4000]
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: c
    image: busybox
    securityContext:
      runAsUser: 2000
      runAsNonRoot: false
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities:
        add: [NET_ADMIN, CAP_SYS_TIME, net_raw]
        drop: [all]
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const PodSpec& p = r.pods[0].spec;
  EXPECT_EQ(p.securityContext.runAsUser, 1000);
  EXPECT_EQ(p.securityContext.runAsGroup, 3000);
  EXPECT_EQ(p.securityContext.runAsNonRoot, true);
  EXPECT_EQ(p.securityContext.supplementalGroups, (std::vector<int64_t>{4000, 5000}));
  const SecurityContext& c = p.containers[0].securityContext;
  EXPECT_EQ(c.runAsUser, 2000);
  EXPECT_FALSE(c.runAsGroup.has_value());
  EXPECT_EQ(c.runAsNonRoot, false);
  EXPECT_EQ(c.readOnlyRootFilesystem, true);
  EXPECT_EQ(c.allowPrivilegeEscalation, false);
  EXPECT_FALSE(c.privileged.has_value());
  EXPECT_EQ(c.capabilities.add, (Lines{"NET_ADMIN", "SYS_TIME", "NET_RAW"}));
  EXPECT_EQ(c.capabilities.drop, (Lines{"ALL"}));
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(SpecsSecurity, AnEmptyContextKeepsTheHashOfAPodWithout) {
  std::string plain = podWith("  containers:\n  - {name: c, image: busybox}\n");
  std::string empty = podWith(
      "  securityContext: {}\n  containers:\n  - {name: c, image: busybox, securityContext: {}}\n");
  ParseResult a = parseSpecFile("a.yaml", plain);
  ParseResult b = parseSpecFile("b.yaml", empty);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(specHash(a.pods[0].spec), specHash(b.pods[0].spec));
  EXPECT_FALSE(toJson(a.pods[0].spec).contains("securityContext"));
  ParseResult c = parseSpecFile(
      "c.yaml", podWith("  containers:\n  - {name: c, image: busybox, securityContext: "
                        "{runAsUser: 1}}\n"));
  ASSERT_TRUE(c.ok());
  EXPECT_NE(specHash(a.pods[0].spec), specHash(c.pods[0].spec));
}

TEST(SpecsSecurity, CapabilitySpellingsGiveTheSameHash) {
  auto hashOf = [](std::string_view caps) {
    ParseResult r = parseSpecFile(
        "f.yaml", podWith("  containers:\n  - name: c\n    image: busybox\n    securityContext:\n"
                          "      capabilities: {add: " +
                          std::string(caps) + "}\n"));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.errors[0].str());
    return r.ok() ? specHash(r.pods[0].spec) : "";
  };
  EXPECT_EQ(hashOf("[NET_ADMIN]"), hashOf("[CAP_NET_ADMIN]"));
  EXPECT_EQ(hashOf("[NET_ADMIN]"), hashOf("[net_admin, NET_ADMIN]"));
}

TEST(SpecsSecurity, BadValuesAreReportedWithPositionAndPath) {
  auto e = errorsOf(podWith(R"(  securityContext:
    runAsUser: -1
    supplementalGroups: [1, 2147483648]
    fsGroup: -5
    seLinuxOptions: {level: "s0:c1"}
  containers:
  - name: c
    image: busybox
    securityContext:
      runAsGroup: "10"
      privileged: yes please
      capabilities:
        add: [NET_ADMIM, 12]
        keep: [CHOWN]
      procMount: Unmasked
      seccompProfile: {type: Unconfined}
)"));
  EXPECT_EQ(e, (Lines{
                   "f.yaml:6:16: spec.securityContext.runAsUser: must be a user or group id "
                   "between 0 and 2147483647, got -1",
                   "f.yaml:7:29: spec.securityContext.supplementalGroups[1]: must be a user or "
                   "group id between 0 and 2147483647, got 2147483648",
                   "f.yaml:8:14: spec.securityContext.fsGroup: must be a user or group id between "
                   "0 and 2147483647, got -5",
                   "f.yaml:9:5: spec.securityContext.seLinuxOptions: field is not supported by "
                   "boxd yet",
                   "f.yaml:14:19: spec.containers[0].securityContext.runAsGroup: must be an "
                   "integer, got a string",
                   "f.yaml:15:19: spec.containers[0].securityContext.privileged: must be true or "
                   "false, got a string",
                   "f.yaml:17:15: spec.containers[0].securityContext.capabilities.add[0]: unknown "
                   "capability \"NET_ADMIM\"; use a name from capabilities(7) without CAP_, such "
                   "as NET_ADMIN, or ALL",
                   "f.yaml:17:26: spec.containers[0].securityContext.capabilities.add[1]: must be "
                   "a string, got a number; quote it: \"12\"",
                   "f.yaml:18:9: spec.containers[0].securityContext.capabilities.keep: unknown "
                   "field",
                   "f.yaml:19:7: spec.containers[0].securityContext.procMount: field is not "
                   "supported by boxd yet",
                   "f.yaml:20:30: spec.containers[0].securityContext.seccompProfile.type: seccomp "
                   "profile \"Unconfined\" is not supported by boxd yet; only \"RuntimeDefault\" "
                   "(boxd's own filter) is",
               }));
}

TEST(SpecsSecurity, FsGroupAndItsChangePolicy) {
  ParseResult r = parseSpecFile("f.yaml", podWith(R"(  securityContext:
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
  containers:
  - {name: c, image: busybox}
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const PodSecurityContext& sc = r.pods[0].spec.securityContext;
  EXPECT_EQ(sc.fsGroup, 2000);
  EXPECT_EQ(sc.fsGroupChangePolicy, "OnRootMismatch");
  EXPECT_TRUE(sc.fsGroupOnRootMismatch());
  auto back = fromJson(toJson(r.pods[0].spec));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, r.pods[0].spec);
  EXPECT_EQ(toJson(r.pods[0].spec)["securityContext"],
            (nlohmann::json{{"fsGroup", 2000}, {"fsGroupChangePolicy", "OnRootMismatch"}}));

  // Another fsGroup is another pod; Always is the default.
  auto specOf = [](const std::string& context) {
    ParseResult p = parseSpecFile("f.yaml", podWith("  securityContext: " + context +
                                                    "\n  containers:\n"
                                                    "  - {name: c, image: busybox}\n"));
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.errors[0].str());
    return p.ok() ? p.pods[0].spec : PodSpec{};
  };
  EXPECT_NE(specHash(specOf("{fsGroup: 2000}")), specHash(specOf("{fsGroup: 2001}")));
  EXPECT_NE(specHash(specOf("{fsGroup: 2000}")), specHash(specOf("{}")));
  EXPECT_FALSE(specOf("{fsGroup: 0}").securityContext.fsGroupOnRootMismatch());
  EXPECT_FALSE(
      specOf("{fsGroup: 0, fsGroupChangePolicy: Always}").securityContext.fsGroupOnRootMismatch());

  auto e = errorsOf(podWith(R"(  securityContext:
    fsGroup: "2000"
    fsGroupChangePolicy: onrootmismatch
  containers:
  - {name: c, image: busybox}
)"));
  EXPECT_EQ(e, (Lines{
                   "f.yaml:6:14: spec.securityContext.fsGroup: must be an integer, got a string",
                   "f.yaml:7:26: spec.securityContext.fsGroupChangePolicy: must be one of "
                   "\"Always\", \"OnRootMismatch\", got \"onrootmismatch\"",
               }));
  e =
      errorsOf(podWith("  securityContext: {fsGroup: 2147483648}\n  containers:\n"
                       "  - {name: c, image: busybox}\n"));
  EXPECT_EQ(e, (Lines{"f.yaml:5:30: spec.securityContext.fsGroup: must be a user or group id "
                      "between 0 and 2147483647, got 2147483648"}));
}

TEST(SpecsSecurity, EscalationCannotBeRefusedToAPrivilegedContainer) {
  auto e = errorsOf(podWith(R"(  containers:
  - name: a
    image: busybox
    securityContext: {privileged: true, allowPrivilegeEscalation: false}
  - name: b
    image: busybox
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {add: [CAP_SYS_ADMIN]}
)"));
  EXPECT_EQ(e, (Lines{
                   "f.yaml:8:67: spec.containers[0].securityContext.allowPrivilegeEscalation: "
                   "cannot be false when privileged is true",
                   "f.yaml:12:33: spec.containers[1].securityContext.allowPrivilegeEscalation: "
                   "cannot be false when capabilities.add has SYS_ADMIN (at line 13)",
               }));
}

TEST(SpecsSecurity, CapabilityTable) {
  EXPECT_EQ(capabilityNumber("NET_ADMIN"), 12);
  EXPECT_EQ(capabilityNumber("CAP_NET_ADMIN"), 12);
  EXPECT_EQ(capabilityNumber("cap_chown"), 0);
  EXPECT_EQ(capabilityNumber("CHECKPOINT_RESTORE"), 40);
  EXPECT_EQ(capabilityNumber("CAP_"), -1);
  EXPECT_EQ(capabilityNumber("ALL"), -1);
  for (size_t i = 0; i < std::size(kCapabilities); ++i)
    EXPECT_EQ(kCapabilities[i].number, static_cast<int>(i)) << kCapabilities[i].name;
  EXPECT_EQ(capabilityNames(kDefaultCapabilities),
            (Lines{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                   "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "SETFCAP"}));
}

}  // namespace
}  // namespace boxd::specs
