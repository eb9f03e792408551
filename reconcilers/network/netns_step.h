// Step "netns": a network namespace pinned at a path, so it outlives every process in it (a shim
// restart keeps the pod's network; the shim setns()es into it).
//   params  {"path": "/run/boxd/netns/<uid>"}
//   apply   create the file, unshare(CLONE_NEWNET) on the calling thread, bind-mount
//           /proc/thread-self/ns/net onto the file, return the thread to its own namespace
//           (RAII); then bring `lo` up inside. Already pinned: only `lo` is brought up.
//   observe the path is an nsfs mount
//   undo    umount2(MNT_DETACH) and unlink; absent = ok. The namespace itself goes away when the
//           last process in it exits (its veth peers with it).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/step.h"

namespace boxd::reconcilers {

class NetnsStep : public Step {
 public:
  explicit NetnsStep(std::string path);
  static Result<std::unique_ptr<NetnsStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "netns"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override { return {{"path", path_}}; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  Status pin();
  std::string path_;
};

}  // namespace boxd::reconcilers
