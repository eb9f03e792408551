// CronJob schedules (docs/workloads.md#cronjobs): the five-field cron syntax Kubernetes accepts
// (minute hour day-of-month month day-of-week; `*`, `?`, lists, ranges, steps, JAN-DEC, SUN-SAT,
// and @yearly @annually @monthly @weekly @daily @midnight @hourly), and the schedule's times in a
// time zone. Pure code.
//
// Day of month and day of week: when either field is `*` (or `?`) both must match, otherwise a
// day matching either one matches (cron's rule: "0 0 13 * FRI" is every Friday and every 13th).
// Daylight saving time, as ISC cron handles it: a wall time that does not exist (the hour skipped
// in spring) runs at the first instant after the gap, once, for a schedule with a fixed minute and
// hour; a wall time that occurs twice (the hour repeated in autumn) runs once, at its first
// occurrence, for such a schedule, while a schedule with `*` (or a step over `*`) in its minute or
// hour field runs on real time, in both passes of the repeated hour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "specs/time_zone.h"

namespace boxd::specs {

struct CronSchedule {
  uint64_t minutes = 0;  // bit n: minute n
  uint32_t hours = 0;
  uint32_t daysOfMonth = 0;  // bits 1..31
  uint16_t months = 0;       // bits 1..12
  uint8_t daysOfWeek = 0;    // bits 0..6, Sunday = 0
  bool domStar = false, dowStar = false;
  bool fixedTime = false;  // neither the minute nor the hour field has a `*` or `?`
};

// The schedule, or an error saying what is wrong with it (without the "spec.schedule" prefix).
Result<CronSchedule> parseCronSchedule(std::string_view text);

// The first time of the schedule strictly after `after` (unix seconds) in zone z; std::nullopt if
// there is none within five years ("0 0 30 2 *").
std::optional<int64_t> nextCronTime(const CronSchedule& s, const TimeZone& z, int64_t after);

// The latest time of the schedule in [notBefore, atOrBefore], if any.
std::optional<int64_t> latestCronTime(const CronSchedule& s, const TimeZone& z, int64_t notBefore,
                                      int64_t atOrBefore);

// How many times of the schedule fall in [notBefore, atOrBefore], counting at most `cap`.
int64_t countCronTimes(const CronSchedule& s, const TimeZone& z, int64_t notBefore,
                       int64_t atOrBefore, int64_t cap);

// "2026-03-08T03:00:00-04:00": t in zone z, as RFC 3339 writes it (Go's time.RFC3339).
std::string formatRfc3339(int64_t t, const TimeZone& z);

}  // namespace boxd::specs
