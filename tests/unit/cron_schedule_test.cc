// CronJob schedules: the cron syntax Kubernetes accepts and the times it gives, in UTC and in a
// fixed America/New_York (DST gap and overlap), Feb 29, and cron's day-of-month OR day-of-week.
#include "specs/cron_schedule.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "tests/unit/cron_test_util.h"

namespace boxd::specs {
namespace {

CronSchedule parsed(const std::string& text) {
  auto s = parseCronSchedule(text);
  EXPECT_TRUE(s.ok()) << text << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() ? *s : CronSchedule{};
}

std::string problem(const std::string& text) {
  auto s = parseCronSchedule(text);
  return s.ok() ? "(accepted)" : s.error().message;
}

// The first n times after `after`.
std::vector<int64_t> times(const std::string& text, const TimeZone& z, int64_t after, int n) {
  CronSchedule s = parsed(text);
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto t = nextCronTime(s, z, after);
    if (!t) break;
    out.push_back(*t);
    after = *t;
  }
  return out;
}

TEST(CronSchedule, FieldsListsRangesStepsAndNames) {
  CronSchedule s = parsed("0,15-17,*/20 9-17/4 ? JAN-mar,Dec mon-FRI");
  EXPECT_EQ(s.minutes,
            (1ull << 0) | (1ull << 15) | (1ull << 16) | (1ull << 17) | (1ull << 20) | (1ull << 40));
  EXPECT_EQ(s.hours, (1u << 9) | (1u << 13) | (1u << 17));
  EXPECT_EQ(s.months, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
  EXPECT_EQ(s.daysOfWeek, 0b0111110);
  EXPECT_TRUE(s.domStar);
  EXPECT_FALSE(s.dowStar);
  EXPECT_FALSE(s.fixedTime);  // the minute field has `*/20` in it
  EXPECT_EQ(parsed("5/20 * * * *").minutes, (1ull << 5) | (1ull << 25) | (1ull << 45));
  EXPECT_FALSE(parsed("*/2 * * * *").fixedTime);
  EXPECT_TRUE(parsed("30 2 * * *").fixedTime);
  EXPECT_FALSE(parsed("* * */2 * *").domStar);  // a step over `*` restricts the field
}

TEST(CronSchedule, MacrosAreTheirFields) {
  auto same = [](const std::string& a, const std::string& b) {
    CronSchedule x = parsed(a), y = parsed(b);
    EXPECT_TRUE(x.minutes == y.minutes && x.hours == y.hours && x.daysOfMonth == y.daysOfMonth &&
                x.months == y.months && x.daysOfWeek == y.daysOfWeek)
        << a << " vs " << b;
  };
  same("@yearly", "0 0 1 1 *");
  same("@annually", "0 0 1 1 *");
  same("@monthly", "0 0 1 * *");
  same("@weekly", "0 0 * * 0");
  same("@daily", "0 0 * * *");
  same("@midnight", "0 0 * * *");
  same("@hourly", "0 * * * *");
}

TEST(CronSchedule, ProblemsSayWhatIsWrong) {
  EXPECT_EQ(problem("* * * *"),
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found 4");
  EXPECT_EQ(problem("0 0 * * * *"),
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found 6");
  EXPECT_EQ(problem("61 * * * *"), "minute field: 61 is above the maximum 59");
  EXPECT_EQ(problem("* * 0 * *"), "day-of-month field: 0 is below the minimum 1");
  EXPECT_EQ(problem("* * * * 7"), "day-of-week field: 7 is above the maximum 6");
  EXPECT_EQ(problem("5-1 * * * *"), "minute field: the range starts at 5, after its end 1");
  EXPECT_EQ(problem("*/0 * * * *"), "minute field: step 0 is not a positive number");
  EXPECT_EQ(problem("1/2/3 * * * *"), "minute field: too many slashes");
  EXPECT_EQ(problem("* * * FOO *"), "month field: FOO is not a number or a name");
  EXPECT_EQ(problem("@every 5m"),
            "@every is not a Kubernetes CronJob schedule: write five cron fields");
  EXPECT_EQ(problem("@reboot"),
            "unrecognized descriptor @reboot (one of @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight, @hourly)");
  EXPECT_EQ(problem("TZ=UTC * * * * *"),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
  EXPECT_EQ(problem("CRON_TZ=America/New_York 0 * * * *"),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
}

TEST(CronSchedule, NextTimesInUtc) {
  TimeZone z;
  EXPECT_EQ(times("*/15 * * * *", z, utc(2026, 1, 1, 0, 7), 3),
            (std::vector<int64_t>{utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 30),
                                  utc(2026, 1, 1, 0, 45)}));
  // Strictly after: a time of the schedule is not its own next.
  EXPECT_EQ(times("0 * * * *", z, utc(2026, 1, 1, 5), 1),
            (std::vector<int64_t>{utc(2026, 1, 1, 6)}));
  EXPECT_EQ(times("@yearly", z, utc(2026, 6, 1), 2),
            (std::vector<int64_t>{utc(2027, 1, 1), utc(2028, 1, 1)}));
}

// In UTC (no DST) the next time is the first later minute whose fields match: checked minute by
// minute against a plain reading of the fields.
TEST(CronSchedule, NextTimeIsTheFirstMatchingMinuteInUtc) {
  TimeZone z;
  for (const char* text : {"*/7 3-5 * * *", "0 0 13 * 5", "15 */6 ? * SUN", "0 12 1,15 * *",
                           "59 23 31 * *", "*/20 * * FEB 1-3", "0 0 * * 6"}) {
    CronSchedule s = parsed(text);
    auto matches = [&s](int64_t t) {
      int64_t day = t / 86400, sec = t % 86400, y = 0;
      unsigned m = 0, d = 0;
      civilFromDays(day, y, m, d);
      bool dom = s.daysOfMonth >> d & 1, dow = s.daysOfWeek >> weekdayOfDays(day) & 1;
      bool dayOk = s.domStar || s.dowStar ? dom && dow : dom || dow;
      return dayOk && (s.months >> m & 1) && (s.hours >> (sec / 3600) & 1) &&
             (s.minutes >> (sec / 60 % 60) & 1);
    };
    for (int64_t after :
         {utc(2026, 1, 30, 23, 59, 59), utc(2026, 2, 28, 12, 7), utc(2028, 2, 28)}) {
      int64_t t = (after / 60 + 1) * 60;
      while (!matches(t) && t < after + 40 * 86400) t += 60;
      if (matches(t))
        EXPECT_EQ(nextCronTime(s, z, after), t) << text << " after " << after;
      else  // none within 40 days
        EXPECT_GT(nextCronTime(s, z, after).value_or(0), t) << text << " after " << after;
    }
  }
}

TEST(CronSchedule, Feb29ComesEveryLeapYear) {
  TimeZone z;
  EXPECT_EQ(
      times("0 12 29 2 *", z, utc(2026, 1, 1), 3),
      (std::vector<int64_t>{utc(2028, 2, 29, 12), utc(2032, 2, 29, 12), utc(2036, 2, 29, 12)}));
  // Feb 30 never comes: no time within five years.
  EXPECT_FALSE(nextCronTime(parsed("0 0 30 2 *"), z, utc(2026, 1, 1)));
}

TEST(CronSchedule, DayOfMonthOrDayOfWeekAsCron) {
  TimeZone z;
  // 2026-02-13 is a Friday; Mondays of February 2026: 2, 9, 16, 23.
  EXPECT_EQ(
      times("0 0 13 * MON", z, utc(2026, 2, 1), 4),
      (std::vector<int64_t>{utc(2026, 2, 2), utc(2026, 2, 9), utc(2026, 2, 13), utc(2026, 2, 16)}));
  // Either field `*`: both must match.
  EXPECT_EQ(times("0 0 13 * *", z, utc(2026, 2, 1), 1), (std::vector<int64_t>{utc(2026, 2, 13)}));
  EXPECT_EQ(times("0 0 * * 1", z, utc(2026, 2, 1), 1), (std::vector<int64_t>{utc(2026, 2, 2)}));
  EXPECT_EQ(times("0 0 ? * 5", z, utc(2026, 2, 1), 2),
            (std::vector<int64_t>{utc(2026, 2, 6), utc(2026, 2, 13)}));
}

// 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC); 2026-11-01: 02:00 EDT becomes 01:00 EST
// (06:00 UTC).
TEST(CronSchedule, DaylightSavingGapRunsOnceAfterIt) {
  TimeZone ny = newYorkRule();
  EXPECT_EQ(times("30 2 * * *", ny, utc(2026, 3, 7, 12), 3),
            (std::vector<int64_t>{utc(2026, 3, 8, 7),      // 02:30 does not exist: 03:00 EDT
                                  utc(2026, 3, 9, 6, 30),  // 02:30 EDT
                                  utc(2026, 3, 10, 6, 30)}));
  // A schedule with `*` in its hour runs on real time: nothing stands in for the missing hour.
  EXPECT_EQ(
      times("*/30 * * * *", ny, utc(2026, 3, 8, 6, 15), 3),
      (std::vector<int64_t>{utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30)}));
}

TEST(CronSchedule, DaylightSavingOverlapRunsFixedTimesOnce) {
  TimeZone ny = newYorkRule();
  EXPECT_EQ(times("30 1 * * *", ny, utc(2026, 10, 31, 12), 2),
            (std::vector<int64_t>{utc(2026, 11, 1, 5, 30),     // 01:30 EDT, the first pass
                                  utc(2026, 11, 2, 6, 30)}));  // 01:30 EST next day
  // `*` in the hour: both passes of the repeated hour.
  EXPECT_EQ(times("30 * * * *", ny, utc(2026, 11, 1, 5), 3),
            (std::vector<int64_t>{utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30),
                                  utc(2026, 11, 1, 7, 30)}));
}

TEST(CronSchedule, LatestAndCount) {
  TimeZone z;
  CronSchedule every = parsed("* * * * *");
  EXPECT_EQ(latestCronTime(every, z, utc(2026, 1, 1), utc(2026, 1, 1, 3, 7, 30)),
            utc(2026, 1, 1, 3, 7));
  EXPECT_EQ(countCronTimes(every, z, utc(2026, 1, 1), utc(2026, 1, 1, 3), 1000), 181);
  EXPECT_EQ(countCronTimes(every, z, utc(2026, 1, 1), utc(2026, 1, 1, 3), 101), 101);
  CronSchedule yearly = parsed("@yearly");
  EXPECT_EQ(latestCronTime(yearly, z, utc(2020, 6, 1), utc(2026, 5, 1)), utc(2026, 1, 1));
  EXPECT_FALSE(latestCronTime(yearly, z, utc(2026, 1, 2), utc(2026, 5, 1)));
}

TEST(TimeZone, TzifTableThenItsFooterRule) {
  auto z = TimeZone::fromTzif("America/New_York", newYorkTzif());
  ASSERT_TRUE(z.ok()) << z.error().message;
  TimeZone rule = newYorkRule();
  for (int64_t t :
       {utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7), utc(2026, 11, 1, 5, 59), utc(2026, 11, 1, 6),
        utc(2031, 3, 9, 7), utc(2031, 11, 2, 5, 59), utc(2031, 11, 2, 6)})
    EXPECT_EQ(z->offsetAt(t), rule.offsetAt(t)) << t;
  EXPECT_EQ(z->offsetAt(utc(2026, 3, 8, 7)), -4 * 3600);
  EXPECT_EQ(z->offsetAt(utc(2026, 11, 1, 6)), -5 * 3600);
  EXPECT_FALSE(TimeZone::fromTzif("x", "TZif2 short").ok());
}

// The host's tzdata (when it has New York) reads the same as the rule, in its table and after it.
TEST(TimeZone, TheHostsTzifFileReadsAsTheRule) {
  auto bytes = readFile("/usr/share/zoneinfo/America/New_York");
  if (!bytes.ok()) GTEST_SKIP() << "no /usr/share/zoneinfo/America/New_York";
  auto z = TimeZone::fromTzif("America/New_York", *bytes);
  ASSERT_TRUE(z.ok()) << z.error().message;
  TimeZone rule = newYorkRule();
  for (int64_t y : {2010, 2026, 2040, 2100}) {
    for (int64_t t = utc(y, 1, 1); t < utc(y + 1, 1, 1); t += 3 * 3600)
      ASSERT_EQ(z->offsetAt(t), rule.offsetAt(t)) << t;
  }
  EXPECT_EQ(z->offsetAt(utc(1970, 7, 1)), -4 * 3600);  // before 2007's rules: its table
}

TEST(TimeZone, LoadedFromTheZoneinfoDirectory) {
  TestZoneinfo dir;
  auto z = loadTimeZone("America/New_York");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->offsetAt(utc(2026, 7, 1)), -4 * 3600);
  EXPECT_EQ(loadTimeZone("Mars/Olympus").error().message,
            "unknown time zone Mars/Olympus (" + dir.path() + "/Mars/Olympus cannot be read)");
  EXPECT_FALSE(loadTimeZone("../etc/passwd").ok());
  EXPECT_TRUE(loadTimeZone("UTC").ok());
}

// A TZif v2 file with no transitions: one fixed offset, its POSIX rule in the footer.
std::string fixedTzif(int32_t offset, const std::string& abbr, const std::string& rule) {
  auto header = [](uint32_t typecnt, uint32_t charcnt) {
    std::string h = "TZif2" + std::string(15, '\0');
    for (uint32_t n : {0u, 0u, 0u, 0u, typecnt, charcnt}) putBe(h, n, 4);
    return h;
  };
  std::string out = header(1, 4);
  putBe(out, 0, 4);
  out += std::string("\0\0UTC\0", 6);
  out += header(1, static_cast<uint32_t>(abbr.size() + 1));
  putBe(out, static_cast<uint32_t>(offset), 4);
  out += std::string("\0\0", 2);
  out += abbr + std::string(1, '\0');
  return out + "\n" + rule + "\n";
}

TEST(TimeZone, TheCacheReadsAZoneAgainOnceItsFileChanged) {
  TestZoneinfo dir;
  ZoneCache cache;
  auto z = cache.get("America/New_York");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ((*z)->offsetAt(utc(2026, 7, 1)), -4 * 3600);
  EXPECT_EQ((*cache.get("America/New_York"))->offsetAt(utc(2026, 7, 1)), -4 * 3600);

  // A tzdata update replaces the file (dpkg renames the new one into place).
  ASSERT_TRUE(
      writeFileAtomic(dir.path() + "/America/New_York", fixedTzif(3600, "+01", "<+01>-1")).ok());
  z = cache.get("America/New_York");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ((*z)->offsetAt(utc(2026, 7, 1)), 3600);

  // A zone whose file went away is an error, not the old rules.
  ASSERT_EQ(::unlink((dir.path() + "/America/New_York").c_str()), 0);
  EXPECT_FALSE(cache.get("America/New_York").ok());
  EXPECT_TRUE(cache.get("UTC").ok());
}

TEST(TimeZone, PosixRules) {
  auto india = parsePosixTz("IST-5:30");
  ASSERT_TRUE(india);
  EXPECT_EQ(india->offsetAt(utc(2026, 1, 1)), 5 * 3600 + 1800);
  // Southern hemisphere: daylight time across the new year.
  auto sydney = parsePosixTz("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(sydney);
  EXPECT_EQ(sydney->offsetAt(utc(2026, 1, 15)), 11 * 3600);
  EXPECT_EQ(sydney->offsetAt(utc(2026, 7, 15)), 10 * 3600);
  EXPECT_FALSE(parsePosixTz("5"));
  EXPECT_FALSE(parsePosixTz("EST5EDT,M13.1.0,M11.1.0"));
}

TEST(CronSchedule, Rfc3339InTheZone) {
  EXPECT_EQ(formatRfc3339(utc(2026, 3, 8, 7), newYorkRule()), "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(formatRfc3339(utc(2026, 3, 8, 7), TimeZone()), "2026-03-08T07:00:00Z");
}

}  // namespace
}  // namespace boxd::specs
