#include "reconcilers/block/block_host.h"

#include <cerrno>

#include "reconcilers/block/block_sysfs.h"

namespace boxd::reconcilers {

BlockCapabilities detectBlockCapabilities(const std::string& sysRoot) {
  BlockCapabilities caps;
  caps.kernelIscsi = sysfs::exists(sysRoot + "/class/iscsi_transport/tcp");
  caps.krbd = sysfs::exists(sysRoot + "/bus/rbd");
  return caps;
}

Result<std::string> chooseBackend(const std::string& volumeKind, const BlockCapabilities& caps,
                                  const std::string& configOverride) {
  bool kernel = false;
  std::string missing;
  if (volumeKind == "iscsi") {
    kernel = caps.kernelIscsi;
    missing =
        "/sys/class/iscsi_transport/tcp is absent (the iscsi_tcp module is not loaded; "
        "open-iscsi needs it and iscsid)";
  } else if (volumeKind == "rbd") {
    kernel = caps.krbd;
    missing = "/sys/bus/rbd is absent (the rbd kernel module is not loaded)";
  } else {
    return makeError(
        "block backend: unknown volume kind \"" + volumeKind + "\" (expected iscsi or rbd)",
        EINVAL);
  }
  if (configOverride == "user") return volumeKind + "-user";
  if (configOverride == "kernel") {
    if (!kernel)
      return makeError(volumeKind + " volume: the kernel data path was configured but " + missing,
                       ENODEV);
    return volumeKind + "-kernel";
  }
  if (configOverride == "auto" || configOverride.empty())
    return volumeKind + (kernel ? "-kernel" : "-user");
  return makeError(
      "block backend: unknown override \"" + configOverride + "\" (expected auto, kernel or user)",
      EINVAL);
}

}  // namespace boxd::reconcilers
