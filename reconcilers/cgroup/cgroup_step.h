// Step "cgroup": a pod's (or container's) cgroup with its limits.
//   params  {"rel": "boxd/web-1a2b", "limits": {"memoryBytes": .., "cpuLimitMilli": ..,
//            "cpuRequestMilli": .., "pidsMax": ..}}   (absent limit = key omitted)
//   apply   create the directories and write the limits (idempotent)
//   undo    killAll(rel, 5 s), then remove the directories deepest first
//   observe every controller's directory exists
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/cgroup/cgroups.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

nlohmann::json cgroupLimitsToJson(const CgroupLimits& limits);
Result<CgroupLimits> cgroupLimitsFromJson(const nlohmann::json& j);

class CgroupStep : public Step {
 public:
  static constexpr int kKillTimeoutMs = 5000;

  CgroupStep(Cgroups& cgroups, std::string rel, CgroupLimits limits);
  static Result<std::unique_ptr<CgroupStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "cgroup"; }
  std::string resource() const override;
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  Cgroups& cgroups_;
  std::string rel_;
  CgroupLimits limits_;
};

}  // namespace boxd::reconcilers
