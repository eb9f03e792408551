// The probes' coalesced ticks: which entries fire together on the grid, that none fires early or
// a slot late, that phases are kept and missed ticks skipped (a fake clock), and ProbeTicker on a
// real loop: ticks that stop themselves or each other while firing.
#include "agent/tick_schedule.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <map>
#include <random>

#include "agent/probe_ticker.h"

using boxd::agent::ProbeTicker;
using boxd::agent::TickHandle;
using boxd::agent::TickSchedule;

namespace {

// 200 entries with random phases in the first 3 s and periods of 1-3 s, each remembered as
// Want{phase, period}.
template <class Want>
std::map<TickSchedule::Id, Want> randomEntries(TickSchedule& s, unsigned seed) {
  std::mt19937 rng(seed);
  std::map<TickSchedule::Id, Want> want;
  for (int i = 0; i < 200; ++i) {
    int64_t due = std::uniform_int_distribution<int64_t>(0, 2999)(rng);
    int64_t period = 1000 * std::uniform_int_distribution<int64_t>(1, 3)(rng);
    want[s.add(due, period)] = {due, period};
  }
  return want;
}

}  // namespace

TEST(TickSchedule, EntriesDueInTheSameSlotFireInOneWakeup) {
  TickSchedule s(20);
  TickSchedule::Id a = s.add(1003, 1000), b = s.add(1019, 1000), c = s.add(1020, 1000),
                   d = s.add(1021, 1000);
  ASSERT_EQ(s.nextWakeMs(), 1020);
  std::vector<TickSchedule::Id> fired;
  s.takeDue(1020, fired);
  EXPECT_EQ(fired, (std::vector<TickSchedule::Id>{a, b, c}));  // d is due after the wakeup
  ASSERT_EQ(s.nextWakeMs(), 1040);
  fired.clear();
  s.takeDue(1040, fired);
  EXPECT_EQ(fired, std::vector<TickSchedule::Id>{d});
  // The next round keeps each entry's phase: a fires on the grid after 2003, not after 2020.
  EXPECT_EQ(s.nextWakeMs(), 2020);
}

TEST(TickSchedule, NoEntryFiresEarlyOrASlotLateAndNoneIsSkipped) {
  // 200 entries with random phases and periods of 1-3 s, driven by a clock that wakes exactly
  // when asked, for 60 s: every due time fires once, at or less than a slot after it.
  constexpr int64_t kSlot = 20;
  TickSchedule s(kSlot);
  struct Want {
    int64_t due, period;
  };
  auto want = randomEntries<Want>(s, 13);
  int wakeups = 0, fires = 0;
  std::vector<TickSchedule::Id> fired;
  for (int64_t now = 0; now < 60000;) {
    now = *s.nextWakeMs();
    ++wakeups;
    fired.clear();
    s.takeDue(now, fired);
    ASSERT_FALSE(fired.empty()) << "a wakeup at " << now << " with nothing due";
    for (TickSchedule::Id id : fired) {
      Want& w = want[id];
      ASSERT_LE(w.due, now) << "entry " << id << " fired early";
      ASSERT_LT(now - w.due, kSlot) << "entry " << id << " fired a slot late";
      w.due += w.period;
      ++fires;
    }
    // Nothing that was due is left behind.
    for (const auto& [id, w] : want) ASSERT_GT(w.due, now) << "entry " << id << " missed";
  }
  // ~100 ticks a second on a 20 ms grid: at most 50 wakeups a second instead of ~100.
  EXPECT_GT(fires, 5000);
  EXPECT_LE(wakeups, 60 * 1000 / kSlot + 1);
}

TEST(TickSchedule, WithABatchGridLaterTicksFireTogetherNeverEarlyLessThanABatchLate) {
  // 200 entries as above, with a batch grid of 100 ms: the first tick of each is on the 20 ms
  // grid (at most a slot late); from the second on, each fires on the 100 ms grid, less than a
  // batch after phase + k·period and never before, with the same lateness every period.
  constexpr int64_t kSlot = 20, kBatch = 100;
  TickSchedule s(kSlot, kBatch);
  struct Want {
    int64_t phase, period, fires = 0, next = 0;  // next: when a later tick is to fire
  };
  auto want = randomEntries<Want>(s, 17);
  int wakeups = 0;
  std::vector<TickSchedule::Id> fired;
  for (int64_t now = 0; now < 60000;) {
    now = *s.nextWakeMs();
    ++wakeups;
    fired.clear();
    s.takeDue(now, fired);
    ASSERT_FALSE(fired.empty()) << "a wakeup at " << now << " with nothing due";
    for (TickSchedule::Id id : fired) {
      Want& w = want[id];
      if (w.fires == 0) {
        ASSERT_LE(w.phase, now) << "entry " << id << " fired early";
        ASSERT_LT(now - w.phase, kSlot) << "entry " << id << "'s first tick was a slot late";
        w.next = boxd::agent::gridAtOrAfter(w.phase + w.period, kBatch);
      } else {
        ASSERT_EQ(now, w.next) << "entry " << id << " off its batch time";
        int64_t late = now - (w.phase + w.fires * w.period);
        ASSERT_GE(late, 0) << "entry " << id << " fired early";
        ASSERT_LT(late, kBatch) << "entry " << id << " fired a batch late";
        w.next += w.period;
      }
      ++w.fires;
    }
    for (const auto& [id, w] : want)  // nothing that was due is left behind
      ASSERT_GT(w.fires == 0 ? w.phase : w.next, now) << "entry " << id << " missed";
  }
  // The first ticks are within the first 3 s; after them, at most 10 wakeups a second.
  EXPECT_LE(wakeups, 3000 / kSlot + 57 * 1000 / kBatch + 1);
}

TEST(TickSchedule, MissedTicksAreSkippedAndRemovedEntriesNeverFire) {
  TickSchedule s(20);
  TickSchedule::Id a = s.add(100, 1000), b = s.add(105, 1000);
  std::vector<TickSchedule::Id> fired;
  // The loop was blocked for 3.5 s: each fires once, then on its own phase again.
  s.takeDue(3600, fired);
  EXPECT_EQ(fired, (std::vector<TickSchedule::Id>{a, b}));
  EXPECT_EQ(s.nextWakeMs(), 4100);
  s.remove(a);
  s.remove(a);  // twice: nothing happens
  EXPECT_FALSE(s.contains(a));
  fired.clear();
  s.takeDue(4120, fired);
  EXPECT_EQ(fired, std::vector<TickSchedule::Id>{b});
  s.remove(b);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.nextWakeMs(), std::nullopt);
}

TEST(TickSchedule, GridTimes) {
  TickSchedule s(20);
  EXPECT_EQ(s.gridAtOrAfter(0), 0);
  EXPECT_EQ(s.gridAtOrAfter(1), 20);
  EXPECT_EQ(s.gridAtOrAfter(20), 20);
  EXPECT_EQ(s.gridAtOrAfter(-5), 0);
  EXPECT_EQ(TickSchedule(0).slotMs(), 1);  // a slot of 0 would divide by zero
}

namespace {

// Runs the loop until cond holds or 5 s have passed.
bool runUntil(uv_loop_t* loop, const std::function<bool()>& cond) {
  uint64_t end = uv_now(loop) + 5000;
  while (!cond() && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  return cond();
}

}  // namespace

TEST(ProbeTicker, TicksRepeatAndStopWhenTheirHandleGoes) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    ProbeTicker ticker(&loop, 10);
    int a = 0, b = 0;
    TickHandle ha = ticker.every(0, 30, [&] { ++a; });
    TickHandle hb = ticker.every(5, 30, [&] { ++b; });
    uint64_t start = uv_now(&loop);
    ASSERT_TRUE(runUntil(&loop, [&] { return a >= 3 && b >= 3; }));
    EXPECT_GE(uv_now(&loop) - start, 60u);  // the third tick of a is due at +60 ms
    EXPECT_TRUE(ha.active());
    hb.reset();
    EXPECT_FALSE(hb.active());
    int bStopped = b;
    ASSERT_TRUE(runUntil(&loop, [&] { return a >= 6; }));
    EXPECT_EQ(b, bStopped);
    TickHandle moved = std::move(ha);
    EXPECT_FALSE(ha.active());
    EXPECT_TRUE(moved.active());
    EXPECT_EQ(ticker.size(), 1u);
  }                               // the handles go before the ticker
  uv_run(&loop, UV_RUN_DEFAULT);  // the ticker's timer closes; nothing else is left
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(ProbeTicker, ATickMayStopItselfAndOthersOfTheSameWakeup) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  {
    ProbeTicker ticker(&loop, 50);
    // Both due in the same slot: the first stops itself and the second, whose function is then
    // never called; a tick started meanwhile runs later.
    int first = 0, second = 0, third = 0;
    TickHandle h1, h2, h3;
    std::string captured = "a capture long enough to live on the heap, not in the function";
    h1 = ticker.every(1, 1000, [&, captured] {
      ++first;
      h1.reset();
      h2.reset();
      EXPECT_EQ(captured.size(), 62u);  // still alive after its handle went
      h3 = ticker.every(0, 1000, [&] { ++third; });
    });
    h2 = ticker.every(2, 1000, [&] { ++second; });
    ASSERT_TRUE(runUntil(&loop, [&] { return third == 1; }));
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 0);
    EXPECT_EQ(ticker.size(), 1u);
    h3.reset();
    EXPECT_EQ(ticker.size(), 0u);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}
