// Coalesced repeating ticks (tick_schedule.h).
#include "agent/tick_schedule.h"

#include <algorithm>

namespace boxd::agent {

TickSchedule::TickSchedule(int64_t slotMs, int64_t batchMs)
    : slotMs_(std::max<int64_t>(slotMs, 1)), batchMs_(std::max<int64_t>(batchMs, 0)) {}

int64_t gridAtOrAfter(int64_t t, int64_t slotMs) {
  if (slotMs < 1) slotMs = 1;
  int64_t r = t % slotMs;
  if (r < 0) r += slotMs;  // (times before the clock's zero, in tests)
  return r == 0 ? t : t - r + slotMs;
}

TickSchedule::Id TickSchedule::add(int64_t dueMs, int64_t periodMs) {
  Id id = nextId_++;
  entries_.push_back({id, dueMs, std::max<int64_t>(periodMs, 1)});
  return id;
}

void TickSchedule::remove(Id id) {
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
  if (it == entries_.end()) return;
  *it = entries_.back();
  entries_.pop_back();
}

bool TickSchedule::contains(Id id) const {
  return std::any_of(entries_.begin(), entries_.end(), [id](const Entry& e) { return e.id == id; });
}

std::optional<int64_t> TickSchedule::nextWakeMs() const {
  if (entries_.empty()) return std::nullopt;
  int64_t first = entries_.front().dueMs;
  for (const Entry& e : entries_) first = std::min(first, e.dueMs);
  return gridAtOrAfter(first);
}

void TickSchedule::takeDue(int64_t nowMs, std::vector<Id>& out) {
  due_.clear();
  for (size_t i = 0; i < entries_.size();) {
    Entry& e = entries_[i];
    if (e.dueMs > nowMs) {
      ++i;
      continue;
    }
    due_.push_back(e);
    // The next tick after this wakeup, keeping the entry's phase.
    int64_t missed = (nowMs - e.dueMs) / e.periodMs;
    e.dueMs += (missed + 1) * e.periodMs;
    if (batchMs_ > 0 && !e.batched) {
      e.dueMs = agent::gridAtOrAfter(e.dueMs, batchMs_);
      e.batched = true;
    }
    ++i;
  }
  std::stable_sort(due_.begin(), due_.end(),
                   [](const Entry& a, const Entry& b) { return a.dueMs < b.dueMs; });
  for (const Entry& e : due_) out.push_back(e.id);
}

}  // namespace boxd::agent
