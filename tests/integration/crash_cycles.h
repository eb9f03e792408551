// kill -9 of boxd at every step of a pod's plan and at the undo of every step kind, each followed
// by a restart that must finish (or undo) the half-done work by itself. Shared by the tests of
// resources whose attach and detach are several steps (block volumes).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tests/integration/harness.h"

namespace boxd::testing {

struct CrashCycle {
  std::string file, pod;            // the spec file and the pod it declares
  std::function<void()> write;      // writes the spec file
  std::function<bool()> running;    // waits until the pod runs
  std::function<void()> checkGone;  // after the pod is gone: what must be gone with it
};

// steps: (1-based step, kind) from Boxd::planSteps. boxd is stopped before and after.
inline void crashAtEveryStep(Boxd& b, const std::vector<std::pair<int, std::string>>& steps,
                             const CrashCycle& c) {
  auto cycle = [&](const std::map<std::string, std::string>& env, bool crashOnDelete) {
    b.start(env);
    c.write();
    if (crashOnDelete) {
      ASSERT_TRUE(c.running()) << b.log();
      b.removeSpec(c.file);
    }
    bool crashed = waitFor([&] { return !b.running(); }, 30000);
    if (!crashed) b.stop();  // never leave a boxd with the fault armed behind
    ASSERT_TRUE(crashed) << "boxd did not reach the fault";
    b.start();
    if (!crashOnDelete) {
      EXPECT_TRUE(c.running()) << b.log();
      b.removeSpec(c.file);
    }
    EXPECT_TRUE(b.waitGone(c.pod, 30000)) << b.log();
    auto left = b.leftovers();
    EXPECT_TRUE(left.empty()) << left.front();
    if (!left.empty()) b.forceCleanup();
    c.checkGone();
    b.stop();
  };
  for (const auto& [step, kind] : steps) {
    for (const char* when : {"", ":after"}) {
      {
        SCOPED_TRACE("crash at attach step " + std::to_string(step) + " " + kind + when);
        cycle({{"BOXD_FAULT_CRASH_STEP", std::to_string(step) + when}}, false);
      }
      SCOPED_TRACE("crash at detach of " + kind + when);
      cycle({{"BOXD_FAULT_CRASH_UNDO", kind + when}}, true);
    }
  }
}

}  // namespace boxd::testing
