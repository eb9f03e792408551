// Helpers of the CronJob tests: times as a calendar writes them, and a fixed America/New_York
// (the rules in force since 2007) both as a POSIX TZ rule and as a TZif file in a zoneinfo
// directory of the test's own (TZDIR), so no test depends on the host's tzdata.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "common/util.h"
#include "specs/time_zone.h"
#include "tests/support/temp_dir.h"

namespace boxd::specs {

// Unix seconds of a UTC calendar time.
inline int64_t utc(int64_t y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

inline constexpr const char* kNewYorkRule = "EST5EDT,M3.2.0,M11.1.0";

inline TimeZone newYorkRule() {
  return TimeZone::fixedRule("America/New_York", *parsePosixTz(kNewYorkRule));
}

inline void putBe(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// A TZif v2 file: New York's two transitions of 2026 in its table, the rule in its footer.
inline std::string newYorkTzif() {
  auto header = [](uint32_t timecnt, uint32_t typecnt, uint32_t charcnt) {
    std::string h = "TZif2";
    h += std::string(15, '\0');
    for (uint32_t n : {0u, 0u, 0u, timecnt, typecnt, charcnt}) putBe(h, n, 4);
    return h;
  };
  std::string out = header(0, 1, 4);  // version 1 data: UTC only, ignored by v2 readers
  putBe(out, 0, 4);
  out += std::string("\0\0UTC\0", 6);
  out += header(2, 2, 8);
  putBe(out, static_cast<uint64_t>(utc(2026, 3, 8, 7)), 8);
  putBe(out, static_cast<uint64_t>(utc(2026, 11, 1, 6)), 8);
  out += std::string("\1\0", 2);
  putBe(out, static_cast<uint32_t>(-18000), 4);
  out += std::string("\0\0", 2);  // EST, not dst, abbreviation at 0
  putBe(out, static_cast<uint32_t>(-14400), 4);
  out += std::string("\1\4", 2);  // EDT, dst, abbreviation at 4
  out += std::string("EST\0EDT\0", 8);
  out += "\n" + std::string(kNewYorkRule) + "\n";
  return out;
}

// A zoneinfo directory holding America/New_York; TZDIR points at it while the object lives.
class TestZoneinfo {
 public:
  TestZoneinfo() : dir_("zoneinfo") {
    ::mkdir((dir_ / "America").c_str(), 0755);
    (void)writeFileAtomic(dir_ / "America/New_York", newYorkTzif());
    const char* old = ::getenv("TZDIR");
    if (old != nullptr) saved_ = old;
    hadOld_ = old != nullptr;
    ::setenv("TZDIR", dir_.path().c_str(), 1);
  }
  ~TestZoneinfo() {
    if (hadOld_)
      ::setenv("TZDIR", saved_.c_str(), 1);
    else
      ::unsetenv("TZDIR");
  }
  std::string path() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
  std::string saved_;
  bool hadOld_ = false;
};

}  // namespace boxd::specs
