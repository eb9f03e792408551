// Step "projquota": a project quota over directories of a pod (a container's overlay upper and
// work dirs, or a disk emptyDir), where the pods' filesystem has project quotas
// (reconcilers/quota/project_quota.h).
//
//   apply:  open the pod dir, then each dir beneath it (openat2 RESOLVE_BENEATH |
//           RESOLVE_NO_SYMLINKS; made with its mode when missing) ──► FS_IOC_FSSETXATTR
//           project ID + PROJINHERIT on each (skipped when already so) ──► Q_SETQUOTA hard
//           block limit of the ID = limitBytes
//   undo:   Q_SETQUOTA limit 0 (quotas gone since: nothing to clear) ──► remove each dir
//           (rm -rf that never crosses a mount), so no inode carries the ID any more when the
//           journal row goes, which is what frees the ID for another pod
//   observe each dir is there and carries the ID with PROJINHERIT (a re-tagged dir is drift)
//
//   params  {"podDir": "/var/lib/boxd/pods/<uid>", "projectId": N, "limitBytes": N,
//            "owner": "container app" | "emptyDir scratch",
//            "dirs": [{"path": "containers/app/upper", "mode": 493}, ...]}   (paths relative to
//            podDir; mode only for a dir the step makes)
//
// The step sits before the container's rootfs step (so upper and work carry the ID before the
// overlay is mounted: overlayfs renames from work into upper, which the filesystem refuses
// across projects) and after an emptyDir's own step. Teardown runs in reverse: the overlay is
// unmounted before this undo removes its dirs.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/quota/project_quota.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

struct QuotaDir {
  std::string path;  // relative to the pod dir
  int mode = 0755;   // for a dir the step makes
};

struct ProjectQuotaParams {
  std::string podDir;
  uint32_t projectId = 0;
  int64_t limitBytes = 0;
  std::string owner;
  std::vector<QuotaDir> dirs;
};

nlohmann::json projectQuotaParamsToJson(const ProjectQuotaParams& p);
Result<ProjectQuotaParams> projectQuotaParamsFromJson(const nlohmann::json& j);

class ProjectQuotaStep : public Step {
 public:
  ProjectQuotaStep(ProjectQuotaSys& sys, ProjectQuotaParams params);
  static Result<std::unique_ptr<ProjectQuotaStep>> fromParams(const nlohmann::json& params,
                                                              Host& host);

  std::string kind() const override { return "projquota"; }
  std::string resource() const override;
  nlohmann::json params() const override { return projectQuotaParamsToJson(p_); }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  ProjectQuotaSys& sys_;
  ProjectQuotaParams p_;
};

}  // namespace boxd::reconcilers
