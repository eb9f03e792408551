// Mounter over mount(2)/umount2(2); mount points are looked up in mountinfo with libmount.
#pragma once

#include <string>

#include "reconcilers/host/mounter.h"

namespace boxd::reconcilers {

class RealMounter : public Mounter {
 public:
  // mountinfo: the table isMountPoint() reads; tests may point it at a file.
  explicit RealMounter(std::string mountinfo = "/proc/self/mountinfo");

  Status mount(const std::string& source, const std::string& target, const std::string& fstype,
               unsigned long flags, const std::string& data) override;
  // EINVAL/ENOENT from umount2 count as success when mountinfo confirms nothing is mounted there.
  Status unmount(const std::string& target, bool detach = false) override;
  // Targets are compared as strings after lexical normalization ("//" and "/." collapse,
  // trailing "/" drops); symlinks are not resolved, so pass canonical absolute paths.
  Result<bool> isMountPoint(const std::string& target) override;

 private:
  std::string mountinfo_;
};

// "/a//b/./c/" -> "/a/b/c". Does not touch "..", does not look at the filesystem.
std::string normalizeMountPath(const std::string& path);

}  // namespace boxd::reconcilers
