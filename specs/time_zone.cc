#include "specs/time_zone.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/util.h"

namespace boxd::specs {

// ---- civil calendar ----

bool isLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

unsigned daysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01, counting years from March so that February's length comes last.
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // 0..399
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // 0..365
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // 0..146096
  return era * 146097 + doe - 719468;
}

void civilFromDays(int64_t days, int64_t& y, unsigned& m, unsigned& d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  y = yoe + era * 400 + (m <= 2 ? 1 : 0);
}

int weekdayOfDays(int64_t days) {  // 1970-01-01 was a Thursday
  return static_cast<int>(((days % 7) + 11) % 7);
}

namespace {

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// ---- POSIX TZ strings ----

class TzReader {
 public:
  explicit TzReader(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  // std or dst name: 3+ letters, or <...> of letters, digits, + and -.
  bool name() {
    if (eat('<')) {
      size_t start = i_;
      while (!done() && peek() != '>') {
        char c = peek();
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++i_;
      }
      return i_ - start >= 3 && eat('>');
    }
    size_t start = i_;
    while (!done() && std::isalpha(static_cast<unsigned char>(peek()))) ++i_;
    return i_ - start >= 3;
  }
  std::optional<int64_t> number(int maxDigits) {
    int64_t n = 0;
    int digits = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(peek())) && digits < maxDigits) {
      n = n * 10 + (peek() - '0');
      ++i_;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    return n;
  }
  // [+-]hh[:mm[:ss]] in seconds; hours up to 167 (TZif v3 rule times).
  std::optional<int32_t> hms() {
    int sign = eat('-') ? -1 : (eat('+'), 1);
    auto h = number(3);
    if (!h || *h > 167) return std::nullopt;
    int64_t secs = *h * 3600;
    for (int64_t scale : {60, 1}) {
      if (!eat(':')) break;
      auto v = number(2);
      if (!v || *v > 59) return std::nullopt;
      secs += *v * scale;
    }
    return static_cast<int32_t>(sign * secs);
  }
  std::optional<PosixTzRule::Date> date() {
    PosixTzRule::Date d;
    if (eat('M')) {
      auto m = number(2);
      if (!m || *m < 1 || *m > 12 || !eat('.')) return std::nullopt;
      auto w = number(1);
      if (!w || *w < 1 || *w > 5 || !eat('.')) return std::nullopt;
      auto day = number(1);
      if (!day || *day > 6) return std::nullopt;
      d.month = static_cast<int>(*m), d.week = static_cast<int>(*w), d.day = static_cast<int>(*day);
    } else {
      d.kind = eat('J') ? 'J' : 'n';
      auto n = number(3);
      if (!n || *n > 365 || (d.kind == 'J' && *n < 1)) return std::nullopt;
      d.day = static_cast<int>(*n);
    }
    if (eat('/')) {
      auto t = hms();
      if (!t) return std::nullopt;
      d.time = *t;
    }
    return d;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

// The day (days since the epoch) a rule date falls on in year y.
int64_t ruleDay(const PosixTzRule::Date& d, int64_t y) {
  if (d.kind == 'J') {
    int64_t doy = d.day - 1 + (isLeapYear(y) && d.day >= 60 ? 1 : 0);
    return daysFromCivil(y, 1, 1) + doy;
  }
  if (d.kind == 'n') return daysFromCivil(y, 1, 1) + d.day;
  int64_t first = daysFromCivil(y, static_cast<unsigned>(d.month), 1);
  int64_t day = first + (d.day - weekdayOfDays(first) + 7) % 7 + (d.week - 1) * 7;
  while (day >= first + daysInMonth(y, static_cast<unsigned>(d.month))) day -= 7;
  return day;
}

uint32_t be32(std::string_view b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(b[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[at + 2])} << 8) |
         uint32_t{static_cast<uint8_t>(b[at + 3])};
}

int64_t be64(std::string_view b, size_t at) {
  return static_cast<int64_t>((uint64_t{be32(b, at)} << 32) | be32(b, at + 4));
}

struct TzifCounts {
  uint32_t isut, isstd, leap, time, type, chars;
  size_t size(size_t timeBytes) const {
    return time * timeBytes + time + type * 6 + chars + leap * (timeBytes + 4) + isstd + isut;
  }
};

std::optional<TzifCounts> tzifHeader(std::string_view b, size_t at) {
  if (b.size() < at + 44 || b.substr(at, 4) != "TZif") return std::nullopt;
  TzifCounts c{be32(b, at + 20), be32(b, at + 24), be32(b, at + 28),
               be32(b, at + 32), be32(b, at + 36), be32(b, at + 40)};
  if (c.type == 0 || c.type > 256 || c.time > 1000000 || c.chars > 100000 || c.leap > 100000)
    return std::nullopt;
  return c;
}

}  // namespace

std::optional<PosixTzRule> parsePosixTz(std::string_view s) {
  TzReader r(s);
  PosixTzRule rule;
  if (!r.name()) return std::nullopt;
  auto off = r.hms();
  if (!off) return std::nullopt;
  rule.stdOffset = -*off;
  if (r.done()) return rule;
  if (!r.name()) return std::nullopt;
  rule.dstOffset = rule.stdOffset + 3600;
  if (!r.done() && r.peek() != ',') {
    auto dst = r.hms();
    if (!dst) return std::nullopt;
    rule.dstOffset = -*dst;
  }
  if (r.done()) {  // no dates: the US rules, as glibc assumes
    rule.start = {'M', 3, 2, 0, 7200};
    rule.end = {'M', 11, 1, 0, 7200};
    return rule;
  }
  if (!r.eat(',')) return std::nullopt;
  auto start = r.date();
  if (!start || !r.eat(',')) return std::nullopt;
  auto end = r.date();
  if (!end || !r.done()) return std::nullopt;
  rule.start = *start;
  rule.end = *end;
  return rule;
}

int32_t PosixTzRule::offsetAt(int64_t t) const {
  if (!dstOffset) return stdOffset;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civilFromDays(floorDiv(t + stdOffset, 86400), y, m, d);
  // Daylight time starts at start.time standard time, ends at end.time daylight time.
  int64_t on = ruleDay(start, y) * 86400 + start.time - stdOffset;
  int64_t off = ruleDay(end, y) * 86400 + end.time - *dstOffset;
  bool dst = on < off ? (t >= on && t < off) : !(t >= off && t < on);
  return dst ? *dstOffset : stdOffset;
}

TimeZone TimeZone::fixedRule(std::string name, PosixTzRule rule) {
  TimeZone z;
  z.name_ = std::move(name);
  z.footer_ = rule;
  return z;
}

Result<TimeZone> TimeZone::fromTzif(std::string name, std::string_view b) {
  auto bad = [&name](const std::string& why) {
    return makeError("time zone " + name + ": not a valid TZif file (" + why + ")");
  };
  auto v1 = tzifHeader(b, 0);
  if (!v1) return bad("bad header");
  size_t at = 44 + v1->size(4);
  size_t timeBytes = 4;
  TzifCounts c = *v1;
  if (b[4] >= '2') {  // the 64-bit data that follows is what counts
    auto v2 = tzifHeader(b, at);
    if (!v2) return bad("bad second header");
    c = *v2;
    at += 44;
    timeBytes = 8;
  }
  if (b.size() < at + c.size(timeBytes)) return bad("truncated");
  TimeZone z;
  z.name_ = std::move(name);
  for (uint32_t i = 0; i < c.time; ++i)
    z.transitions_.push_back(timeBytes == 8 ? be64(b, at + i * 8)
                                            : static_cast<int32_t>(be32(b, at + i * 4)));
  at += c.time * timeBytes;
  for (uint32_t i = 0; i < c.time; ++i) {
    uint8_t type = static_cast<uint8_t>(b[at + i]);
    if (type >= c.type) return bad("transition type out of range");
    z.typeOf_.push_back(type);
  }
  at += c.time;
  for (uint32_t i = 0; i < c.type; ++i)
    z.offsets_.push_back(static_cast<int32_t>(be32(b, at + i * 6)));
  if (!std::is_sorted(z.transitions_.begin(), z.transitions_.end())) return bad("unsorted");
  at += c.size(timeBytes) - c.time * (timeBytes + 1);
  if (timeBytes == 8 && at < b.size() && b[at] == '\n') {
    size_t end = b.find('\n', at + 1);
    if (end == std::string_view::npos) return bad("unterminated footer");
    std::string_view footer = b.substr(at + 1, end - at - 1);
    if (!footer.empty()) {
      z.footer_ = parsePosixTz(footer);
      if (!z.footer_) return bad("footer is not a TZ rule");
    }
  }
  return z;
}

int32_t TimeZone::offsetAt(int64_t t) const {
  if (transitions_.empty() || t >= transitions_.back()) {
    if (footer_) return footer_->offsetAt(t);
    if (transitions_.empty()) return offsets_.empty() ? 0 : offsets_.front();
  }
  if (t < transitions_.front()) return offsets_.front();  // RFC 8536: type 0 before them
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  return offsets_[typeOf_[static_cast<size_t>(it - transitions_.begin()) - 1]];
}

std::string zoneinfoDir() {
  const char* dir = std::getenv("TZDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
}

bool isZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = std::min(name.find('/', start), name.size());
    std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 14 + 50) return false;
    for (char c : part) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+' &&
          c != '.')
        return false;
    }
    start = end + 1;
  }
  return true;
}

Result<TimeZone> loadTimeZone(const std::string& name) {
  if (name.empty() || name == "UTC") return TimeZone();
  if (!isZoneName(name)) return makeError("unknown time zone " + name);
  std::string path = zoneinfoDir() + "/" + name;
  auto bytes = readFile(path);
  if (!bytes.ok()) return makeError("unknown time zone " + name + " (" + path + " cannot be read)");
  return TimeZone::fromTzif(name, *bytes);
}

TimeZone hostTimeZone() {
  const char* tz = std::getenv("TZ");
  if (tz != nullptr) {
    std::string_view s = tz;
    if (!s.empty() && s.front() == ':') s.remove_prefix(1);
    if (s.empty()) return TimeZone();
    if (auto z = loadTimeZone(std::string(s)); z.ok()) return *z;
    if (auto rule = parsePosixTz(s)) return TimeZone::fixedRule(std::string(s), *rule);
    return TimeZone();
  }
  auto bytes = readFile("/etc/localtime");
  if (!bytes.ok()) return TimeZone();
  // Named as its link says ("Europe/Paris"), as timedatectl shows it; "Local" otherwise.
  std::string name = "Local";
  char target[512];
  ssize_t n = ::readlink("/etc/localtime", target, sizeof target - 1);
  if (n > 0) {
    std::string_view link(target, static_cast<size_t>(n));
    size_t at = link.find("zoneinfo/");
    if (at != std::string_view::npos) name = std::string(link.substr(at + 9));
  }
  auto z = TimeZone::fromTzif(name, *bytes);
  return z.ok() ? *z : TimeZone();
}

std::optional<ZoneCache::Stamp> ZoneCache::stampOf(const std::string& name) {
  if (name.empty() || name == "UTC" || !isZoneName(name)) return std::nullopt;
  struct stat st {};
  if (::stat((zoneinfoDir() + "/" + name).c_str(), &st) != 0) return std::nullopt;
  return Stamp{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
               static_cast<uint64_t>(st.st_size),
               static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

Result<const TimeZone*> ZoneCache::get(const std::string& name) {
  std::optional<Stamp> stamp = stampOf(name);
  auto it = zones_.find(name);
  if (it != zones_.end() && it->second.stamp == stamp) return &it->second.zone;
  if (name.empty())
    return &zones_.insert_or_assign(name, Entry{hostTimeZone(), {}}).first->second.zone;
  auto zone = loadTimeZone(name);
  if (!zone.ok()) {
    zones_.erase(name);
    return zone.error();
  }
  return &zones_.insert_or_assign(name, Entry{std::move(*zone), stamp}).first->second.zone;
}

}  // namespace boxd::specs
