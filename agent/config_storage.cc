// The config keys of disk bounds: ephemeral-storage defaults and the state dir's reserve.
#include <yaml-cpp/yaml.h>

#include "agent/config.h"
#include "specs/quantity.h"

namespace boxd::agent {

namespace {

// "MIN-MAX": project IDs boxd may allocate; 0 is the default project of every file.
Status applyProjectQuotaIds(Config& cfg, const std::string& s) {
  auto bad = [&] {
    return makeError("projectQuotaIds must be MIN-MAX with 1 <= MIN <= MAX <= 4294967294: '" +
                     s.substr(0, 40) + "'");
  };
  const auto dash = s.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == s.size()) return bad();
  const std::string lo = s.substr(0, dash), hi = s.substr(dash + 1);
  if (lo.find_first_not_of("0123456789") != std::string::npos || lo.size() > 10 ||
      hi.find_first_not_of("0123456789") != std::string::npos || hi.size() > 10)
    return bad();
  const uint64_t min = std::stoull(lo), max = std::stoull(hi);
  if (min == 0 || min > max || max > 4294967294ULL) return bad();
  cfg.projectQuotaIdMin = static_cast<uint32_t>(min);
  cfg.projectQuotaIdMax = static_cast<uint32_t>(max);
  return {};
}

}  // namespace

bool isStorageKey(const std::string& key) {
  return key == "defaultEphemeralStorageLimit" || key == "stateReserveBytes" ||
         key == "ephemeralStorageMaxEntries" || key == "projectQuota" || key == "projectQuotaIds";
}

Status applyStorageKey(Config& cfg, const std::string& key, const YAML::Node& v) {
  if (key == "projectQuota") {
    cfg.projectQuota = v.as<bool>();
    return {};
  }
  if (key == "projectQuotaIds") return applyProjectQuotaIds(cfg, v.as<std::string>());
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
