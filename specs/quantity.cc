#include "specs/quantity.h"

#include <limits>
#include <string>

#include "specs/quote.h"

namespace boxd::specs {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
__extension__ using Int128 = __int128;  // exact arithmetic; -Wpedantic wants the marker
constexpr size_t kMaxDigits = 36;       // fits in Int128 with room to spare

// value = digits × 10^exp10 × 2^exp2, digits already stripped of leading/trailing zeros.
struct Decomposed {
  bool negative = false;
  std::string digits;  // empty means zero
  int64_t exp10 = 0;
  int64_t exp2 = 0;
};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Reads [+-]digits[.digits]; returns the position after the number, or npos.
size_t readNumber(std::string_view s, Decomposed& d) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) d.negative = s[i++] == '-';
  size_t seen = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (isDigit(s[i])) {
      d.digits += s[i];
      if (dot) --d.exp10;
      ++seen;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  return seen == 0 ? std::string_view::npos : i;
}

// Parses a signed decimal exponent (after 'e'/'E'), bounded so it cannot overflow.
bool readExponent(std::string_view s, int64_t& out) {
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  if (i == s.size()) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!isDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
    if (v > 1000000) return false;
  }
  out = neg ? -v : v;
  return true;
}

bool applySuffix(std::string_view suffix, Decomposed& d) {
  struct Unit {
    std::string_view name;
    int exp10;
    int exp2;
  };
  static constexpr Unit kUnits[] = {
      {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
      {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
      {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
  };
  for (const Unit& u : kUnits) {
    if (suffix == u.name) {
      d.exp10 += u.exp10;
      d.exp2 += u.exp2;
      return true;
    }
  }
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    int64_t e = 0;
    if (!readExponent(suffix.substr(1), e)) return false;
    d.exp10 += e;
    return true;
  }
  return false;
}

void stripZeros(Decomposed& d) {
  size_t lead = d.digits.find_first_not_of('0');
  if (lead == std::string::npos) {
    d.digits.clear();
    return;
  }
  d.digits.erase(0, lead);
  while (d.digits.back() == '0') {
    d.digits.pop_back();
    ++d.exp10;
  }
}

enum class Outcome { Ok, Fractional, TooLarge };

// Exact digits × 10^exp10 × 2^exp2 as a non-negative int64.
Outcome evaluate(const Decomposed& d, int64_t& out) {
  out = 0;
  if (d.digits.empty()) return Outcome::Ok;
  if (d.digits.size() > kMaxDigits) {
    // Too many significant digits to be exact in 128 bits: either huge or (practically) fractional.
    return static_cast<int64_t>(d.digits.size()) + d.exp10 > 19 ? Outcome::TooLarge
                                                                : Outcome::Fractional;
  }
  Int128 v = 0;
  for (char c : d.digits) v = v * 10 + (c - '0');
  int64_t e10 = d.exp10;
  int64_t e2 = d.exp2;
  // 10^-n = 2^-n × 5^-n: divide out the fives, let the twos join exp2.
  if (e10 < 0) {
    for (; e10 < 0; ++e10) {
      if (v % 5 != 0) return Outcome::Fractional;
      v /= 5;
      --e2;
    }
  }
  for (; e2 < 0; ++e2) {
    if (v % 2 != 0) return Outcome::Fractional;
    v /= 2;
  }
  for (; e10 > 0; --e10) {
    v *= 10;
    if (v > kMax) return Outcome::TooLarge;
  }
  for (; e2 > 0; --e2) {
    v *= 2;
    if (v > kMax) return Outcome::TooLarge;
  }
  if (v > kMax) return Outcome::TooLarge;
  out = static_cast<int64_t>(v);
  return Outcome::Ok;
}

Result<int64_t> parseQuantity(std::string_view text, int scale10, std::string_view fractionMsg) {
  std::string quotedText = inQuotes(text);
  Decomposed d;
  size_t end = readNumber(text, d);
  if (end == std::string_view::npos || !applySuffix(text.substr(end), d)) {
    return makeError(
        "invalid quantity " + quotedText +
        " (expected a number with an optional unit, e.g. \"500m\", \"64Mi\", \"1e6\")");
  }
  stripZeros(d);
  if (d.negative && !d.digits.empty())
    return makeError("quantity " + quotedText + " must not be negative");
  d.exp10 += scale10;
  int64_t v = 0;
  switch (evaluate(d, v)) {
    case Outcome::Ok:
      return v;
    case Outcome::Fractional:
      return makeError("quantity " + quotedText + " " + std::string(fractionMsg));
    case Outcome::TooLarge:
      break;
  }
  return makeError("quantity " + quotedText + " is too large");
}

}  // namespace

Result<int64_t> parseCpuMilli(std::string_view text) {
  return parseQuantity(text, 3, "is finer than 1m (one millicore), the smallest cpu unit");
}

Result<int64_t> parseMemoryBytes(std::string_view text) {
  return parseQuantity(text, 0, "is not a whole number of bytes");
}

}  // namespace boxd::specs
