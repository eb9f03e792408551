// The block bench's parsing (busybox adjtimex, rbd bench), its per-round ratios, and its pods
// and Secrets as boxd's spec parser reads them.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/block_parse.h"
#include "bench/block_pods.h"
#include "bench/block_report.h"
#include "specs/parse.h"

namespace boxd::bench {
namespace {

// busybox 1.35 `adjtimex` with no options, as a container prints it.
std::string adjtimexOutput(const std::string& sec, const std::string& usec) {
  return "    mode:         0\n-o  offset:       0 us\n-f  freq.adjust:  0 (65536 = 1ppm)\n"
         "    status:       64 (UNSYNC)\n-t  tick:         10000 us\n    time.tv_sec:  " +
         sec + "\n    time.tv_usec: " + usec + "\n    return value: 5 (clock not synchronized)\n";
}

TEST(BenchBlock, AdjtimexReadingsBracketTheDd) {
  std::string out = adjtimexOutput("1796420200", "332377") +
                    "256+0 records in\n256+0 records out\n" +
                    adjtimexOutput("1796420201", "032377");
  EXPECT_EQ(adjtimexReadingUs(out, 0), 1796420200332377);
  EXPECT_EQ(adjtimexReadingUs(out, 1), 1796420201032377);
  EXPECT_EQ(adjtimexReadingUs(out, 1) - adjtimexReadingUs(out, 0), 700000);
  EXPECT_EQ(adjtimexReadingUs(out, 2), -1) << "only two readings";
  EXPECT_EQ(adjtimexReadingUs("adjtimex: applet not found\n", 0), -1);
  EXPECT_EQ(adjtimexReadingUs("    time.tv_sec:  17\n", 0), -1) << "seconds without µs";
}

TEST(BenchBlock, RbdBenchOpsPerSecondIsTheLastLines) {
  std::string out =
      "bench  type write io_size 1048576 io_threads 16 bytes 268435456 pattern sequential\n"
      "  SEC       OPS   OPS/SEC   BYTES/SEC\n"
      "    1       180   180.5    181 MiB/s\n"
      "elapsed: 1   ops: 256   ops/sec: 1454.55   bytes/sec: 1.4 GiB/s\n";
  EXPECT_DOUBLE_EQ(rbdBenchOpsPerSecond(out), 1454.55);
  EXPECT_EQ(rbdBenchOpsPerSecond("rbd: error opening image: (2) No such file or directory\n"), 0);
}

TEST(BenchBlock, RatiosArePairedPerRound) {
  // The median of a/b per round, not the ratio of the medians (which would be 300/400).
  EXPECT_DOUBLE_EQ(medianRatio({100, 300, 500}, {100, 400, 1000}), 0.75);
  EXPECT_TRUE(std::isnan(medianRatio({1, 2}, {1})));
  EXPECT_TRUE(std::isnan(medianRatio({}, {})));
}

TEST(BenchBlock, PodsAndSecretsAreValidSpecs) {
  std::string text = benchSecrets("bench-u", "pw-123456", "AQBkey==") + "---\n" +
                     iscsiBenchPod("i", "127.0.0.1:3260", "iqn.2026-12.io.boxd.bench:s", 10) +
                     "---\n" + rbdBenchPod("r", "127.0.0.1:6789", "img", "agent");
  specs::ParseResult r = specs::parseSpecFile("bench.yaml", text);
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  EXPECT_EQ(r.pods.size(), 2u);
  EXPECT_EQ(r.secrets.size(), 2u);
  EXPECT_TRUE(r.holdsSecret);
}

}  // namespace
}  // namespace boxd::bench
