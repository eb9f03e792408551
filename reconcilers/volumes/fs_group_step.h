// fsgroup: a volume's files given to the pod's fsGroup (fs_group.h) before its containers start,
// as kubelet does when it sets a volume up. Planned after the emptyDir or block filesystem it
// walks (agent/pod_plan.cc); config volumes get their group when written (agent/config_volumes.h)
// and hostPath volumes are never changed.
//
//   open the volume root (boxd's own path: <pod dir>/volumes/<name> or the block mount; the last
//   component O_NOFOLLOW) ──► OnRootMismatch and the root fits? ──yes──► skipped
//        │ no (or Always)
//        ▼
//   walk beneath the root fd (bounded: too many entries or levels fail the step, so the pod)
//
// undo changes nothing back (neither does Kubernetes); the volume's own step removes what is
// the pod's. params() after apply holds "result", what describe shows.
#pragma once

#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/step.h"
#include "reconcilers/volumes/fs_group.h"

namespace boxd::reconcilers {

class FsGroupStep : public Step {
 public:
  // maxEntries: the walk's bound (fs_group.h), in params only when not the default.
  FsGroupStep(std::string path, std::string volume, gid_t gid, bool readOnly, bool onRootMismatch,
              size_t maxEntries = FsGroupOptions{}.maxEntries);
  static Result<std::unique_ptr<FsGroupStep>> fromParams(const nlohmann::json& params, Host& host);
  std::string kind() const override { return "fsgroup"; }
  std::string resource() const override { return path_; }
  nlohmann::json params() const override;
  Result<bool> observe() override { return true; }  // a change made once, nothing to lose
  Status apply() override;
  Status undo() override { return {}; }

 private:
  std::string path_, volume_;
  gid_t gid_;
  bool readOnly_, onRootMismatch_;
  size_t maxEntries_;
  std::string result_;
};

}  // namespace boxd::reconcilers
