// TEMPORARY, delete at merge: a weak stand-in for makeIscsiBackend until iscsi_backend.cc (the
// iSCSI backend, developed on its own branch) is in the tree. Returning nullptr makes
// makeBackend() report "iscsi backend not built"; the real definition overrides this one.
#include "blockd/iscsi_backend.h"

namespace boxd::blockd {

__attribute__((weak)) std::unique_ptr<Backend> makeIscsiBackend(const Config&) { return nullptr; }

}  // namespace boxd::blockd
