// Pull options for the registry tests: no system certificate dir, short deadlines, so a test
// against the local registry fails in seconds rather than hanging.
#pragma once

#include "images/registry/pull.h"

namespace boxd::testing {

inline images::PullOptions quickPullOptions() {
  images::PullOptions o;
  o.config.certsDir.clear();
  o.timeoutMs = 20000;
  o.connectTimeoutMs = 2000;
  o.stallTimeoutMs = 3000;
  return o;
}

}  // namespace boxd::testing
