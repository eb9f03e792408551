// spec.tolerations: accepted as Kubernetes validates them (boxd's node has no taints, so they
// change nothing), and each malformed toleration reported with its position and path.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

constexpr const char* kContainers = "  containers: [{name: a, image: busybox}]\n";

TEST(SpecsTolerations, KubernetesTolerationsAreAccepted) {
  ParseResult r = parseSpecFile("f.yaml", podWith(std::string(kContainers) + R"(  tolerations:
  - {key: dedicated, operator: Exists, effect: NoSchedule}
  - {key: example.com/gpu, operator: Equal, value: "true", effect: PreferNoSchedule}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
  - {key: plain, value: v1}
  - {operator: Exists}
)"));
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_EQ(r.pods.size(), 1u);
}

TEST(SpecsTolerations, TheSamePodWithAndWithoutTolerationsIsTheSamePod) {
  ParseResult plain = parseSpecFile("f.yaml", podWith(kContainers));
  ParseResult tolerant = parseSpecFile(
      "f.yaml", podWith(std::string(kContainers) + "  tolerations: [{operator: Exists}]\n"));
  ASSERT_TRUE(plain.ok() && tolerant.ok());
  EXPECT_EQ(toJson(plain.pods[0].spec), toJson(tolerant.pods[0].spec))
      << "a toleration changes nothing on an untainted node, so it does not replace the pod";
}

TEST(SpecsTolerations, MalformedTolerationsAreReported) {
  EXPECT_EQ(errorsOf(podWith(std::string(kContainers) + R"(  tolerations:
  - {key: a, operator: Matches}
  - {value: x}
  - {key: b, operator: Exists, value: x}
  - {key: c, effect: NoSchedule, tolerationSeconds: 5}
  - {key: d, effect: Evict}
  - {key: "bad key!"}
  - {key: e, value: "not a label value!"}
  - {key: f, colour: red}
)")),
            (std::vector<std::string>{
                "f.yaml:7:24: spec.tolerations[0].operator: must be \"Equal\" or \"Exists\", got "
                "\"Matches\"",
                "f.yaml:8:5: spec.tolerations[1].operator: must be \"Exists\" when the key is "
                "empty (it matches every taint)",
                "f.yaml:9:39: spec.tolerations[2].value: must be empty when the operator is "
                "\"Exists\"",
                "f.yaml:10:53: spec.tolerations[3].tolerationSeconds: is only allowed with the "
                "effect \"NoExecute\"",
                "f.yaml:11:22: spec.tolerations[4].effect: must be \"NoSchedule\", "
                "\"PreferNoSchedule\" or \"NoExecute\", got \"Evict\"",
                "f.yaml:12:11: spec.tolerations[5].key: key \"bad key!\": name must be 1-63 "
                "characters of [A-Za-z0-9-_.], starting and ending with a letter or digit, with an "
                "optional DNS subdomain prefix and '/'",
                "f.yaml:13:21: spec.tolerations[6].value: label value \"not a label value!\" must "
                "be at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or "
                "digit",
                "f.yaml:14:14: spec.tolerations[7].colour: unknown field",
            }));
}

}  // namespace
}  // namespace boxd::specs
