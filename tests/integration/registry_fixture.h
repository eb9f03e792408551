// The fixture the registry tests share: a plain-HTTP docker-registry started per test in the
// test's own temp dir; the test is skipped (not failed) where docker-registry is not installed.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/integration/registry_peer.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {

class RegistryPeerTest : public ::testing::Test {
 protected:
  // tag names the temp dir (/tmp/boxd-<tag>-XXXXXX); the registry keeps its files in
  // <tmp>/plain.
  explicit RegistryPeerTest(const std::string& tag) : tmp_(tag) {}

  // A subclass's SetUp calls this first and returns at once when IsSkipped() or
  // HasFatalFailure().
  void SetUp() override {
    auto p = RegistryPeer::start(tmp_.path() + "/plain", {});
    if (!p.ok() && p.error().message.find("not installed") != std::string::npos)
      GTEST_SKIP() << p.error().message;
    ASSERT_TRUE(p.ok()) << p.error().message;
    plain_.reset(*p);
  }
  bool setUpStopped() const { return IsSkipped() || HasFatalFailure(); }

  TempDir tmp_;
  std::unique_ptr<RegistryPeer> plain_;
};

}  // namespace boxd::testing
