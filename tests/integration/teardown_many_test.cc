// Many pods deleted at once: boxd keeps answering while it tears them all down. (Each pod's shim
// exits during its teardown and closes boxd's watch of it; boxd freed that watch's connection
// and touched it again when the pod was gone, and aborted in uv_close with 50 pods deleted at
// once: every status call was then refused.)
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

constexpr int kPods = 24;

std::string sleeper(const std::string& name) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n"
         "    image: busybox\n    command: [sh, -c, 'exec sleep 1000']\n";
}

TEST(TeardownMany, StatusAnswersWhileManyPodsAreDeletedAtOnce) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  Boxd b;
  b.start();
  b.importBusybox();
  for (int i = 0; i < kPods; ++i)
    b.writeSpec("m" + std::to_string(i) + ".yaml", sleeper("m" + std::to_string(i)));
  auto running = [&] {
    size_t n = 0;
    nlohmann::json st = b.status();
    for (const auto& p : st["pods"]) n += p.value("phase", "") == "Running";
    return n == kPods;
  };
  ASSERT_TRUE(waitFor(running, 300000)) << b.status().dump(2);

  for (int i = 0; i < kPods; ++i) b.removeSpec("m" + std::to_string(i) + ".yaml");
  // Every status call must be answered (a generous bound per call, not a timing claim) until
  // the last pod is gone.
  int calls = 0;
  bool gone = waitFor(
      [&] {
        CmdResult r = b.boxctl({"status", "-o", "json"}, 30000);
        calls++;
        EXPECT_EQ(r.code, 0) << "status call " << calls << " during the teardown: " << r.out;
        if (r.code != 0) return true;  // stop: boxd is not answering
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        return !j.is_discarded() && j["pods"].empty();
      },
      300000);
  EXPECT_TRUE(gone) << b.status().dump(2);
  EXPECT_TRUE(b.running()) << "boxd exited during the teardown:\n" << b.log();
  EXPECT_EQ(b.log().find("Assertion"), std::string::npos) << b.log();
  EXPECT_EQ(b.boxctl({"status"}).code, 0);
}

}  // namespace
}  // namespace boxd::testing
