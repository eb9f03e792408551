#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"

namespace boxd::reconcilers {

Result<std::unique_ptr<Cgroups>> detectCgroups(std::string root, std::shared_ptr<CgroupFs> fs) {
  if (!fs) fs = kernelCgroupFs();
  if (fs->fileExists(root + "/cgroup.controllers"))
    return makeCgroupsV2(std::move(root), std::move(fs));
  // cpuacct: CPU usage for boxctl top and the metrics (on most hosts the same hierarchy as cpu).
  const std::vector<std::string> controllers = {"memory", "cpu", "cpuacct", "pids"};
  auto v1 = makeCgroupsV1(root, controllers, fs);
  if (v1->missingControllers().size() == controllers.size())
    return makeError("detect cgroups under " + root +
                         ": neither a cgroup2 mount (no cgroup.controllers) nor v1 " +
                         "memory/cpu/pids hierarchies",
                     ENOENT);
  return v1;
}

}  // namespace boxd::reconcilers
