// initContainers: the field, the deprecated annotation, and their errors.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

ParseResult parse(std::string_view content) { return parseSpecFile("f.yaml", content); }

constexpr std::string_view kWithInit = R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - name: fetch
    image: busybox
    command: [sh, -c, "echo one"]
  - name: render
    image: busybox
  containers:
  - name: web
    image: busybox
)";

TEST(SpecsInit, InitContainersAreParsedInOrder) {
  ParseResult r = parse(kWithInit);
  ASSERT_TRUE(r.ok()) << errorLines(r).front();
  const PodSpec& p = r.pods.at(0).spec;
  ASSERT_EQ(p.initContainers.size(), 2u);
  EXPECT_EQ(p.initContainers[0].name, "fetch");
  EXPECT_EQ(p.initContainers[0].command, (std::vector<std::string>{"sh", "-c", "echo one"}));
  EXPECT_EQ(p.initContainers[1].name, "render");
  EXPECT_EQ(p.containers.at(0).name, "web");
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, p);
}

TEST(SpecsInit, PodsWithoutInitContainersKeepTheirHash) {
  ParseResult r = parse(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
      "  - {name: web, image: busybox}\n");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(toJson(r.pods[0].spec).contains("initContainers"));
  ParseResult withInit = parse(kWithInit);
  EXPECT_NE(specHash(withInit.pods[0].spec), specHash(r.pods[0].spec));
}

TEST(SpecsInit, NamesAreUniqueAcrossInitAndMainContainers) {
  ParseResult r = parse(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - {name: web, image: busybox}
  containers:
  - {name: web, image: busybox}
)");
  EXPECT_EQ(errorLines(r), std::vector<std::string>{
                           "f.yaml:8:5: spec.containers[0].name: duplicate container name "
                           "\"web\" (also spec.initContainers[0])"});
}

TEST(SpecsInit, InitContainerFieldsAreValidatedLikeContainers) {
  ParseResult r = parse(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - name: Bad
    imagee: busybox
  containers:
  - {name: web, image: busybox}
)");
  auto e = errorLines(r);
  ASSERT_EQ(e.size(), 3u) << e[0];
  EXPECT_EQ(e[0], "f.yaml:6:5: spec.initContainers[0].image: required field is missing");
  EXPECT_NE(e[1].find("f.yaml:6:11: spec.initContainers[0].name: must be a DNS-1123 label"),
            std::string::npos)
      << e[1];
  EXPECT_NE(e[2].find("f.yaml:7:5: spec.initContainers[0].imagee: unknown field"),
            std::string::npos)
      << e[2];
}

TEST(SpecsInit, LegacyAnnotationBecomesInitContainers) {
  ParseResult r = parse(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    pod.beta.kubernetes.io/init-containers: '[{"name": "old", "image": "busybox", "command": ["true"]}]'
spec:
  containers:
  - {name: web, image: busybox}
)");
  ASSERT_TRUE(r.ok()) << errorLines(r).front();
  const PodSpec& p = r.pods[0].spec;
  ASSERT_EQ(p.initContainers.size(), 1u);
  EXPECT_EQ(p.initContainers[0].name, "old");
  EXPECT_EQ(p.initContainers[0].command, std::vector<std::string>{"true"});
}

TEST(SpecsInit, LegacyAnnotationErrorsPointAtTheAnnotation) {
  ParseResult r = parse(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    pod.beta.kubernetes.io/init-containers: '[{"name": "old", "imag": "busybox"}]'
spec:
  containers:
  - {name: web, image: busybox}
)");
  auto e = errorLines(r);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_NE(
      e[0].find("f.yaml:6:45: metadata.annotations.pod.beta.kubernetes.io/init-containers[0].imag: "
                "unknown field"),
      std::string::npos)
      << e[0];
  EXPECT_NE(e[0].find("(in the annotation's JSON, column"), std::string::npos) << e[0];
  EXPECT_NE(e[1].find("[0].image: required field is missing"), std::string::npos) << e[1];

  ParseResult notJson = parse(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    pod.beta.kubernetes.io/init-containers: '{"name": "x"}'
spec:
  containers:
  - {name: web, image: busybox}
)");
  ASSERT_EQ(notJson.errors.size(), 1u);
  EXPECT_NE(notJson.errors[0].str().find("must be a JSON array of containers"), std::string::npos);
}

TEST(SpecsInit, FieldAndAnnotationTogetherIsAnError) {
  ParseResult r = parse(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    pod.beta.kubernetes.io/init-containers: '[{"name": "old", "image": "busybox"}]'
spec:
  initContainers:
  - {name: new, image: busybox}
  containers:
  - {name: web, image: busybox}
)");
  auto e = errorLines(r);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("spec.initContainers is set too; remove this deprecated annotation"),
            std::string::npos)
      << e[0];
}

}  // namespace
}  // namespace boxd::specs
