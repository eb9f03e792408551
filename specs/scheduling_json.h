// Canonical JSON of the scheduling fields (specs/scheduling.h), written only when a pod uses
// them, so the hash of every other pod stays what it was. Internal to specs/.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "specs/pod.h"

namespace boxd::specs::detail {

void addSchedulingJson(nlohmann::json& j, const PodSpec& pod);
Status readSchedulingJson(const nlohmann::json& j, PodSpec& pod);

}  // namespace boxd::specs::detail
