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

ProbeTicker::ProbeTicker(uv_loop_t* loop, int64_t slotMs)
    : timer_(new uv_timer_t), schedule_(slotMs) {
  uv_timer_init(loop, timer_);
  timer_->data = this;
}

ProbeTicker::~ProbeTicker() {
  uv_timer_stop(timer_);
  timer_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

TickHandle ProbeTicker::every(int64_t firstDelayMs, int64_t periodMs, std::function<void()> fn) {
  int64_t now = static_cast<int64_t>(uv_now(timer_->loop));
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
    uv_timer_stop(timer_);
    armedAt_ = -1;
    return;
  }
  if (*wake == armedAt_ && uv_is_active(reinterpret_cast<uv_handle_t*>(timer_)) != 0) return;
  armedAt_ = *wake;
  int64_t now = static_cast<int64_t>(uv_now(timer_->loop));
  uv_timer_start(timer_, &ProbeTicker::onTimer,
                 static_cast<uint64_t>(std::max<int64_t>(*wake - now, 0)), 0);
}

void ProbeTicker::onTimer(uv_timer_t* t) {
  if (t->data != nullptr) static_cast<ProbeTicker*>(t->data)->fire();
}

void ProbeTicker::fire() {
  armedAt_ = -1;
  due_.clear();
  schedule_.takeDue(static_cast<int64_t>(uv_now(timer_->loop)), due_);
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
