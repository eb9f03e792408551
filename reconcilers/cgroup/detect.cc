#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"

namespace boxd::reconcilers {

Result<std::unique_ptr<Cgroups>> detectCgroups(std::string root, std::shared_ptr<CgroupFs> fs) {
  if (!fs) fs = kernelCgroupFs();
  if (fs->fileExists(root + "/cgroup.controllers"))
    return makeCgroupsV2(std::move(root), std::move(fs));
  auto v1 = makeCgroupsV1(root, {"memory", "cpu", "pids"}, fs);
  if (v1->missingControllers().size() == 3)
    return makeError("detect cgroups under " + root +
                         ": neither a cgroup2 mount (no cgroup.controllers) nor v1 " +
                         "memory/cpu/pids hierarchies",
                     ENOENT);
  return v1;
}

}  // namespace boxd::reconcilers
