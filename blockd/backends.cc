#include "blockd/backends.h"

#include "blockd/iscsi_backend.h"
#include "blockd/rbd_backend.h"

namespace boxd::blockd {

Result<std::unique_ptr<Backend>> makeBackend(const Config& config) {
  std::unique_ptr<Backend> backend;
  if (config.backend == "rbd" && config.rbd) {
    backend = makeRbdBackend(config);
  } else if (config.backend == "iscsi" && config.iscsi) {
    backend = makeIscsiBackend(config);
    if (!backend) return makeError("backend iscsi: not built into this boxd-blockd", ENOTSUP);
  } else {
    return makeError("backend \"" + config.backend + "\": unknown or without its settings", EINVAL);
  }
  return backend;
}

}  // namespace boxd::blockd
