// Paths resolved through trees a container can write (its rootfs, a volume): openat2(2) keeps
// every step of the walk beneath a directory fd, and the caller then acts on the fd it gets
// (mount through /proc/self/fd/N, compare mount IDs), never on the path string again.
#pragma once

#include <linux/openat2.h>

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace boxd {

// "/proc/self/fd/N": the path mount(2) and umount2(2) take to act on exactly what fd names.
std::string fdPath(int fd);

// openat2(2) with O_CLOEXEC added; -1 and errno on failure (ENOSYS before Linux 5.6).
int openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve);

struct BeneathOptions {
  // RESOLVE_BENEATH is always added. Add RESOLVE_NO_SYMLINKS to refuse every symlink, not only
  // the ones that lead outside.
  uint64_t resolve = RESOLVE_NO_MAGICLINKS;
  bool create = false;      // make missing components as directories (0755) ...
  bool lastIsFile = false;  // ... and the last one as an empty file (0644) instead
};

// Opens rel ("a/b", a leading "/" is ignored) strictly beneath the directory rootFd as an O_PATH
// fd. A symlink or ".." that leads outside is refused ("<display> leads outside through a symlink
// or \"..\"; refused", EXDEV), as is any symlink with RESOLVE_NO_SYMLINKS ("<display> passes
// through a symlink; refused", ELOOP). Created components never follow a symlink either.
Result<Fd> openBeneath(int rootFd, const std::string& rel, const BeneathOptions& options,
                       const std::string& display);

// The ID of the mount fd is on, from /proc/self/fdinfo/N: read without calling into the
// filesystem, so a dead FUSE mount can neither hang nor fool it.
Result<uint64_t> mountIdOf(int fd);

// Whether the O_PATH fd names the root of a mount: its mount ID differs from its parent's
// (parentFd, the directory it was opened from).
Result<bool> isMountRoot(int fd, int parentFd);

}  // namespace boxd
