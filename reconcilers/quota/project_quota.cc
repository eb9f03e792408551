#include "reconcilers/quota/project_quota.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

#ifdef SYS_quotactl_fd
constexpr long kQuotactlFd = SYS_quotactl_fd;
#else
constexpr long kQuotactlFd = 443;  // the same number on every architecture (Linux 5.14)
#endif

std::string fdName(int fd) { return "fd " + std::to_string(fd); }

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

bool isPathOrParent(const std::string& mountPoint, const std::string& path) {
  if (mountPoint == "/" || mountPoint == path) return true;
  return startsWith(path, mountPoint + "/");
}

bool hasOption(const std::string& options, const std::string& want) {
  for (const auto& o : split(options, ',')) {
    if (o == want) return true;
  }
  return false;
}

}  // namespace

RealProjectQuotaSys::RealProjectQuotaSys(Fd fsFd, std::string device)
    : fsFd_(std::move(fsFd)), device_(std::move(device)) {
  struct statfs sf {};
  if (::fstatfs(fsFd_.get(), &sf) == 0 && sf.f_bsize > 0) blockSize_ = sf.f_bsize;
}

Result<std::unique_ptr<RealProjectQuotaSys>> RealProjectQuotaSys::open(const std::string& dir,
                                                                       const std::string& device) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open", dir);
  return std::make_unique<RealProjectQuotaSys>(std::move(fd), device);
}

Result<ProjectAttr> RealProjectQuotaSys::getProject(int dirFd) {
  fsxattr attr{};
  if (::ioctl(dirFd, FS_IOC_FSGETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSGETXATTR", fdName(dirFd));
  return ProjectAttr{attr.fsx_projid, (attr.fsx_xflags & FS_XFLAG_PROJINHERIT) != 0};
}

Status RealProjectQuotaSys::setProject(int dirFd, const ProjectAttr& want) {
  fsxattr attr{};
  if (::ioctl(dirFd, FS_IOC_FSGETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSGETXATTR", fdName(dirFd));
  attr.fsx_projid = want.projectId;
  if (want.inherit)
    attr.fsx_xflags |= FS_XFLAG_PROJINHERIT;
  else
    attr.fsx_xflags &= ~static_cast<uint32_t>(FS_XFLAG_PROJINHERIT);
  if (::ioctl(dirFd, FS_IOC_FSSETXATTR, &attr) != 0)
    return sysError("FS_IOC_FSSETXATTR project " + std::to_string(want.projectId), fdName(dirFd));
  return {};
}

int RealProjectQuotaSys::quotactl(unsigned cmd, uint32_t id, void* addr) {
  const unsigned qcmd = QCMD(cmd, PRJQUOTA);
  int rc = static_cast<int>(::syscall(kQuotactlFd, fsFd_.get(), qcmd, id, addr));
  if (rc != 0 && errno == ENOSYS && !device_.empty() && device_[0] == '/')
    rc = static_cast<int>(::syscall(SYS_quotactl, qcmd, device_.c_str(), id, addr));
  return rc;
}

Result<ProjectQuotaUsage> RealProjectQuotaSys::getQuota(uint32_t projectId) {
  if_dqblk q{};
  if (quotactl(Q_GETQUOTA, projectId, &q) != 0)
    return sysError("quotactl Q_GETQUOTA project " + std::to_string(projectId), "pods filesystem");
  return ProjectQuotaUsage{static_cast<int64_t>(q.dqb_curspace),
                           static_cast<int64_t>(q.dqb_bhardlimit) * 1024};
}

Status RealProjectQuotaSys::setLimit(uint32_t projectId, int64_t hardLimitBytes) {
  if_dqblk q{};
  q.dqb_bhardlimit = static_cast<uint64_t>((hardLimitBytes + 1023) / 1024);
  q.dqb_bsoftlimit = 0;
  q.dqb_valid = QIF_BLIMITS;
  if (quotactl(Q_SETQUOTA, projectId, &q) != 0)
    return sysError("quotactl Q_SETQUOTA project " + std::to_string(projectId), "pods filesystem");
  return {};
}

// ---- detection --------------------------------------------------------------------------------

std::optional<MountEntry> mountOf(const std::string& mountinfo, unsigned major, unsigned minor,
                                  const std::string& path) {
  std::optional<MountEntry> found;
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    auto fields = split(line, ' ');
    if (fields.size() < 10) continue;
    size_t dash = 6;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 3 >= fields.size()) continue;
    MountEntry e;
    if (std::sscanf(fields[2].c_str(), "%u:%u", &e.major, &e.minor) != 2) continue;
    if (e.major != major || e.minor != minor) continue;
    e.mountPoint = unescapeMountField(fields[4]);
    if (!isPathOrParent(e.mountPoint, path)) continue;
    e.fsType = fields[dash + 1];
    e.source = unescapeMountField(fields[dash + 2]);
    e.superOptions = fields[dash + 3];
    found = std::move(e);
  }
  return found;
}

bool superOptionsEnforceProjectQuota(const std::string& fsType, const std::string& superOptions) {
  if (fsType == "ext4") return hasOption(superOptions, "prjquota");
  if (fsType == "xfs")
    return hasOption(superOptions, "prjquota") || hasOption(superOptions, "pquota");
  return false;
}

QuotaSupport detectProjectQuota(const std::optional<MountEntry>& mount, ProjectQuotaSys* sys) {
  if (!mount) return {false, "the pods dir's mount is not in mountinfo"};
  const std::string where = mount->fsType + " on " + mount->source + " (" + mount->mountPoint + ")";
  if (mount->fsType != "ext4" && mount->fsType != "xfs")
    return {false, where + " has no project quotas (ext4 or xfs only)"};
  if (!superOptionsEnforceProjectQuota(mount->fsType, mount->superOptions))
    return {false, where + " is not mounted with prjquota"};
  if (sys == nullptr) return {false, where + ": no quota interface"};
  auto probe = sys->getQuota(0);
  if (probe.ok() || probe.error().code == ENOENT)
    return {true, mount->fsType + " prjquota on " + mount->source + " (" + mount->mountPoint + ")"};
  const int code = probe.error().code;
  std::string why = code == ESRCH    ? "project quotas are off (ESRCH)"
                    : code == ENOSYS ? "the kernel has no quotactl (ENOSYS)"
                    : code == EINVAL ? "the kernel refuses project quotas there (EINVAL)"
                                     : probe.error().message;
  return {false, where + " is mounted with prjquota, but Q_GETQUOTA fails: " + why};
}

QuotaSupport detectProjectQuotaAt(const std::string& dir, ProjectQuotaSys* sys,
                                  const std::string& mountinfoPath) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return {false, sysError("stat", dir).message};
  auto info = readFile(mountinfoPath);
  if (!info.ok()) return {false, info.error().message};
  return detectProjectQuota(mountOf(*info, major(st.st_dev), minor(st.st_dev), dir), sys);
}

}  // namespace boxd::reconcilers
