// Canonical JSON of the securityContext fields (pod.cc calls these). Internal to specs/.
// Only what is set is written, and nothing at all for an empty context, so pods that do not use
// securityContext keep the hash they had before boxd supported it.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "specs/pod.h"

namespace boxd::specs::detail {

// Adds "securityContext" to j when sc has anything set.
void addSecurityJson(nlohmann::json& j, const SecurityContext& sc);
void addPodSecurityJson(nlohmann::json& j, const PodSecurityContext& sc);
// Reads "securityContext" of j back (absent = empty); a wrong type is an error naming the key.
Status readSecurityJson(const nlohmann::json& j, SecurityContext& out);
Status readPodSecurityJson(const nlohmann::json& j, PodSecurityContext& out);

}  // namespace boxd::specs::detail
