// Pod volumes as steps:
//   emptydir  a directory under the pod dir (or a tmpfs of a given size for medium: Memory) that
//             lives exactly as long as its pod; undo unmounts and removes it.
//   hostpath  checks (and for *OrCreate types creates) a host path; undo leaves host data alone.
// Binding a volume into a container is no step: the shim does it in the container's own mount
// namespace (agent/shim/mounts.h). Journal rows of the former "bind"/"binds" kinds are undone by
// legacy_bind_step.h.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/host/mounter.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

class EmptyDirStep : public Step {
 public:
  EmptyDirStep(Mounter& mounter, std::string path, bool memory, int64_t sizeBytes);
  static Result<std::unique_ptr<EmptyDirStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "emptydir"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  Mounter& mounter_;
  std::string path_;
  bool memory_;
  int64_t sizeBytes_;
};

class HostPathStep : public Step {
 public:
  HostPathStep(std::string path, std::string type);
  static Result<std::unique_ptr<HostPathStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "hostpath"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override { return {{"path", path_}, {"type", type_}}; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override { return {}; }  // host data is never removed

 private:
  std::string path_, type_;
};

}  // namespace boxd::reconcilers
