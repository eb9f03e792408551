// initContainers[].restartPolicy: Always (sidecars): parsed, kept in the canonical JSON, and the
// values and places Kubernetes refuses.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

constexpr std::string_view kSidecarPod = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  initContainers:
  - name: setup
    image: busybox
  - name: logshipper
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "tail -F /var/log/app.log"]
    startupProbe:
      exec: {command: [test, -e, /tmp/ready]}
    readinessProbe:
      exec: {command: ["true"]}
    livenessProbe:
      exec: {command: ["true"]}
    lifecycle:
      preStop:
        exec: {command: ["true"]}
  containers:
  - name: app
    image: busybox
)";

TEST(SidecarSpec, RestartPolicyAlwaysMakesAnInitContainerASidecar) {
  ParseResult r = parseSpecFile("f.yaml", kSidecarPod);
  ASSERT_TRUE(r.ok()) << errorLines(r).front();
  const PodSpec& p = r.pods.at(0).spec;
  ASSERT_EQ(p.initContainers.size(), 2u);
  EXPECT_FALSE(p.initContainers[0].isSidecar());
  EXPECT_FALSE(p.initContainers[0].restartPolicy.has_value());
  EXPECT_TRUE(p.initContainers[1].isSidecar());
  EXPECT_TRUE(p.initContainers[1].probes.startup.has_value());
  EXPECT_TRUE(p.initContainers[1].probes.lifecycle.preStop.has_value());
  EXPECT_EQ(p.restartPolicy, RestartPolicy::Never) << "the pod's own policy is untouched";
}

TEST(SidecarSpec, SurvivesTheCanonicalJsonAndChangesTheHash) {
  ParseResult r = parseSpecFile("f.yaml", kSidecarPod);
  ASSERT_TRUE(r.ok());
  const PodSpec& p = r.pods.at(0).spec;
  nlohmann::json j = toJson(p);
  EXPECT_EQ(j["initContainers"][1]["restartPolicy"], "Always");
  EXPECT_FALSE(j["initContainers"][0].contains("restartPolicy"))
      << "absent when unset, so pods without sidecars keep their hash";
  auto back = fromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
  PodSpec plain = p;
  plain.initContainers[1].restartPolicy.reset();
  EXPECT_NE(specHash(plain), specHash(p));
}

TEST(SidecarSpec, OnlyAlwaysIsAccepted) {
  for (const char* value : {"Never", "OnFailure", "Sometimes"}) {
    auto errors = errorsOf(podWith(std::string("  initContainers:\n"
                                               "  - {name: s, image: busybox, restartPolicy: ") +
                                   value + "}\n  containers:\n  - {name: a, image: busybox}\n"));
    ASSERT_EQ(errors.size(), 1u) << value;
    EXPECT_NE(errors[0].find("spec.initContainers[0].restartPolicy"), std::string::npos)
        << errors[0];
    EXPECT_NE(errors[0].find(std::string("Unsupported value: \"") + value +
                             "\": supported values: \"Always\""),
              std::string::npos)
        << errors[0];
  }
}

TEST(SidecarSpec, RegularContainersTakeNoRestartPolicy) {
  auto errors =
      errorsOf(podWith("  containers:\n  - {name: a, image: busybox, restartPolicy: Always}\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("spec.containers[0].restartPolicy"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("may not be set for non-init containers"), std::string::npos)
      << errors[0];
}

TEST(SidecarSpec, RegularInitContainersStillTakeNoProbes) {
  auto errors =
      errorsOf(podWith("  initContainers:\n"
                       "  - name: i\n    image: busybox\n    readinessProbe:\n"
                       "      exec: {command: [\"true\"]}\n"
                       "  containers:\n  - {name: a, image: busybox}\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("takes no probes or lifecycle hooks"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("restartPolicy: Always"), std::string::npos)
      << "the error says how to make it a sidecar: " << errors[0];
}

}  // namespace
}  // namespace boxd::specs
