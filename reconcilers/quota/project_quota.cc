#include "reconcilers/quota/project_quota.h"

#include <linux/fs.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace boxd::reconcilers {

namespace {

#ifndef SYS_quotactl_fd
constexpr long kQuotactlFd = 443;  // the same number on every architecture
#else
constexpr long kQuotactlFd = SYS_quotactl_fd;
#endif

int quotactlFd(int fd, unsigned cmd, uint32_t id, void* addr) {
  return static_cast<int>(::syscall(kQuotactlFd, fd, cmd, id, addr));
}

unsigned projectCmd(unsigned cmd) { return QCMD(cmd, PRJQUOTA); }

}  // namespace

Result<bool> projectQuotaSupported(int fd) {
  if_dqinfo info{};
  if (quotactlFd(fd, projectCmd(Q_GETINFO), 0, &info) == 0) return true;
  // ESRCH: quotas off for projects; ENOSYS/EOPNOTSUPP/ENOTTY: none on this filesystem or kernel.
  if (errno == ESRCH || errno == ENOSYS || errno == EOPNOTSUPP || errno == ENOTTY ||
      errno == EINVAL || errno == ENOENT)
    return false;
  return sysError("quotactl_fd Q_GETINFO (project)", "fd " + std::to_string(fd));
}

Status assignProject(int dirFd, uint32_t projectId) {
  fsxattr attr{};
  if (::ioctl(dirFd, FS_IOC_FSGETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSGETXATTR", "fd " + std::to_string(dirFd));
  attr.fsx_projid = projectId;
  attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
  if (::ioctl(dirFd, FS_IOC_FSSETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSSETXATTR project " + std::to_string(projectId),
                    "fd " + std::to_string(dirFd));
  return {};
}

Result<uint32_t> projectOf(int fd) {
  fsxattr attr{};
  if (::ioctl(fd, FS_IOC_FSGETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSGETXATTR", "fd " + std::to_string(fd));
  return attr.fsx_projid;
}

Status setProjectLimit(int fd, uint32_t projectId, int64_t bytes) {
  if_dqblk q{};
  q.dqb_bhardlimit = static_cast<uint64_t>((bytes + 1023) / 1024);  // in 1 KiB blocks
  q.dqb_bsoftlimit = 0;
  q.dqb_valid = QIF_BLIMITS;
  if (quotactlFd(fd, projectCmd(Q_SETQUOTA), projectId, &q) != 0)
    return sysError("quotactl_fd Q_SETQUOTA project " + std::to_string(projectId),
                    "fd " + std::to_string(fd));
  return {};
}

Result<int64_t> projectUsage(int fd, uint32_t projectId) {
  if_dqblk q{};
  if (quotactlFd(fd, projectCmd(Q_GETQUOTA), projectId, &q) != 0)
    return sysError("quotactl_fd Q_GETQUOTA project " + std::to_string(projectId),
                    "fd " + std::to_string(fd));
  return static_cast<int64_t>(q.dqb_curspace);
}

}  // namespace boxd::reconcilers
