// Time zones for CronJob schedules (docs/workloads.md#cronjobs): the UTC offset in force at an
// instant, from a TZif file (RFC 8536, versions 1 to 4) and the POSIX TZ rule at its end, or from
// a POSIX TZ rule alone ("EST5EDT,M3.2.0,M11.1.0"). Parsing is pure; loadTimeZone and
// hostTimeZone read files (the zoneinfo directory, /etc/localtime).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd::specs {

// A POSIX TZ rule: standard time, and daylight time between two dates of each year.
struct PosixTzRule {
  int32_t stdOffset = 0;  // seconds east of UTC (the TZ string writes west as positive)
  std::optional<int32_t> dstOffset;
  struct Date {
    char kind = 'M';  // 'M' (month.week.day), 'J' (1..365, no Feb 29), 'n' (0..365)
    int month = 0, week = 0, day = 0;
    int32_t time = 7200;  // seconds after local midnight (may be negative or past 24h)
  };
  Date start, end;
  // The offset at unix time t (seconds).
  int32_t offsetAt(int64_t t) const;
};

// "EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30", "UTC0"; std::nullopt if it is not a TZ rule.
std::optional<PosixTzRule> parsePosixTz(std::string_view s);

class TimeZone {
 public:
  TimeZone() = default;  // UTC
  static TimeZone fixedRule(std::string name, PosixTzRule rule);
  // The contents of a TZif file; the error names `name`.
  static Result<TimeZone> fromTzif(std::string name, std::string_view bytes);

  const std::string& name() const { return name_; }
  // Seconds east of UTC at unix time t (seconds).
  int32_t offsetAt(int64_t t) const;

 private:
  std::string name_ = "UTC";
  std::vector<int64_t> transitions_;  // ascending unix times
  std::vector<uint8_t> typeOf_;       // the offset index from each transition on
  std::vector<int32_t> offsets_;
  std::optional<PosixTzRule> footer_;  // after the last transition (and with no transition)
};

// The zoneinfo directory: $TZDIR when set (as glibc reads it), else /usr/share/zoneinfo.
std::string zoneinfoDir();
// An IANA name as the API server accepts it ("America/New_York", "UTC"; no "..", no leading /).
bool isZoneName(std::string_view name);
// The zone `name` from the zoneinfo directory; "UTC" (and "") need no file.
Result<TimeZone> loadTimeZone(const std::string& name);
// The host's local time, as kube-controller-manager's (Go's time.Local): $TZ when set (a zone name,
// ":name", or a POSIX rule; empty is UTC), else /etc/localtime, else UTC.
TimeZone hostTimeZone();

// CronJobs' zones by name, each read again once its zoneinfo file changed (a tzdata update
// replaces it), as kube-controller-manager loads a CronJob's zone on every pass; a stat() per
// look instead of a read. "" is the host's local time, read once, as Go's time.Local is.
class ZoneCache {
 public:
  Result<const TimeZone*> get(const std::string& name);

 private:
  struct Stamp {  // which version of the file: device, inode, size, mtime (ns)
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtimeNs = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct Entry {
    TimeZone zone;
    std::optional<Stamp> stamp;  // none: no file (UTC, the host's)
  };
  static std::optional<Stamp> stampOf(const std::string& name);
  std::map<std::string, Entry> zones_;
};

// Civil calendar helpers (proleptic Gregorian).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d);
void civilFromDays(int64_t days, int64_t& y, unsigned& m, unsigned& d);
int weekdayOfDays(int64_t days);  // 0 = Sunday
bool isLeapYear(int64_t y);
unsigned daysInMonth(int64_t y, unsigned m);

}  // namespace boxd::specs
