// `boxctl top`: CPU now from two usage samples of boxd ("usage" op), memory working set and
// pids from the second; and the table, as `kubectl top pod [--containers]`. Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace boxd::agent {

// {"pods":[{"name","cpuMilli","memoryBytes","pids","containers":[{"name",...}]}]}; a value
// unknown (no controller, a pod not in both samples) is null.
nlohmann::json topRows(const nlohmann::json& first, const nlohmann::json& second);
std::string formatTop(const nlohmann::json& rows, bool containers);

}  // namespace boxd::agent
