// The probes' timers: one uv_timer for all of them, firing on a coarse grid (tick_schedule.h),
// so that checks due within the same slot run in one loop turn instead of one wakeup each.
//
//   ProbeTicker ticker(loop, 20);            one per agent
//   TickHandle h = ticker.every(firstDelayMs, periodMs, fn);
//   h.reset();                               (or destroying h) stops it; fn never runs again
//
// A tick's first run is at most slotMs after its due time, the later ones at most batchMs (plus
// the loop's own latency), never before (tick_schedule.h). kubelet starts each probe worker at
// a random offset within its period, so checks that run up to 100 ms late (probe periods are
// whole seconds) keep the probe's meaning, and a new container's first check is still prompt.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "agent/dispatcher.h"
#include "agent/tick_schedule.h"

namespace boxd::agent {

class ProbeTicker;

// One repeating tick; stops when reset or destroyed. Must not outlive its ticker.
class TickHandle {
 public:
  TickHandle() = default;
  TickHandle(TickHandle&& o) noexcept;
  TickHandle& operator=(TickHandle&& o) noexcept;
  TickHandle(const TickHandle&) = delete;
  TickHandle& operator=(const TickHandle&) = delete;
  ~TickHandle() { reset(); }
  void reset();
  bool active() const;

 private:
  friend class ProbeTicker;
  TickHandle(ProbeTicker* t, TickSchedule::Id id) : ticker_(t), id_(id) {}
  ProbeTicker* ticker_ = nullptr;
  TickSchedule::Id id_ = 0;
};

class ProbeTicker {
 public:
  ProbeTicker(uv_loop_t* loop, int64_t slotMs = kProbeSlotMs, int64_t batchMs = kProbeBatchMs);
  ~ProbeTicker();
  ProbeTicker(const ProbeTicker&) = delete;
  ProbeTicker& operator=(const ProbeTicker&) = delete;

  // fn after firstDelayMs, then every periodMs (at least 1). fn may reset any handle (its own too)
  // and start new ticks.
  [[nodiscard]] TickHandle every(int64_t firstDelayMs, int64_t periodMs, std::function<void()> fn);

  size_t size() const { return fns_.size(); }

 private:
  friend class TickHandle;
  void remove(TickSchedule::Id id);
  void arm();
  void fire();

  uv_loop_t* loop_;
  Timer timer_;  // runs fire()
  TickSchedule schedule_;
  // Boxed: a function keeps its address while it runs, even if its tick is stopped meanwhile.
  std::unordered_map<TickSchedule::Id, std::unique_ptr<std::function<void()>>> fns_;
  std::vector<std::unique_ptr<std::function<void()>>> retired_;  // stopped while firing
  std::vector<TickSchedule::Id> due_;                            // reused per wakeup
  bool firing_ = false;
  int64_t armedAt_ = -1;  // the grid time the uv_timer is set for (-1: none)
};

}  // namespace boxd::agent
