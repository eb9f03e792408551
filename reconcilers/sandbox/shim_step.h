// Step "shim": the pod's sandbox, a boxd-shim process holding the pod's namespaces.
//   params  {"podName","podUid","socket","pidFile","logFile","hostname","cgroupProcs":[..],
//            "graceSeconds","shimBinary"} and, once applied, {"pid","startTime"}
//   apply   launchShim, unless observe() finds the shim running (then it is adopted)
//   observe the recorded pid is alive with the recorded start time; or, without one, the
//           pidfile's pid is alive and its command line names this socket
//   undo    {"op":"shutdown"} with the grace period when the socket answers; otherwise SIGKILL
//           the identified shim (never a recycled pid), whose containers die with it
//           (PDEATHSIG); wait (bounded) until it is gone; remove socket + pidfile.
//           An absent shim is success.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "reconcilers/sandbox/shim_launcher.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

class ShimStep : public Step {
 public:
  static constexpr int kGoneTimeoutMs = 5000;    // for the shim process to disappear
  static constexpr int kClientTimeoutMs = 3000;  // margin on top of the grace period

  ShimStep(ShimConfig config, int graceSeconds, ShimIdentity recorded = {});
  // An empty "shimBinary" falls back to host.paths.shimBinary.
  static Result<std::unique_ptr<ShimStep>> fromParams(const nlohmann::json& params, Host& host);
  static Result<std::unique_ptr<ShimStep>> fromParams(const nlohmann::json& params);

  std::string kind() const override { return "shim"; }
  std::string resource() const override { return config_.socketPath; }
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

  const ShimIdentity& identity() const { return id_; }
  const ShimConfig& config() const { return config_; }

 private:
  std::optional<ShimIdentity> findRunning() const;

  ShimConfig config_;
  int graceSeconds_;
  ShimIdentity id_;
};

// The journal factory: nullptr when params lack "socket" or "pidFile" or have wrong types.
std::unique_ptr<Step> shimStepFromParams(const nlohmann::json& params);

}  // namespace boxd::reconcilers
