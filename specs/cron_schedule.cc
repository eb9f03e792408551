#include "specs/cron_schedule.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <vector>

namespace boxd::specs {
namespace {

struct FieldSpec {
  const char* what;
  int min, max;
  const char* const* names;  // 3-letter names from `min` on, or null
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr std::array<FieldSpec, 5> kFields = {{{"minute", 0, 59, nullptr},
                                               {"hour", 0, 23, nullptr},
                                               {"day-of-month", 1, 31, nullptr},
                                               {"month", 1, 12, kMonthNames},
                                               {"day-of-week", 0, 6, kDayNames}}};

constexpr std::pair<std::string_view, std::string_view> kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"}};

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::string lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<int> value(const FieldSpec& f, std::string_view s) {
  if (f.names != nullptr) {
    std::string l = lower(s);
    for (int i = 0; i <= f.max - f.min; ++i) {
      if (l == f.names[i]) return f.min + i;
    }
  }
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string_view::npos)
    return makeError(std::string(f.what) + " field: " + std::string(s.empty() ? "\"\"" : s) +
                     " is not a number" + (f.names != nullptr ? " or a name" : ""));
  return std::stoi(std::string(s));
}

// One item of a list: `*`, `?`, N, N-M, each with an optional /STEP (N/STEP is N to the maximum).
Result<uint64_t> rangeBits(const FieldSpec& f, std::string_view item, bool& star) {
  auto parts = split(item, '/');
  if (parts.size() > 2) return makeError(std::string(f.what) + " field: too many slashes");
  auto bounds = split(parts[0], '-');
  if (bounds.size() > 2) return makeError(std::string(f.what) + " field: too many hyphens");
  int lo = f.min, hi = f.max, step = 1;
  bool any = bounds[0] == "*" || bounds[0] == "?";
  if (any && bounds.size() == 2)
    return makeError(std::string(f.what) + " field: " + std::string(parts[0]) + " is not a range");
  if (!any) {
    auto a = value(f, bounds[0]);
    if (!a.ok()) return a.error();
    lo = hi = *a;
    if (bounds.size() == 2) {
      auto b = value(f, bounds[1]);
      if (!b.ok()) return b.error();
      hi = *b;
    } else if (parts.size() == 2) {
      hi = f.max;
    }
  }
  if (parts.size() == 2) {
    auto n = value({f.what, 0, 0, nullptr}, parts[1]);
    if (!n.ok() || *n <= 0)
      return makeError(std::string(f.what) + " field: step " + std::string(parts[1]) +
                       " is not a positive number");
    step = *n;
  }
  auto name = [&f](int v) { return std::to_string(v); };
  if (lo < f.min)
    return makeError(std::string(f.what) + " field: " + name(lo) + " is below the minimum " +
                     name(f.min));
  if (hi > f.max)
    return makeError(std::string(f.what) + " field: " + name(hi) + " is above the maximum " +
                     name(f.max));
  if (lo > hi)
    return makeError(std::string(f.what) + " field: the range starts at " + name(lo) +
                     ", after its end " + name(hi));
  star = star || (any && step == 1);
  uint64_t bits = 0;
  for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
  return bits;
}

Result<uint64_t> fieldBits(const FieldSpec& f, std::string_view text, bool& star, bool& wild) {
  uint64_t bits = 0;
  wild = text.find_first_of("*?") != std::string_view::npos;
  for (std::string_view item : split(text, ',')) {
    auto b = rangeBits(f, item, star);
    if (!b.ok()) return b.error();
    bits |= *b;
  }
  return bits;
}

bool dayMatches(const CronSchedule& s, int64_t day) {
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civilFromDays(day, y, m, d);
  if ((s.months & (1u << m)) == 0) return false;
  bool dom = (s.daysOfMonth & (1u << d)) != 0;
  bool dow = (s.daysOfWeek & (1u << weekdayOfDays(day))) != 0;
  return s.domStar || s.dowStar ? dom && dow : dom || dow;
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// The instants a wall time W (local seconds) stands for, by the DST rules of the header.
std::vector<int64_t> instantsOf(const CronSchedule& s, const TimeZone& z, int64_t w) {
  int32_t before = z.offsetAt(w - 86400), after = z.offsetAt(w + 86400);
  std::vector<int64_t> out;
  for (int32_t o : {before, after}) {
    if (z.offsetAt(w - o) == o && std::find(out.begin(), out.end(), w - o) == out.end())
      out.push_back(w - o);
  }
  std::sort(out.begin(), out.end());
  if (out.size() == 2 && s.fixedTime) out.pop_back();
  if (!out.empty() || !s.fixedTime || before == after) return out;
  // In the gap: the first instant with the new offset (between w - after and w - before).
  int64_t lo = std::min(w - after, w - before), hi = std::max(w - after, w - before);
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (z.offsetAt(mid) == after)
      hi = mid;
    else
      lo = mid + 1;
  }
  out.push_back(lo);
  return out;
}

constexpr int64_t kSearchDays = 5 * 366;
constexpr int64_t kSlack = 3 * 3600;  // more than any zone's DST shift

}  // namespace

Result<CronSchedule> parseCronSchedule(std::string_view text) {
  if (text.find("TZ") != std::string_view::npos)
    return makeError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
  std::string_view body = text;
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front())))
    body.remove_prefix(1);
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())))
    body.remove_suffix(1);
  if (!body.empty() && body.front() == '@') {
    if (body.substr(0, 6) == "@every")
      return makeError("@every is not a Kubernetes CronJob schedule: write five cron fields");
    for (const auto& [macro, fields] : kMacros) {
      if (body == macro) return parseCronSchedule(fields);
    }
    return makeError("unrecognized descriptor " + std::string(body) +
                     " (one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)");
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : split(body, ' ')) {
    for (std::string_view g : split(f, '\t'))
      if (!g.empty()) fields.push_back(g);
  }
  if (fields.size() != 5)
    return makeError(
        "expected exactly 5 fields (minute hour day-of-month month day-of-week), "
        "found " +
        std::to_string(fields.size()));
  CronSchedule s;
  bool star[5] = {}, wild[5] = {};
  uint64_t bits[5] = {};
  for (size_t i = 0; i < 5; ++i) {
    auto b = fieldBits(kFields[i], fields[i], star[i], wild[i]);
    if (!b.ok()) return b.error();
    bits[i] = *b;
  }
  s.minutes = bits[0];
  s.hours = static_cast<uint32_t>(bits[1]);
  s.daysOfMonth = static_cast<uint32_t>(bits[2]);
  s.months = static_cast<uint16_t>(bits[3]);
  s.daysOfWeek = static_cast<uint8_t>(bits[4]);
  s.domStar = star[2];
  s.dowStar = star[4];
  s.fixedTime = !wild[0] && !wild[1];
  return s;
}

std::optional<int64_t> nextCronTime(const CronSchedule& s, const TimeZone& z, int64_t after) {
  const int64_t startWall = after + z.offsetAt(after) - kSlack;
  int64_t day = floorDiv(startWall, 86400);
  const int64_t lastDay = day + kSearchDays;
  int firstMinute = static_cast<int>((startWall - day * 86400) / 60);
  std::optional<int64_t> best;
  int64_t bestWall = 0;
  for (; day <= lastDay; ++day, firstMinute = 0) {
    if (best && day * 86400 > bestWall + kSlack) break;
    if (!dayMatches(s, day)) continue;
    for (int h = 0; h < 24; ++h) {
      if ((s.hours & (1u << h)) == 0 || (h + 1) * 60 <= firstMinute) continue;
      for (int m = 0; m < 60; ++m) {
        if ((s.minutes & (uint64_t{1} << m)) == 0 || h * 60 + m < firstMinute) continue;
        int64_t w = day * 86400 + h * 3600 + m * 60;
        if (best && w > bestWall + kSlack) return best;
        for (int64_t t : instantsOf(s, z, w)) {
          if (t > after && (!best || t < *best)) {
            best = t;
            bestWall = t + z.offsetAt(t);
          }
        }
      }
    }
  }
  return best;
}

std::optional<int64_t> latestCronTime(const CronSchedule& s, const TimeZone& z, int64_t notBefore,
                                      int64_t atOrBefore) {
  // Widening windows back from atOrBefore: a dense schedule is found in a small window, a sparse
  // one has few times in a large window, so the walk stays short either way.
  for (int64_t span = 120;; span *= 2) {
    int64_t from = std::max(notBefore, atOrBefore - span);
    std::optional<int64_t> latest;
    for (auto t = nextCronTime(s, z, from - 1); t && *t <= atOrBefore; t = nextCronTime(s, z, *t))
      latest = t;
    if (latest || from == notBefore) return latest;
  }
}

int64_t countCronTimes(const CronSchedule& s, const TimeZone& z, int64_t notBefore,
                       int64_t atOrBefore, int64_t cap) {
  int64_t n = 0;
  for (auto t = nextCronTime(s, z, notBefore - 1); t && *t <= atOrBefore && n < cap;
       t = nextCronTime(s, z, *t))
    ++n;
  return n;
}

std::string formatRfc3339(int64_t t, const TimeZone& z) {
  int32_t off = z.offsetAt(t);
  int64_t local = t + off;
  int64_t day = floorDiv(local, 86400), secs = local - day * 86400;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civilFromDays(day, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(y),
                m, d, static_cast<long long>(secs / 3600), static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60));
  std::string out = buf;
  if (off == 0) return out + "Z";
  int32_t a = off < 0 ? -off : off;
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return out + buf;
}

}  // namespace boxd::specs
