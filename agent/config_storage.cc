// The config keys of disk bounds: ephemeral-storage defaults and the state dir's reserve.
#include <yaml-cpp/yaml.h>

#include "agent/config.h"
#include "specs/quantity.h"

namespace boxd::agent {

bool isStorageKey(const std::string& key) {
  return key == "defaultEphemeralStorageLimit" || key == "stateReserveBytes" ||
         key == "ephemeralStorageMaxEntries";
}

Status applyStorageKey(Config& cfg, const std::string& key, const YAML::Node& v) {
  if (key == "ephemeralStorageMaxEntries") {
    auto n = v.as<int64_t>();
    if (n < 1000 || n > 100000000)
      return makeError("ephemeralStorageMaxEntries must be from 1000 to 100000000");
    cfg.ephemeralStorageMaxEntries = n;
    return {};
  }
  auto bytes = specs::parseMemoryBytes(v.as<std::string>());
  if (!bytes.ok()) return makeError(key + ": " + bytes.error().message);
  if (key == "stateReserveBytes") {
    if (*bytes > (int64_t{1} << 30)) return makeError("stateReserveBytes must be at most 1Gi");
    cfg.stateReserveBytes = *bytes;
  } else {
    cfg.defaultEphemeralStorageLimit = *bytes;
  }
  return {};
}

}  // namespace boxd::agent
