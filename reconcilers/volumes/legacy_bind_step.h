// Journal rows of kinds "bind" and "binds", written by a boxd from before volumes and pod files
// were mounted in the containers' own mount namespaces (agent/shim/mounts.h). A pod created then
// may still run with those binds on the host, inside its containers' rootfs; these steps are
// rebuilt from its journal to undo them, and nothing else:
//   apply    fails: the planner no longer emits these kinds
//   observe  present: the bind lies inside the rootfs, whose own step (and the shim's) judge
//            drift; a path string a container can rename says nothing
//   undo     the rootfs is written by the container, so the recorded path is not trusted: the
//            mount point is resolved again beneath the rootfs with RESOLVE_BENEATH |
//            RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, must be the root of a mount (its mount
//            ID differs from its parent's), and is detached through its fd (/proc/self/fd/N;
//            a plain unmount through an fd would always be busy). A symlink or an escape on the
//            way is refused and reported, never unmounted through: the bind, wherever the
//            container moved it, then goes with the rootfs, whose unmount comes next in the
//            teardown. A path gone (renamed away, or never bound) is nothing to undo.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/step.h"

namespace boxd::reconcilers {

// params {"rootfs", "mountPath", "source", "subPath", "readOnly", "createSubPath", "hostTarget"}
class LegacyBindStep : public Step {
 public:
  LegacyBindStep(nlohmann::json params, std::string rootfs, std::string mountPath);
  static Result<std::unique_ptr<LegacyBindStep>> fromParams(const nlohmann::json& params, Host&);
  std::string kind() const override { return "bind"; }
  std::string resource() const override;
  nlohmann::json params() const override { return params_; }
  Result<bool> observe() override { return true; }
  Status apply() override;
  Status undo() override;

 private:
  nlohmann::json params_;
  std::string rootfs_, mountPath_;
};

// params {"binds": [<bind params>, ...]}: undone in reverse, every one tried, the first error kept.
class LegacyBindsStep : public Step {
 public:
  explicit LegacyBindsStep(std::vector<std::unique_ptr<LegacyBindStep>> binds)
      : binds_(std::move(binds)) {}
  static Result<std::unique_ptr<LegacyBindsStep>> fromParams(const nlohmann::json& params,
                                                             Host& host);
  std::string kind() const override { return "binds"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override { return true; }
  Status apply() override;
  Status undo() override;

 private:
  std::vector<std::unique_ptr<LegacyBindStep>> binds_;
};

}  // namespace boxd::reconcilers
