// When repeating ticks fire, coalesced onto a coarse grid (pure: no libuv, no clock of its own).
// The probes' timers use it (probe_ticker.h): 100 probes a second with one timer each woke the
// loop ~100 times a second, one check per wakeup; on a grid of slotMs they fire together.
//
//   entry due at d  ──►  fires at the first grid time g (a multiple of slotMs) with g >= d,
//                        so never early and less than slotMs late; every entry due at or
//                        before g fires in that same wakeup
//   next due        =    d + period (the phase is kept, lateness does not add up); ticks that
//                        were missed altogether (the loop was blocked) are skipped, as a
//                        ticker's: the next due is the first d + k·period after the wakeup
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace boxd::agent {

// The probes' grid: their ticks (ProbeTicker) and the first look for an HTTP check's response
// (probe_check.cc) fall on multiples of it, so that they share loop wakeups.
constexpr int64_t kProbeSlotMs = 20;
// The first multiple of slotMs at or after t.
int64_t gridAtOrAfter(int64_t t, int64_t slotMs);

class TickSchedule {
 public:
  using Id = uint64_t;  // never reused

  explicit TickSchedule(int64_t slotMs);

  // An entry first due at dueMs, then every periodMs (at least 1). Returns its id.
  Id add(int64_t dueMs, int64_t periodMs);
  // Forgets an entry (unknown or already removed: nothing happens).
  void remove(Id id);
  bool contains(Id id) const;
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // The grid time at which the next entries fire (nullopt: none).
  std::optional<int64_t> nextWakeMs() const;
  // The entries due at nowMs (due <= nowMs), earliest first, appended to out; each is moved to
  // its next due time.
  void takeDue(int64_t nowMs, std::vector<Id>& out);

  int64_t slotMs() const { return slotMs_; }
  int64_t gridAtOrAfter(int64_t t) const { return agent::gridAtOrAfter(t, slotMs_); }

 private:
  struct Entry {
    Id id;
    int64_t dueMs;
    int64_t periodMs;
  };
  int64_t slotMs_;
  Id nextId_ = 1;
  // A few hundred entries at most (one per probe): a flat vector, scanned per wakeup, is
  // cheaper than a tree that allocates a node per reschedule.
  std::vector<Entry> entries_;
  std::vector<Entry> due_;  // reused by takeDue
};

}  // namespace boxd::agent
