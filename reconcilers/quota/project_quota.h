// Project quotas (ext4 with the `project` feature mounted `prjquota`, xfs mounted `prjquota`):
// a directory tree tagged with a project ID, whose blocks the filesystem counts as they are
// written and can refuse past a hard limit. The kernel interface, thin: quotactl_fd(2) (Linux
// 5.14) on any fd of the filesystem, and FS_IOC_FSSETXATTR for a directory's project ID with the
// inherit flag, so everything created beneath it carries the same ID.
//
// Where the filesystem has them, this is what a container's writes can be bound and counted
// with, without a walk (agent/ephemeral_storage.h). Not wired into pods yet: the walk is what
// boxd measures with today. tests/privileged/quota_test.cc runs it where the kernel can mount
// xfs or ext4 with prjquota (it skips on this project's test host, whose kernel cannot).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

// Whether project quotas are on for the filesystem fd lives on (accounting at least).
Result<bool> projectQuotaSupported(int fd);

// Tags the directory dirFd (and what is created beneath it from now on) with projectId.
Status assignProject(int dirFd, uint32_t projectId);
Result<uint32_t> projectOf(int fd);

// The hard block limit of projectId on fd's filesystem; 0 removes it.
Status setProjectLimit(int fd, uint32_t projectId, int64_t bytes);

// Bytes the filesystem counts for projectId.
Result<int64_t> projectUsage(int fd, uint32_t projectId);

}  // namespace boxd::reconcilers
