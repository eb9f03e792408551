// Step "rootfs": a container's root filesystem, an overlay of the image's layers (read-only
// lowers, top layer first) and a per-container upper/work pair.
//
//   apply:  mkdir upper, work, target ──► mount overlay on target (skipped if mounted)
//   undo:   unmount target (EBUSY: retry, then MNT_DETACH and report it) ──► rmdir target
//           (upper and work stay: they belong to the pod dir, removed by the poddir step)
//
//   params  {"lowers": [top, ..., bottom], "upper": .., "work": .., "target": ..}  (absolute
//           paths; rows journaled before layers hold one "lower"), and "image": the id of the
//           image the container started from, "container": its name (what a restarted boxd
//           reads back to keep running pods on the image they started with)
//
// mount(2) takes options in one page: options longer than that (an image of more than ~38
// layers with the default state dir) are mounted by RealMounter with the new mount API, one
// "lowerdir+" per layer (Linux 6.8+); overlayfs itself stacks at most kMaxLayers.
//   observe target is a mount point (mountinfo, via the Mounter)
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/host/mounter.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

struct OverlayPaths {
  std::vector<std::string> lowers;  // the image's layer trees, top first
  std::string upper;
  std::string work;
  std::string target;
  std::string image;      // the image id, recorded only
  std::string container;  // the container's name, recorded only
};

// overlayfs' own limit on lower layers (OVL_MAX_STACK).
constexpr size_t kMaxLayers = 500;

// "lowerdir=L1:L2,upperdir=U,workdir=W"; fails for paths that are not absolute or that hold
// characters overlayfs options cannot carry unescaped (',' ':' '\\' and newlines), and for
// more than kMaxLayers lowers.
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
