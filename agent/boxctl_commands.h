// boxctl subcommands that live in their own files (boxctl_<name>.cc). Each takes the arguments
// after its name and returns the process exit code; the socket is boxd's (--socket/--run-dir).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::agent {

// One request to boxd; the error names what failed ("cannot reach boxd at ...", boxd's own
// error for a refused request).
Result<nlohmann::json> boxdCall(const std::string& socket, const nlohmann::json& req,
                                int timeoutMs = 30000);

// True for "-o json", "--output json", "-ojson", "-o=json", "--output=json" at args[i]
// (advancing i past the value); errors on another format.
Result<bool> takeJsonFlag(const std::vector<std::string>& args, size_t& i);

int cmdValidate(const std::vector<std::string>& args);
int cmdPlan(const std::string& socket, const std::vector<std::string>& args);
int cmdTop(const std::string& socket, const std::vector<std::string>& args);
int cmdMetrics(const std::string& socket, const std::vector<std::string>& args);

}  // namespace boxd::agent
