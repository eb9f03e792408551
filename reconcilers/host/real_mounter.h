// Mounter over mount(2)/umount2(2). Mount points are judged by mount IDs, never by path strings:
// target is opened without following any symlink (openat2 RESOLVE_NO_SYMLINKS), and it is a
// mount point when the mount ID of what it names differs from its parent directory's. The IDs
// come from /proc/self/fdinfo, read without calling into the filesystem, so a dead FUSE mount
// can neither hang nor fool the check.
//
// Targets must lie in boxd's own directories (a rootfs mount point, an emptyDir, a block
// volume's mount): a path through a tree a container writes is never passed here (volumes are
// mounted in the containers' own namespaces, agent/shim/mounts.h). A symlink anywhere in the
// path is refused rather than followed.
#pragma once

#include <string>

#include "reconcilers/host/mounter.h"

namespace boxd::reconcilers {

class RealMounter : public Mounter {
 public:
  Status mount(const std::string& source, const std::string& target, const std::string& fstype,
               unsigned long flags, const std::string& data) override;
  // Nothing mounted on target (or no target) is success; the check comes first, so umount2 only
  // ever sees a mount point reached without a symlink.
  Status unmount(const std::string& target, bool detach = false) override;
  // Absolute targets only; "//", "/." and a trailing "/" are fine, ".." is refused.
  Result<bool> isMountPoint(const std::string& target) override;
};

// "/a//b/./c/" -> "/a/b/c". Does not touch "..", does not look at the filesystem.
std::string normalizeMountPath(const std::string& path);

}  // namespace boxd::reconcilers
