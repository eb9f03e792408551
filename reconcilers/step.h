// One host mutation of a pod's plan, with its compensation. Every reconciler exposes its work
// as Steps; the agent journals each one (intent before apply, done after) and undoes the done
// ones in reverse when a later step fails, when the pod is deleted, or after a crash.
//
// Rules every Step follows:
//  - apply() is idempotent: it observes first and does nothing when the resource is already
//    there ("already mounted" is success).
//  - undo() is idempotent: undoing what is absent is success. It must work from params() alone,
//    as rebuilt by stepFromJournal() after a restart, possibly after a reboot (then the kernel
//    objects are gone and only files on disk remain).
//  - params() returns everything undo needs; after apply() it may hold more (a pid).
//  - Blocking: apply/undo run on a worker thread, never on the event loop.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct Host;

class Step {
 public:
  virtual ~Step() = default;
  virtual std::string kind() const = 0;      // "poddir", "cgroup", "rootfs", "shim"
  virtual std::string resource() const = 0;  // the path or object, for describe and messages
  virtual nlohmann::json params() const = 0;
  virtual Result<bool> observe() = 0;  // is the resource present on the host?
  virtual Status apply() = 0;
  virtual Status undo() = 0;
  // True when apply() on a running pod restores a resource found absent (drift) without
  // disturbing its containers: a veth, a file. Otherwise drift recreates the whole pod.
  virtual bool repairableInPlace() const { return false; }
};

// Rebuilds a step from a journal row (kind + params) so it can be undone or observed.
Result<std::unique_ptr<Step>> stepFromJournal(const std::string& kind, const nlohmann::json& params,
                                              Host& host);

}  // namespace boxd::reconcilers
