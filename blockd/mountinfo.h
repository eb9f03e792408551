// /proc/self/mountinfo, parsed: the only trustworthy view of FUSE mounts (stat and mountpoint(1)
// fail with ENOTCONN on a dead FUSE mount), and the FUSE connection number (fusectl) of a mount.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd::blockd {

struct MountEntry {
  int mountId = 0;
  unsigned major = 0, minor = 0;  // st_dev; for FUSE the minor is the fusectl connection number
  std::string mountPoint;         // unescaped (\040 → ' ')
  std::string fsType;             // "fuse", "fuse.boxd-blockd", "ext4", ...
  std::string source;
};

std::vector<MountEntry> parseMountInfo(std::string_view text);
Result<std::vector<MountEntry>> readMountInfo(const std::string& path = "/proc/self/mountinfo");

// The topmost mount exactly at `path`, if any.
std::optional<MountEntry> mountAt(const std::vector<MountEntry>& mounts, const std::string& path);

inline bool isFuse(const MountEntry& m) {
  return m.fsType == "fuse" || m.fsType == "fuseblk" || m.fsType.rfind("fuse.", 0) == 0;
}

// Aborts FUSE connection `minor` through fusectl (mounting /sys/fs/fuse/connections first if it
// is not): every pending and future request of that mount fails at once.
Status abortFuseConnection(unsigned minor);

}  // namespace boxd::blockd
