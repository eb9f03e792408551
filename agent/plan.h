// `boxctl plan`: what boxd would do if a directory became the desired state. Pure.
//
// The decision per pod is podAction, the same function the agent's reconcile takes its decision
// from, so plan and apply cannot disagree. A replaced pod carries the fields that differ (JSON
// pointer paths as field paths, "containers[0].image") and a unified diff of its canonical spec
// (specs::toJson, as recorded) against the new one. Secrets are compared by value and reported
// by name only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "agent/desired.h"

namespace boxd::agent {

enum class PodAction { Keep, Create, Replace, Delete };
const char* toString(PodAction a);

// running: the pod as recorded (nullptr if boxd has none by that name); needsTeardown: its
// incarnation must be torn down (a failed rollback, drift, an interrupted create); want: the
// desired pod (nullptr if no spec declares it).
PodAction podAction(bool running, bool needsTeardown, const std::string& recordedHash,
                    const DesiredPod* want);

struct RunningPod {
  specs::PodSpec spec;
  std::string specHash, sourceFile;
  bool needsTeardown = false;
};

struct PodChange {
  std::string name;
  PodAction action = PodAction::Keep;
  std::string sourceFile;           // of the desired pod, or of the recorded one when deleted
  std::vector<std::string> fields;  // replaced: the fields that differ
  std::string diff;                 // replaced: unified diff of the canonical specs
};

struct SecretChange {
  std::string name;
  std::string action;  // "added", "changed", "removed"
  std::string sourceFile;
};

struct PlanChanges {
  std::vector<PodChange> pods;  // every pod, by name, unchanged ones too
  std::vector<SecretChange> secrets;
  bool changes() const;
};

PlanChanges planChanges(const std::map<std::string, RunningPod>& running,
                        const std::map<std::string, DesiredSecret>& currentSecrets,
                        const Desired& next);

// A unified diff (---/+++ headers, @@ hunks, `context` lines around each change) of two texts,
// line by line; "" when they are equal.
std::string unifiedDiff(const std::string& a, const std::string& b, const std::string& aName,
                        const std::string& bName, int context = 3);

}  // namespace boxd::agent
