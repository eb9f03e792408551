// The filesystem calls the cgroup code makes, behind a seam.
//
// Design: cgroupfs is not a normal filesystem. mkdir creates the interface files (memory.max,
// cgroup.procs, ...) and rmdir removes a directory that still "contains" them; writing an
// interface file that does not exist is an error, never a create. The kernel implementation
// follows exactly those rules (write = O_WRONLY|O_TRUNC without O_CREAT, remove = rmdir only).
// Unit tests run the same v1/v2 code against a plain temp directory through an emulating
// CgroupFs (tests/fakes/fake_cgroup_fs.h) that creates files on write, removes them on rmdir,
// and merges "+ctrl" writes into cgroup.subtree_control the way the kernel does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

class CgroupFs {
 public:
  virtual ~CgroupFs() = default;
  virtual Result<bool> isDir(const std::string& path) = 0;
  virtual bool fileExists(const std::string& path) = 0;
  // One level; an existing directory is success.
  virtual Status makeDir(const std::string& path) = 0;
  // rmdir; an absent directory is success.
  virtual Status removeDir(const std::string& path) = 0;
  // Names of the subdirectories (child cgroups); absent directory = error ENOENT.
  virtual Result<std::vector<std::string>> childDirs(const std::string& path) = 0;
  virtual Result<std::string> read(const std::string& path) = 0;
  // Writes an existing file (O_WRONLY|O_TRUNC on the kernel).
  virtual Status write(const std::string& path, const std::string& value) = 0;
};

// The real cgroupfs.
std::shared_ptr<CgroupFs> kernelCgroupFs();

}  // namespace boxd::reconcilers
