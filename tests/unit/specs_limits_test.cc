// What a hostile or stray file in the specs dir can cost and show: nesting is bounded before any
// node is built, and diagnostics quote only a short, escaped part of a key or value.
#include <gtest/gtest.h>

#include <chrono>

#include "specs/nesting.h"
#include "specs/parse.h"
#include "specs/quote.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Clock = std::chrono::steady_clock;
using Lines = std::vector<std::string>;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool hasControlByte(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

TEST(SpecsLimits, FourMebibytesOfBracketsAreRefusedAtOnce) {
  // yaml-cpp alone: 4-7 s and near 1 GB before its own depth guard fires.
  for (char open : {'[', '{'}) {
    std::string content = "apiVersion: v1\nspec: " + std::string(4 << 20, open);
    auto t0 = Clock::now();
    ParseResult r = parseSpecFile("f.yaml", content);
    double took = secondsSince(t0);
    ASSERT_EQ(r.errors.size(), 1u) << errorLines(r)[0];
    EXPECT_EQ(r.errors[0].str(), "f.yaml:2:71: YAML is nested too deeply (more than 64 levels)");
    EXPECT_LT(took, 0.5) << open;
  }
}

TEST(SpecsLimits, BlockNestingIsBoundedToo) {
  std::string content = "apiVersion: v1\nspec:\n";
  std::string indent = "  ";
  for (int i = 0; i < 80; ++i, indent += "  ") content += indent + "k:\n";
  Lines e = errorsOf(content);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("YAML is nested too deeply (more than 64 levels)"), std::string::npos)
      << e[0];
  // "- - - - x": block sequences nested on one line.
  std::string dashes = "apiVersion: v1\nspec:\n";
  for (int i = 0; i < 80; ++i) dashes += "- ";
  e = errorsOf(dashes + "x\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].find("nested too deeply"), std::string::npos) << e[0];
}

using detail::excessiveFlowNesting;
constexpr size_t npos = std::string_view::npos;

TEST(SpecsLimits, BracketsInTextDoNotCount) {
  std::string many(100, '[');
  // Quoted scalars (in a block and in a flow collection), comments, block scalars, plain text.
  EXPECT_EQ(excessiveFlowNesting("a: \"" + many + "\"\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("a: '" + many + "'\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("a: [\"" + many + "\", 'x''" + many + "']\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("{\"a\":\"" + many + "\"}\n"), npos) << "JSON without spaces";
  EXPECT_EQ(excessiveFlowNesting("a: 1  # " + many + "\n# " + many + "\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("script: |\n  if " + many + "\n\n  x\nb: c\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("- >-\n    " + many + "\n- x\n"), npos);
  EXPECT_EQ(excessiveFlowNesting("a: x" + many + "\n"), npos) << "a plain scalar";
  EXPECT_EQ(excessiveFlowNesting("a: \"x\\\"" + many + "\"\n"), npos) << "an escaped quote";
}

TEST(SpecsLimits, FlowNestingIsCountedWhereverANodeStarts) {
  std::string deep(65, '[');
  EXPECT_EQ(excessiveFlowNesting(std::string(64, '[')), npos);
  EXPECT_EQ(excessiveFlowNesting(deep), 64u);
  EXPECT_EQ(excessiveFlowNesting("a: " + deep), 67u);
  EXPECT_EQ(excessiveFlowNesting("a: &x !!seq " + deep), 76u) << "after an anchor and a tag";
  EXPECT_EQ(excessiveFlowNesting("- " + deep), 66u);
  EXPECT_EQ(excessiveFlowNesting("--- " + deep), 68u);
  EXPECT_EQ(excessiveFlowNesting("a: {b: [c, {d: " + deep), 76u) << "3 levels open already";
  // Levels that close do not add up.
  std::string closed;
  for (int i = 0; i < 1000; ++i) closed += "[[[]]], ";
  EXPECT_EQ(excessiveFlowNesting("a: [" + closed + "]\n"), npos);
  // A block scalar ends where the indentation does: brackets after it count again.
  EXPECT_EQ(excessiveFlowNesting("a: |\n  text\nb: " + deep), 79u);
}

TEST(SpecsLimits, ValidSpecsAreUnaffected) {
  const char* pod = R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    note: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "[ -f /x ] && [[ 1 ]]"]
    args:
    - |
      [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
)";
  ParseResult r = parseSpecFile("p.yaml", pod);
  EXPECT_TRUE(r.ok()) << errorLines(r)[0];
  ASSERT_EQ(r.pods.size(), 1u);
}

TEST(SpecsLimits, AHostFileIsNotEchoed) {
  // What /etc/shadow read as YAML gives: every line a key, each an "unknown field".
  const std::string hash = "$6$rounds=5000$saltsaltsalt$" + std::string(86, 'H') + "TAILSECRET";
  std::string shadow = "root:" + hash + ":19000:0:99999:7:::\n" + "daemon:*:19000:0:99999:7:::\n";
  ParseResult r = parseSpecFile("shadow.yaml", shadow);
  ASSERT_FALSE(r.ok());
  for (const Diagnostic& d : r.errors) {
    std::string s = d.str();
    EXPECT_EQ(s.find("TAILSECRET"), std::string::npos) << s;
    EXPECT_EQ(s.find(std::string(20, 'H')), std::string::npos) << s;
  }
  EXPECT_EQ(r.errors[0].str(),
            "shadow.yaml:1:1: [\"root:$6$rounds=5000$saltsaltsalt$HHHHHHH...\"]: unknown field");
}

TEST(SpecsLimits, QuotedKeysAndValuesAreBoundedAndEscaped) {
  std::string longValue(300, 'v');
  Lines e = errorsOf("apiVersion: v1\nkind: " + longValue + "\n");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0],
            "f.yaml:2:7: kind: boxd runs only Pods (and reads the Secrets and ConfigMaps they "
            "name): kind must be \"Pod\", \"Secret\" or \"ConfigMap\", got \"" +
                std::string(40, 'v') + "...\"");
  // A key and a value with a terminal escape sequence, a newline and a bidi override.
  ParseResult r = parseSpecFile("f.yaml",
                                "apiVersion: v1\nkind: \"\\e[2J\\nPod\\u202e\"\n---\n"
                                "apiVersion: v1\nkind: Pod\n\"\\e]0;x\\a\": 1\n");
  for (const Diagnostic& d : r.errors) EXPECT_FALSE(hasControlByte(d.str())) << d.str();
  std::string all;
  for (const std::string& l : errorLines(r)) all += l + "\n";
  EXPECT_NE(all.find("f.yaml:2:7: kind: boxd runs only Pods (and reads the Secrets and ConfigMaps "
                     "they name): kind must be \"Pod\", \"Secret\" or \"ConfigMap\", got "
                     "\"\\x1b[2J\\nPod\\u202e\"\n"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("f.yaml:6:1: [\"\\x1b]0;x\\x07\"]: unknown field\n"), std::string::npos)
      << all;
}

TEST(SpecsLimits, FileNamesAreEscapedToo) {
  ParseResult r = parseSpecFile("a\x1b[0m.yaml", "foo: 1\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].str().rfind("a\\x1b[0m.yaml:1:1: ", 0), 0u) << r.errors[0].str();
}

TEST(SpecsQuote, ShownText) {
  EXPECT_EQ(inQuotes("web"), "\"web\"");
  EXPECT_EQ(inQuotes("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(shownText(std::string(41, 'x')), std::string(40, 'x') + "...");
  EXPECT_EQ(shownText(std::string(40, 'x')), std::string(40, 'x'));
  // Whole UTF-8 sequences: 41 two-byte characters are cut after the 40th, not inside one.
  std::string e;
  for (int i = 0; i < 41; ++i) e += "\xc3\xa9";
  EXPECT_EQ(shownText(e), e.substr(0, 80) + "...");
  EXPECT_EQ(escapeText("a\tb\x7f\xc2\x9b\xff"), "a\\tb\\x7f\\u009b\\xff");
  EXPECT_EQ(escapeText("\"quotes\" stay"), "\"quotes\" stay");
}

}  // namespace
}  // namespace boxd::specs
