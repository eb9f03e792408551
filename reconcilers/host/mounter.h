// Mounting, behind an interface so rollback logic is tested with a recording fake.
#pragma once

#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

class Mounter {
 public:
  virtual ~Mounter() = default;
  virtual Status mount(const std::string& source, const std::string& target,
                       const std::string& fstype, unsigned long flags, const std::string& data) = 0;
  // Unmounts target; absent mount = success. detach = MNT_DETACH.
  virtual Status unmount(const std::string& target, bool detach = false) = 0;
  // Whether something is mounted on target, judged by mount IDs (never a path string compare,
  // never stat: a dead FUSE mount makes stat lie).
  virtual Result<bool> isMountPoint(const std::string& target) = 0;
};

}  // namespace boxd::reconcilers
