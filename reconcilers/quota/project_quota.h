// Project quotas (ext4 made with `-O quota,project` and mounted `prjquota`; xfs mounted
// `prjquota`/`pquota`): a directory tagged with a project ID, with the inherit flag, makes
// everything created beneath it carry the same ID; the filesystem counts that ID's blocks as they
// are written and refuses (EDQUOT) a write past its hard limit.
//
// ProjectQuotaSys is the kernel interface, narrow on purpose, with a real implementation here and
// a recording fake for unit tests (tests/fakes/fake_project_quota.h):
//   getProject / setProject  FS_IOC_FSGETXATTR / FS_IOC_FSSETXATTR (fsx_projid, PROJINHERIT) on
//                            a directory fd the caller opened beneath the pod dir
//                            (O_DIRECTORY|O_NOFOLLOW): never a path a container can write
//   getQuota / setLimit      quotactl_fd(2) (Linux 5.14) on the filesystem boxd's pods live on,
//                            or quotactl(2) on its device where quotactl_fd is missing:
//                            Q_GETQUOTA / Q_SETQUOTA of type PRJQUOTA
//
// Detection (detectProjectQuota): the pods dir's filesystem has project quotas when its
// mountinfo super options say so (ext4 "prjquota"; xfs "prjquota" or "pquota") and a Q_GETQUOTA
// probe answers. Otherwise boxd measures usage by walking (reconcilers/quota/disk_usage.h).
//
// The project-quota path is unit-tested with the fake only: the kernel of this project's test
// host has neither CONFIG_QFMT_V2 nor CONFIG_XFS_QUOTA, so no filesystem there mounts with
// project quotas. tests/privileged/quota_test.cc runs the xattr half (project IDs on a real xfs
// image) and shows that detection reports "no quotas" there.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::reconcilers {

struct ProjectAttr {
  uint32_t projectId = 0;
  bool inherit = false;  // FS_XFLAG_PROJINHERIT
};

struct ProjectQuotaUsage {
  int64_t bytes = 0;           // dqb_curspace
  int64_t hardLimitBytes = 0;  // dqb_bhardlimit (1 KiB blocks) in bytes; 0 = none
};

class ProjectQuotaSys {
 public:
  virtual ~ProjectQuotaSys() = default;
  virtual Result<ProjectAttr> getProject(int dirFd) = 0;
  // Sets the project ID and the inherit flag, keeping the other flags of the inode.
  virtual Status setProject(int dirFd, const ProjectAttr& attr) = 0;
  virtual Result<ProjectQuotaUsage> getQuota(uint32_t projectId) = 0;
  // The hard block limit of projectId (rounded up to 1 KiB); 0 removes it. No soft limit.
  virtual Status setLimit(uint32_t projectId, int64_t hardLimitBytes) = 0;
  // The filesystem's block size: a project within one block of its hard limit has reached it.
  virtual int64_t blockSize() const { return 4096; }
};

// The real one, on the filesystem fsFd is on (the pods dir). device: the filesystem's source
// from mountinfo, for quotactl(2) where quotactl_fd(2) is missing (ENOSYS); may be empty.
class RealProjectQuotaSys : public ProjectQuotaSys {
 public:
  RealProjectQuotaSys(Fd fsFd, std::string device);
  // Opens dir (O_RDONLY|O_DIRECTORY|O_NOFOLLOW) and reads its block size.
  static Result<std::unique_ptr<RealProjectQuotaSys>> open(const std::string& dir,
                                                           const std::string& device);
  Result<ProjectAttr> getProject(int dirFd) override;
  Status setProject(int dirFd, const ProjectAttr& attr) override;
  Result<ProjectQuotaUsage> getQuota(uint32_t projectId) override;
  Status setLimit(uint32_t projectId, int64_t hardLimitBytes) override;
  int64_t blockSize() const override { return blockSize_; }

 private:
  int quotactl(unsigned cmd, uint32_t id, void* addr);

  Fd fsFd_;
  std::string device_;
  int64_t blockSize_ = 4096;
};

// ---- detection --------------------------------------------------------------------------------

struct MountEntry {
  unsigned major = 0, minor = 0;
  std::string mountPoint;
  std::string fsType;
  std::string source;
  std::string superOptions;
};

// The mount of /proc/self/mountinfo content that holds path on device major:minor: the last
// (topmost) entry of that device whose mount point is path or one of its parents.
std::optional<MountEntry> mountOf(const std::string& mountinfo, unsigned major, unsigned minor,
                                  const std::string& path);

// Whether the super options turn project quota enforcement on: ext4 "prjquota"; xfs "prjquota"
// or "pquota" (xfs shows "pqnoenforce" for accounting alone: no hard limit, so not enough).
bool superOptionsEnforceProjectQuota(const std::string& fsType, const std::string& superOptions);

struct QuotaSupport {
  bool enabled = false;
  // Enabled: "xfs prjquota on /dev/sdb1 (/var/lib/boxd)". Not: why, in a sentence.
  std::string detail;
};

// Judges mount (the pods dir's, or none) and, when its options enable project quotas, probes
// Q_GETQUOTA of project 0 through sys: an answer (or ENOENT: no such dquot yet) means quotas
// work; ESRCH (off), ENOSYS (no quotactl), EINVAL, EOPNOTSUPP or any other error means the
// measured path stays, with the reason in detail.
QuotaSupport detectProjectQuota(const std::optional<MountEntry>& mount, ProjectQuotaSys* sys);

// Reads /proc/self/mountinfo for dir's mount (stat's st_dev), then as above.
QuotaSupport detectProjectQuotaAt(const std::string& dir, ProjectQuotaSys* sys,
                                  const std::string& mountinfoPath = "/proc/self/mountinfo");

}  // namespace boxd::reconcilers
