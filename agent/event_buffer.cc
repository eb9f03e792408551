// Events on a full state disk: an event the store refuses waits in memory (at most
// kMaxPendingEvents, the oldest dropped first and counted) and is written, in order, before the
// next one and at every resync. boxctl sees waiting events too, after the stored ones.
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "common/util.h"

namespace boxd::agent {

namespace {
constexpr size_t kMaxPendingEvents = 1000;
}

void Agent::storeEvent(state::EventRecord e) {
  flushEvents();
  if (pendingEvents_.empty()) {
    auto r = store_->appendEvent(e);
    if (r.ok()) return;
    spdlog::error("record event: {}; keeping it in memory until it can be written",
                  r.error().message);
  }
  if (pendingEvents_.size() >= kMaxPendingEvents) {
    pendingEvents_.pop_front();
    ++droppedEvents_;
  }
  pendingEvents_.push_back(std::move(e));
}

void Agent::flushEvents() {
  if (droppedEvents_ > 0 && pendingEvents_.size() < kMaxPendingEvents) {
    pendingEvents_.push_front(
        {0, nowMs(), "", "Warning", "EventsDropped",
         std::to_string(droppedEvents_) + " event(s) lost while the state dir was full"});
    droppedEvents_ = 0;
  }
  while (!pendingEvents_.empty()) {
    if (!store_->appendEvent(pendingEvents_.front()).ok()) return;
    pendingEvents_.pop_front();
  }
}

Result<std::vector<state::EventRecord>> Agent::eventsOf(const std::string& pod, int limit) {
  auto stored = store_->events(pod, limit);
  if (!stored.ok() && pendingEvents_.empty()) return stored;
  std::vector<state::EventRecord> out = stored.ok() ? *stored : std::vector<state::EventRecord>{};
  for (const auto& e : pendingEvents_) {
    if (pod.empty() || e.pod == pod) out.push_back(e);
  }
  if (limit >= 0 && out.size() > static_cast<size_t>(limit))
    out.erase(out.begin(), out.end() - limit);
  return out;
}

}  // namespace boxd::agent
