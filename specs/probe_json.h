// Canonical JSON of a container's probes and hooks (part of pod.cc's toJson/fromJson): written
// only when the container has some, so the hash of a pod without them is what it was.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "specs/probe.h"

namespace boxd::specs::detail {

void addProbesJson(nlohmann::json& container, const ContainerProbes& p);
Status readProbesJson(const nlohmann::json& container, ContainerProbes& p);

}  // namespace boxd::specs::detail
