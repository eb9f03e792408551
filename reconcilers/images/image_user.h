// An image's User ("name", "uid", "name:group", "uid:gid", as in its config) resolved in a
// container's root filesystem, as runc does: a name through /etc/passwd, a group name through
// /etc/group; a user without a group gets its passwd group (0 when the uid is not listed), and
// the groups listing the user by name become supplementary groups.
//
// The files are opened with openat2 RESOLVE_IN_ROOT beneath the rootfs: a symlink in the image
// (/etc/passwd -> /host/etc/passwd, or ../../..) resolves inside it, never on the host. Only
// regular files, opened non-blocking (a FIFO there cannot hang boxd), at most 4 MiB each.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct ResolvedUser {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary, from /etc/group membership
};

Result<ResolvedUser> resolveImageUser(const std::string& rootfs, const std::string& user);

}  // namespace boxd::reconcilers
