// fsGroup ownership of a volume, as kubelet's SetVolumeOwnership: every file's group becomes
// the pod's fsGroup, files get group read (and write unless the volume is read-only),
// directories group read/execute (and write) plus setgid, so what containers create later
// inherits the group. Not wired into the volume steps yet (the spec still refuses fsGroup).
//
// The walk runs on the host over a tree a container can write, so it never resolves a path
// through it: each entry is opened O_PATH|O_NOFOLLOW beneath the fd of its directory, changed
// through that fd (fchownat AT_EMPTY_PATH; chmod through /proc/self/fd/N, never a symlink's
// target), directories are descended through the fd they were opened as, other filesystems
// mounted inside are not entered, and the walk is bounded in depth and entries.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct FsGroupOptions {
  gid_t gid = 0;
  bool readOnly = false;        // configMap / secret / downwardAPI / projected: no group write
  bool onRootMismatch = false;  // fsGroupChangePolicy OnRootMismatch: skip when the root fits
  size_t maxEntries = 1000000;  // more is an error, not a partial walk passed off as done
  int maxDepth = 128;
};

struct FsGroupResult {
  bool skipped = false;  // OnRootMismatch and the root already fits
  size_t entries = 0;    // files and directories changed, the root included
};

// rootDirFd: the volume's directory, opened O_RDONLY|O_DIRECTORY. display names it in errors.
Result<FsGroupResult> applyFsGroup(int rootDirFd, const FsGroupOptions& o,
                                   const std::string& display);

// Whether the root already has the group and the bits applyFsGroup gives (kubelet's check for
// OnRootMismatch).
bool fsGroupRootFits(int rootDirFd, const FsGroupOptions& o);

}  // namespace boxd::reconcilers
