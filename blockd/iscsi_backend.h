// The iSCSI backend of boxd-blockd (libiscsi): implemented in iscsi_backend.cc.
#pragma once

#include <memory>

#include "blockd/backend.h"
#include "blockd/protocol.h"

namespace boxd::blockd {

std::unique_ptr<Backend> makeIscsiBackend(const Config& config);

}  // namespace boxd::blockd
