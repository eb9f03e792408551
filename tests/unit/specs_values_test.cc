// Value grammars: resource quantities, names, label keys and values, image references.
#include <gtest/gtest.h>

#include "specs/quantity.h"
#include "specs/validate.h"

namespace boxd::specs {
namespace {

struct QuantityCase {
  const char* text;
  int64_t want;  // -1: expect an error
};

TEST(SpecsQuantity, Cpu) {
  const QuantityCase cases[] = {
      {"500m", 500},
      {"0.5", 500},
      {"2", 2000},
      {"1", 1000},
      {"+1", 1000},
      {".5", 500},
      {"5.", 5000},
      {"1.250", 1250},
      {"0", 0},
      {"0m", 0},
      {"-0", 0},
      {"1k", 1'000'000},
      {"1e3", 1'000'000},
      {"1E-3", 1},
      {"250000u", 250},
      {"1000000n", 1},
      {"0.001", 1},
      {"0.1e1", 1000},
      {"1.5e-1", 150},
      {"001", 1000},
      {"1Ki", 1'024'000},
      {"9223372036854775m", 9223372036854775},
      {"0.0001", -1},
      {"1n", -1},
      {"1.0005", -1},
      {"-1", -1},
      {"-500m", -1},
      {"", -1},
      {"m", -1},
      {"1.2.3", -1},
      {"1 m", -1},
      {" 1", -1},
      {"1K", -1},
      {"1mi", -1},
      {"1e", -1},
      {"1e3m", -1},
      {"0x10", -1},
      {"abc", -1},
      {"1Mi", 1'048'576'000},
      {"9223372036854776", -1},
      {"1e100", -1},
      {"1e-1000000000", -1},
      {"1e99999999999999999999", -1},
      {"inf", -1},
      {"NaN", -1},
  };
  for (const QuantityCase& c : cases) {
    Result<int64_t> r = parseCpuMilli(c.text);
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << "\"" << c.text << "\" gave " << (r.ok() ? *r : 0);
    } else {
      ASSERT_TRUE(r.ok()) << "\"" << c.text << "\": " << r.error().message;
      EXPECT_EQ(*r, c.want) << c.text;
    }
  }
}

TEST(SpecsQuantity, Memory) {
  const QuantityCase cases[] = {
      {"64Mi", 64LL << 20},
      {"1Gi", 1LL << 30},
      {"128M", 128'000'000},
      {"1e6", 1'000'000},
      {"1000", 1000},
      {"1", 1},
      {"0", 0},
      {"1k", 1000},
      {"1Ki", 1024},
      {"1.5Gi", 3LL << 29},
      {"0.5Ki", 512},
      {"1E", 1'000'000'000'000'000'000},
      {"7Ei", 7LL << 60},
      {"2.5e3", 2500},
      {"1000m", 1},
      {"12e0", 12},
      {"9223372036854775807", INT64_MAX},
      {"8Ei", -1},
      {"9223372036854775808", -1},
      {"10E", -1},
      {"1.5", -1},
      {"1m", -1},
      {"0.3Ki", -1},
      {"-64Mi", -1},
      {"64MiB", -1},
      {"64 Mi", -1},
      {"Mi", -1},
      {"1e-1", -1},
      {"lots", -1},
      {"12345678901234567890123456789012345678901234567890", -1},
  };
  for (const QuantityCase& c : cases) {
    Result<int64_t> r = parseMemoryBytes(c.text);
    if (c.want < 0) {
      EXPECT_FALSE(r.ok()) << "\"" << c.text << "\" gave " << (r.ok() ? *r : 0);
    } else {
      ASSERT_TRUE(r.ok()) << "\"" << c.text << "\": " << r.error().message;
      EXPECT_EQ(*r, c.want) << c.text;
    }
  }
}

TEST(SpecsQuantity, MessagesSayWhatIsWrong) {
  EXPECT_EQ(parseMemoryBytes("-1").error().message, "quantity \"-1\" must not be negative");
  EXPECT_EQ(parseMemoryBytes("8Ei").error().message, "quantity \"8Ei\" is too large");
  EXPECT_EQ(parseMemoryBytes("0.5").error().message,
            "quantity \"0.5\" is not a whole number of bytes");
  EXPECT_EQ(parseCpuMilli("1u").error().message,
            "quantity \"1u\" is finer than 1m (one millicore), the smallest cpu unit");
  EXPECT_EQ(parseCpuMilli("x").error().message,
            "invalid quantity \"x\" (expected a number with an optional unit, e.g. \"500m\", "
            "\"64Mi\", \"1e6\")");
}

TEST(SpecsValidate, QualifiedNamesAndLabelValues) {
  for (const char* ok : {"app", "app.kubernetes.io/name", "a_b.c-d", "example.com/X", "A"}) {
    EXPECT_EQ(checkQualifiedName(ok), "") << ok;
  }
  for (const char* bad : {"", "/a", "a/", "-a", "a b", "Example.com/a", "a/b/c", "ä"}) {
    EXPECT_NE(checkQualifiedName(bad), "") << bad;
  }
  EXPECT_NE(checkQualifiedName(std::string(64, 'a')), "");
  EXPECT_EQ(checkLabelValue(""), "");
  EXPECT_EQ(checkLabelValue("v1.2_x-y"), "");
  EXPECT_NE(checkLabelValue("-v"), "");
  EXPECT_NE(checkLabelValue(std::string(64, 'a')), "");
}

TEST(SpecsValidate, ImageRefs) {
  const std::string sha = "sha256:" + std::string(64, '0');
  for (const std::string& ok :
       {std::string("busybox"), std::string("busybox:1.36"), std::string("a/b/c:tag_1.0-x"),
        std::string("localhost:5000/x/busybox:1.0"), std::string("Registry.Example.com/busybox"),
        std::string("my__repo/a-b.c"), "busybox@" + sha, "busybox:1@" + sha}) {
    EXPECT_EQ(checkImageRef(ok), "") << ok;
  }
  for (const std::string& bad :
       {std::string(""), std::string("BusyBox"), std::string("busybox:"), std::string("busybox:.x"),
        std::string("bus box"), std::string("a//b"), std::string("/busybox"),
        std::string("busybox@sha256:abc"), std::string("busybox@"), std::string("localhost:port/x"),
        std::string("a/-b"), std::string("a_-b"), "busybox:" + std::string(129, 't')}) {
    EXPECT_NE(checkImageRef(bad), "") << bad;
  }
}

TEST(SpecsValidate, Text) {
  EXPECT_EQ(checkText("plain ascii ✓ 日本 🚀"), "");
  EXPECT_EQ(checkText(std::string_view("a\0b", 3)), "must not contain NUL characters");
  EXPECT_EQ(checkText("\xC3\x28"), "is not valid UTF-8 (byte 0)");
  EXPECT_NE(checkText("\xED\xA0\x80"), "");      // an encoded surrogate
  EXPECT_NE(checkText("\xC0\xAF"), "");          // overlong
  EXPECT_NE(checkText("\xF4\x90\x80\x80"), "");  // above U+10FFFF
  EXPECT_NE(checkText("abc\xE2\x82"), "");       // truncated
  EXPECT_EQ(badTextOffset("ok\xFF"), 2u);
}

}  // namespace
}  // namespace boxd::specs
