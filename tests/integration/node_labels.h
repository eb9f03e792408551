// The node-label scenario the nodeSelector (namespaces_test.cc) and nodeAffinity
// (scheduling_test.cc) tests share: boxd on a node labelled disktype=hdd, a pod "needs-ssd"
// whose scheduling lines ask for another disk, Pending (Unschedulable with the scheduler's
// message, a FailedScheduling event, nothing on the host) until the node is relabelled.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/integration/harness.h"

namespace boxd::testing {

// The pod, with `scheduling` (spec lines, indented by two) choosing its node.
inline std::string needsSsdPod(const std::string& scheduling) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: needs-ssd\nspec:\n"
         "  terminationGracePeriodSeconds: 1\n" +
         scheduling +
         "  containers:\n  - name: c\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n";
}

// Starts b on a node labelled disktype=hdd and checks the pod waits with `message`; then
// relabels the node disktype=<relabel> (a config change: boxd restarted, the later nodeLabels
// entry wins) and checks the pod runs. Callers wrap it in ASSERT_NO_FATAL_FAILURE.
inline void expectPendingUntilRelabelled(Boxd& b, const std::string& scheduling,
                                         const std::string& message, const std::string& relabel) {
  b.addConfig("nodeLabels:\n  disktype: hdd\n");
  b.start();
  b.importBusybox();
  b.writeSpec("ssd.yaml", needsSsdPod(scheduling));
  ASSERT_TRUE(waitFor(
      [&] {
        nlohmann::json p = b.pod("needs-ssd");
        return !p.is_null() && p["reason"] == "Unschedulable";
      },
      20000))
      << b.status().dump(2) << b.log();
  nlohmann::json p = b.pod("needs-ssd");
  EXPECT_EQ(p["phase"], "Pending");
  EXPECT_EQ(p["message"], message);
  EXPECT_NE(b.boxctl({"events", "needs-ssd"}).out.find("FailedScheduling"), std::string::npos);
  std::string status = b.boxctl({"status"}).out;
  EXPECT_NE(status.find("needs-ssd   0/1     Unschedulable"), std::string::npos) << status;
  EXPECT_TRUE(b.leftovers().empty()) << "an unschedulable pod creates nothing on the host";

  b.stop();
  b.addConfig("nodeLabels:\n  disktype: " + relabel + "\n");
  b.start();
  EXPECT_TRUE(b.waitPhase("needs-ssd", "Running", 30000)) << b.status().dump(2) << b.log();
}

}  // namespace boxd::testing
