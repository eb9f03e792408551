// When repeating ticks fire, coalesced onto a coarse grid (pure: no libuv, no clock of its own).
// The probes' timers use it (probe_ticker.h): 100 probes a second with one timer each woke the
// loop ~100 times a second, one check per wakeup; on a grid they fire together.
//
//   entry due at d  ──►  fires at the first grid time g (a multiple of slotMs) with g >= d,
//                        so never early and less than slotMs late; every entry due at or
//                        before g fires in that same wakeup
//   next due        =    d + period (the phase is kept, lateness does not add up); ticks that
//                        were missed altogether (the loop was blocked) are skipped, as a
//                        ticker's: the next due is the first d + k·period after the wakeup
//   with batchMs    ─►   an entry's first tick is as above; at it, its phase moves forward to
//                        the next multiple of batchMs (once), so that its later ticks, with a
//                        period that is a multiple of batchMs, fall on that coarser grid with
//                        every other entry's: less than batchMs after d + k·period, never before
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace boxd::agent {

// The probes' grids. A probe's first tick (a container's first check) falls on a multiple of
// kProbeSlotMs; its later ticks, and the first look for an HTTP check's response
// (probe_check.cc), on multiples of kProbeBatchMs: 50 pods probed every second then wake boxd
// at most 10 times a second, each wakeup a burst of checks, instead of ~25 times.
constexpr int64_t kProbeSlotMs = 20;
constexpr int64_t kProbeBatchMs = 100;
// The first multiple of slotMs at or after t.
int64_t gridAtOrAfter(int64_t t, int64_t slotMs);

class TickSchedule {
 public:
  using Id = uint64_t;  // never reused

  // batchMs 0: entries keep the phase they were added with.
  explicit TickSchedule(int64_t slotMs, int64_t batchMs = 0);

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
    bool batched = false;  // its phase is on the batch grid
  };
  int64_t slotMs_, batchMs_;
  Id nextId_ = 1;
  // A few hundred entries at most (one per probe): a flat vector, scanned per wakeup, is
  // cheaper than a tree that allocates a node per reschedule.
  std::vector<Entry> entries_;
  std::vector<Entry> due_;  // reused by takeDue
};

}  // namespace boxd::agent
