// Which block data path this host can run, and the backend a volume gets:
//
//   volume  override  kernel path present   backend
//   iscsi   auto      yes / no              iscsi-kernel / iscsi-user
//   iscsi   kernel    yes / no              iscsi-kernel / error naming what is missing
//   iscsi   user      -                     iscsi-user
//   rbd     (same, with krbd)               rbd-kernel / rbd-user
#pragma once

#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct BlockCapabilities {
  bool kernelIscsi = false;  // <sys>/class/iscsi_transport/tcp: iscsi_tcp loaded (open-iscsi)
  bool krbd = false;         // <sys>/bus/rbd: the rbd module loaded
};

BlockCapabilities detectBlockCapabilities(const std::string& sysRoot = "/sys");

// volumeKind "iscsi" or "rbd"; configOverride "auto" (or empty), "kernel" or "user".
// Returns "iscsi-kernel", "iscsi-user", "rbd-kernel" or "rbd-user".
Result<std::string> chooseBackend(const std::string& volumeKind, const BlockCapabilities& caps,
                                  const std::string& configOverride);

}  // namespace boxd::reconcilers
