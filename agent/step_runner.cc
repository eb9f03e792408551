#include "agent/step_runner.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common/util.h"

namespace boxd::agent {

using state::JournalRow;

FaultInjection FaultInjection::fromEnv() {
  FaultInjection f;
  if (const char* v = std::getenv("BOXD_FAULT_FAIL_STEP")) f.failStep = std::atoi(v);
  if (const char* v = std::getenv("BOXD_FAULT_CRASH_STEP")) {
    f.crashStep = std::atoi(v);
    f.crashAfterApply = std::string(v).find(":after") != std::string::npos;
  }
  if (const char* v = std::getenv("BOXD_FAULT_CRASH_UNDO")) {
    std::string s = v;
    f.crashAfterUndo = s.find(":after") != std::string::npos;
    f.crashUndoKind = s.substr(0, s.find(':'));
  }
  return f;
}

struct StepRunner::Run {
  std::string pod, uid;
  std::vector<PlannedStep> plan;
  size_t i = 0;
  CreateDone done;
};

StepRunner::StepRunner(Dispatcher& dispatcher, state::Store& store, Factory factory,
                       FaultInjection faults)
    : dispatcher_(dispatcher), store_(store), factory_(std::move(factory)), faults_(faults) {}

void StepRunner::create(const std::string& pod, const std::string& uid,
                        std::vector<PlannedStep> plan, CreateDone done) {
  auto run = std::make_shared<Run>();
  run->pod = pod;
  run->uid = uid;
  run->plan = std::move(plan);
  run->done = std::move(done);
  next(run);
}

void StepRunner::next(std::shared_ptr<Run> run) {
  if (run->i == run->plan.size()) return run->done({}, {});
  const PlannedStep& ps = run->plan[run->i];
  const int n = static_cast<int>(run->i) + 1;
  auto built = factory_(ps.kind, ps.params);
  if (!built.ok())
    return fail(run, built.error().wrap("step " + std::to_string(n) + " " + ps.kind), ps.kind,
                "invalid_step");
  std::shared_ptr<reconcilers::Step> step = std::move(*built);
  JournalRow row;
  row.pod = run->pod;
  row.podUid = run->uid;
  row.seq = static_cast<int>(run->i);
  row.kind = ps.kind;
  row.resource = step->resource();
  row.params = ps.params;
  auto id = store_.journalIntent(row);
  if (!id.ok())
    return fail(run, id.error().wrap("journal intent of step " + std::to_string(n)), ps.kind,
                "journal_failed");
  if (faults_.crashStep == n && !faults_.crashAfterApply) ::raise(SIGKILL);
  auto result = std::make_shared<Status>();
  auto tookUs = std::make_shared<int64_t>(0);
  dispatcher_.runBlocking(
      [step, result, tookUs] {
        int64_t t0 = monotonicUs();
        *result = step->apply();
        *tookUs = monotonicUs() - t0;
      },
      [this, run, step, result, tookUs, n, rowId = *id] {
        spdlog::debug("pod {}: step {} {} applied in {} us", run->pod, n, step->kind(), *tookUs);
        if (onStep_) onStep_(step->kind(), "apply", double(*tookUs) / 1e6, result->ok());
        if (faults_.crashStep == n && faults_.crashAfterApply) ::raise(SIGKILL);
        Status st = *result;
        if (st.ok() && faults_.failStep == n) {
          st = makeError("fault injected at step " + std::to_string(n));
        }
        std::string what =
            "step " + std::to_string(n) + " " + step->kind() + " " + step->resource();
        if (!st.ok()) return fail(run, st.error().wrap(what), step->kind(), "apply_failed");
        Status saved = store_.journalDone(rowId, step->params());
        if (!saved.ok())
          return fail(run, saved.error().wrap("journal " + what), step->kind(), "journal_failed");
        run->i++;
        next(run);
      });
}

void StepRunner::fail(std::shared_ptr<Run> run, Error err, const std::string& kind,
                      const char* reason) {
  if (onRollback_) onRollback_(kind, reason);
  undoAll(run->pod, [run, err](Status undone) { run->done(err, undone); });
}

void StepRunner::undoAll(const std::string& pod, UndoDone done) {
  auto rows = store_.journal(pod);
  if (!rows.ok()) return done(rows.error());
  std::vector<JournalRow> reversed(rows->rbegin(), rows->rend());
  undoRows(pod, std::move(reversed), {}, std::move(done));
}

void StepRunner::undoRows(std::string pod, std::vector<JournalRow> rows, Status first,
                          UndoDone done) {
  if (rows.empty()) return done(first);
  JournalRow row = std::move(rows.front());
  rows.erase(rows.begin());
  auto built = factory_(row.kind, row.params);
  if (!built.ok()) {
    if (first.ok()) first = built.error().wrap("undo " + row.kind + " " + row.resource);
    return undoRows(std::move(pod), std::move(rows), first, std::move(done));
  }
  std::shared_ptr<reconcilers::Step> step = std::move(*built);
  auto result = std::make_shared<Status>();
  bool crash = !faults_.crashUndoKind.empty() && faults_.crashUndoKind == row.kind;
  if (crash && !faults_.crashAfterUndo) ::raise(SIGKILL);
  auto tookUs = std::make_shared<int64_t>(0);
  dispatcher_.runBlocking(
      [step, result, tookUs] {
        int64_t t0 = monotonicUs();
        *result = step->undo();
        *tookUs = monotonicUs() - t0;
      },
      [this, pod = std::move(pod), rows = std::move(rows), first, done = std::move(done), row,
       result, crash, tookUs]() mutable {
        if (crash) ::raise(SIGKILL);
        if (onStep_) onStep_(row.kind, "undo", double(*tookUs) / 1e6, result->ok());
        if (result->ok()) {
          Status st = store_.journalRemove(row.id);
          if (!st.ok() && first.ok()) first = st.error();
        } else if (first.ok()) {
          first = result->error().wrap("undo " + row.kind + " " + row.resource);
        }
        undoRows(std::move(pod), std::move(rows), first, std::move(done));
      });
}

void StepRunner::observeAll(const std::string& pod, ObserveDone done) {
  auto rows = store_.journal(pod);
  if (!rows.ok()) return done({});
  std::vector<std::shared_ptr<reconcilers::Step>> steps;
  for (const auto& r : *rows) {
    auto built = factory_(r.kind, r.params);
    if (built.ok() && r.state == state::StepState::Done) steps.push_back(std::move(*built));
  }
  auto drift = std::make_shared<Drift>();
  dispatcher_.runBlocking(
      [steps, drift] {
        for (const auto& s : steps) {
          auto present = s->observe();
          if (!present.ok() || *present) continue;
          std::string what = s->kind() + " " + s->resource();
          if (!s->repairableInPlace()) {
            drift->absent.push_back(what);
            continue;
          }
          Status st = s->apply();
          if (st.ok())
            drift->repaired.push_back(what);
          else
            drift->absent.push_back(what + " (repair failed: " + st.error().message + ")");
        }
      },
      [drift, done = std::move(done)] { done(*drift); });
}

}  // namespace boxd::agent
