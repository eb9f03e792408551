// fsGroup ownership of a volume, as kubelet's SetVolumeOwnership: every file's group becomes
// the pod's fsGroup and its mode gains owner and group read and write (read only for a read-only
// volume); directories also gain owner and group search plus setgid, so what containers create
// later inherits the group. Symlinks are left alone (their target is what matters, and it is
// visited where it lies inside the volume). The root is changed last, so a walk cut short
// leaves it unfit and OnRootMismatch walks again next time.
//
// The walk runs on the host over a tree a container can write, so it never resolves a path
// through it: each entry is opened O_PATH|O_NOFOLLOW beneath the fd of its directory, changed
// through that fd (fchownat AT_EMPTY_PATH; chmod through /proc/self/fd/N, which names exactly
// that inode), directories are descended through the fd they were opened as, other filesystems
// mounted inside are not entered, and the walk is bounded in depth and entries: more is an
// error, never a partial walk passed off as done. Hard links cannot bring a host file in: link(2)
// across mounts fails (EXDEV), and a container sees nothing of this filesystem but the volume.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct FsGroupOptions {
  gid_t gid = 0;
  bool readOnly = false;        // a read-only volume: group read, no group write
  bool onRootMismatch = false;  // fsGroupChangePolicy OnRootMismatch: skip when the root fits
  size_t maxEntries = 1000000;
  int maxDepth = 128;
};

struct FsGroupResult {
  bool skipped = false;  // OnRootMismatch and the root already fits
  size_t entries = 0;    // files and directories visited, the root included
};

// rootDirFd: the volume's directory, opened O_RDONLY|O_DIRECTORY. display names it in errors.
Result<FsGroupResult> applyFsGroup(int rootDirFd, const FsGroupOptions& o,
                                   const std::string& display);

// Whether the root already has the group, setgid and the bits applyFsGroup gives (kubelet's
// check for OnRootMismatch).
bool fsGroupRootFits(int rootDirFd, const FsGroupOptions& o);

}  // namespace boxd::reconcilers
