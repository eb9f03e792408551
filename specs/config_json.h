// Canonical JSON of the configuration sources (pod.cc writes and reads them with these). Only
// written when a pod uses them, so other pods keep their hash. Internal to specs/.
#pragma once

#include <nlohmann/json.hpp>

#include "specs/config_sources.h"

namespace boxd::specs {

void to_json(nlohmann::json& j, const ConfigVolume& v);
void from_json(const nlohmann::json& j, ConfigVolume& v);
void to_json(nlohmann::json& j, const EnvVarSource& s);
void from_json(const nlohmann::json& j, EnvVarSource& s);
void to_json(nlohmann::json& j, const EnvFromSource& s);
void from_json(const nlohmann::json& j, EnvFromSource& s);

}  // namespace boxd::specs
