// Picks the backend named by the config ("iscsi" or "rbd").
#pragma once

#include <memory>

#include "blockd/backend.h"
#include "blockd/protocol.h"
#include "common/result.h"

namespace boxd::blockd {

Result<std::unique_ptr<Backend>> makeBackend(const Config& config);

}  // namespace boxd::blockd
