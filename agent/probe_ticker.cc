// One uv_timer for every probe, on a coarse grid (probe_ticker.h).
#include "agent/probe_ticker.h"

#include <algorithm>
#include <utility>

namespace boxd::agent {

TickHandle::TickHandle(TickHandle&& o) noexcept
    : ticker_(std::exchange(o.ticker_, nullptr)), id_(std::exchange(o.id_, 0)) {}

TickHandle& TickHandle::operator=(TickHandle&& o) noexcept {
  if (this != &o) {
    reset();
    ticker_ = std::exchange(o.ticker_, nullptr);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

void TickHandle::reset() {
  if (ProbeTicker* t = std::exchange(ticker_, nullptr)) t->remove(id_);
}

bool TickHandle::active() const { return ticker_ != nullptr && ticker_->schedule_.contains(id_); }

ProbeTicker::ProbeTicker(uv_loop_t* loop, int64_t slotMs, int64_t batchMs)
    : loop_(loop), timer_(loop, [this] { fire(); }), schedule_(slotMs, batchMs) {}

ProbeTicker::~ProbeTicker() = default;

TickHandle ProbeTicker::every(int64_t firstDelayMs, int64_t periodMs, std::function<void()> fn) {
  int64_t now = static_cast<int64_t>(uv_now(loop_));
  TickSchedule::Id id = schedule_.add(now + std::max<int64_t>(firstDelayMs, 0), periodMs);
  fns_.emplace(id, std::make_unique<std::function<void()>>(std::move(fn)));
  if (!firing_) arm();
  return TickHandle(this, id);
}

void ProbeTicker::remove(TickSchedule::Id id) {
  schedule_.remove(id);
  auto it = fns_.find(id);
  if (it == fns_.end()) return;
  // A tick may stop itself (or another tick of this wakeup): its function may be running, so
  // it is freed once the wakeup is over; the schedule no longer has it, so it is not called.
  if (firing_) retired_.push_back(std::move(it->second));
  fns_.erase(it);
  if (!firing_) arm();
}

void ProbeTicker::arm() {
  std::optional<int64_t> wake = schedule_.nextWakeMs();
  if (!wake) {
    timer_.stop();
    armedAt_ = -1;
    return;
  }
  if (*wake == armedAt_ && timer_.active()) return;
  armedAt_ = *wake;
  int64_t now = static_cast<int64_t>(uv_now(loop_));
  timer_.restart(static_cast<uint64_t>(std::max<int64_t>(*wake - now, 0)));
}

void ProbeTicker::fire() {
  armedAt_ = -1;
  due_.clear();
  schedule_.takeDue(static_cast<int64_t>(uv_now(loop_)), due_);
  firing_ = true;
  for (TickSchedule::Id id : due_) {
    auto it = fns_.find(id);
    // (Stopped by an earlier tick of this wakeup.)
    if (it == fns_.end()) continue;
    std::function<void()>* fn = it->second.get();  // stays put even if its tick is stopped
    (*fn)();
  }
  firing_ = false;
  retired_.clear();
  arm();
}

}  // namespace boxd::agent
