// Step "poddir": the pod's private directory (pods/<uid>), home of its overlay layers and
// emptyDir volumes.
//   params  {"path": "/var/lib/boxd/pods/<uid>"}
//   apply   mkdir -p, mode 0700
//   undo    rm -rf that refuses to cross a mount point (a still-mounted rootfs or volume makes
//           undo fail instead of deleting what is mounted there)
//   observe the directory exists
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/step.h"

namespace boxd::reconcilers {

class PodDirStep : public Step {
 public:
  explicit PodDirStep(std::string path);
  static Result<std::unique_ptr<PodDirStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "poddir"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override { return {{"path", path_}}; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  std::string path_;
};

}  // namespace boxd::reconcilers
