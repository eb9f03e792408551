// `boxctl wait POD --for=condition=Ready[=true|false] | --for=phase=Running [--timeout=30s]`,
// kubectl wait's conventions: exit 0 once the condition holds, 1 with "timed out waiting for the
// condition on pods/NAME" when the timeout passes first. A pod boxd does not know (yet) is
// waited for too: a spec just applied shows up within a specs pass.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::agent {

struct WaitOptions {
  std::string pod;
  std::string condition;  // "Ready", "ContainersReady"; empty when waiting for a phase
  std::string status = "True";
  std::string phase;  // "Running", "Succeeded", ...
  int64_t timeoutMs = 30000;
};

constexpr const char* kWaitUsage =
    "usage: boxctl wait POD --for=condition=NAME[=true|false] | --for=phase=PHASE "
    "[--timeout=DURATION]";

Result<WaitOptions> parseWaitArgs(const std::vector<std::string>& args);
// "30s", "2m", "500ms", "1h", "90" (seconds).
Result<int64_t> parseDurationMs(const std::string& s);
// Whether the pod (as in boxd's status reply; null when absent) meets the options.
bool waitMet(const nlohmann::json& pod, const WaitOptions& o);

}  // namespace boxd::agent
