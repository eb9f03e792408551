// The journaled step runner: applies a pod's plan one step at a time and undoes it.
//
//   loop thread                          blocking thread
//   journal intent (durable) ──────────► step.apply()
//   journal done  ◄───────────────────── ok
//   ... next step ...
//   failure: undo every journaled step of the pod in reverse — the failed one too, since it
//   may have half-applied ("maybe applied") — and report the first error.
//
// Steps are materialized from (kind, params) by a factory, the same path crash recovery takes,
// so the journal alone can always undo what a plan did. Only the loop thread touches the store.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/dispatcher.h"
#include "agent/pod_plan.h"
#include "reconcilers/step.h"
#include "state/store.h"

namespace boxd::agent {

// Fault injection for tests, read once from the environment at start:
//   BOXD_FAULT_FAIL_STEP=N           step N (1-based) of every creation reports failure after apply
//   BOXD_FAULT_CRASH_STEP=N[:after]  boxd SIGKILLs itself at step N, with the intent journaled,
//                                    before apply (default) or after apply, before done
//   BOXD_FAULT_CRASH_UNDO=KIND[:after]  boxd SIGKILLs itself when it undoes the first step of that
//                                    kind, before the undo (default) or after it, before the
//                                    journal row is removed
struct FaultInjection {
  int failStep = 0;
  int crashStep = 0;
  bool crashAfterApply = false;
  std::string crashUndoKind;
  bool crashAfterUndo = false;
  static FaultInjection fromEnv();
};

class StepRunner {
 public:
  using Factory = std::function<Result<std::unique_ptr<reconcilers::Step>>(
      const std::string& kind, const nlohmann::json& params)>;
  // created: the first error of the plan (ok if every step applied); undone: the first error of
  // the rollback (ok when everything done was undone).
  using CreateDone = std::function<void(Status created, Status undone)>;
  using UndoDone = std::function<void(Status undone)>;
  struct Drift {
    std::vector<std::string> absent;    // gone, and the pod must be recreated
    std::vector<std::string> repaired;  // gone, and re-applied in place (repairableInPlace)
  };
  using ObserveDone = std::function<void(Drift drift)>;

  StepRunner(Dispatcher& dispatcher, state::Store& store, Factory factory,
             FaultInjection faults = {});

  // Told (on the loop thread) of every step apply or undo ("apply", "undo") with its duration,
  // and of every rollback of a create with the failed step's kind and why ("apply_failed",
  // "journal_failed", "invalid_step"): the metrics.
  using StepObserver =
      std::function<void(const std::string& kind, const char* op, double seconds, bool ok)>;
  using RollbackObserver = std::function<void(const std::string& kind, const char* reason)>;
  void setObservers(StepObserver steps, RollbackObserver rollbacks) {
    onStep_ = std::move(steps);
    onRollback_ = std::move(rollbacks);
  }

  void create(const std::string& pod, const std::string& uid, std::vector<PlannedStep> plan,
              CreateDone done);
  // Undoes every journal row of the pod, newest first. Rows whose undo fails are kept (to retry).
  void undoAll(const std::string& pod, UndoDone done);
  // Observes every done step of the pod; a step found absent is re-applied in place when it can
  // be (a veth, a pod file) and otherwise reported absent (drift that recreates the pod).
  void observeAll(const std::string& pod, ObserveDone done);

 private:
  struct Run;
  void next(std::shared_ptr<Run> run);
  void fail(std::shared_ptr<Run> run, Error err, const std::string& kind, const char* reason);
  void undoRows(std::string pod, std::vector<state::JournalRow> rows, Status first, UndoDone done);

  Dispatcher& dispatcher_;
  state::Store& store_;
  Factory factory_;
  FaultInjection faults_;
  StepObserver onStep_;
  RollbackObserver onRollback_;
};

}  // namespace boxd::agent
