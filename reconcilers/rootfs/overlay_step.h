// Step "rootfs": a container's root filesystem, an overlay of the image rootfs (read-only lower)
// and a per-container upper/work pair.
//
//   apply:  mkdir upper, work, target ──► mount overlay on target (skipped if mounted)
//   undo:   unmount target (EBUSY: retry, then MNT_DETACH and report it) ──► rmdir target
//           (upper and work stay: they belong to the pod dir, removed by the poddir step)
//
//   params  {"lower": .., "upper": .., "work": .., "target": ..}   (absolute paths)
//   observe target is a mount point (mountinfo, via the Mounter)
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/host/mounter.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

struct OverlayPaths {
  std::string lower;  // the image's rootfs directory
  std::string upper;
  std::string work;
  std::string target;
};

// "lowerdir=L,upperdir=U,workdir=W"; fails for paths that are not absolute or that hold
// characters overlayfs options cannot carry unescaped (',' ':' '\\' and newlines).
Result<std::string> overlayOptions(const OverlayPaths& paths);

// How undo treats a busy overlay before detaching it lazily.
struct UnmountRetry {
  int attempts = 3;   // extra unmount attempts after EBUSY
  int delayMs = 100;  // between attempts
};

class OverlayStep : public Step {
 public:
  OverlayStep(Mounter& mounter, OverlayPaths paths, UnmountRetry retry = UnmountRetry{});
  static Result<std::unique_ptr<OverlayStep>> fromParams(const nlohmann::json& params, Host& host);

  std::string kind() const override { return "rootfs"; }
  std::string resource() const override { return paths_.target; }
  nlohmann::json params() const override;
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  // Unmounts target; on persistent EBUSY detaches lazily and returns the note to report.
  Result<std::string> unmountTarget();

  Mounter& mounter_;
  OverlayPaths paths_;
  UnmountRetry retry_;
};

}  // namespace boxd::reconcilers
