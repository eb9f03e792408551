#include "specs/quote.h"

#include <cstdint>
#include <cstdio>

namespace boxd::specs {
namespace {

// Length of the UTF-8 sequence at s[i] and its code point; 0 if it is not valid UTF-8.
size_t decodeUtf8(std::string_view s, size_t i, uint32_t& cp) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = at(i);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  cp = n == 1 ? c : c & (0x7fu >> n);
  for (size_t k = 1; k < n; ++k) {
    if ((at(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (at(i + k) & 0x3fu);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Code points a terminal or a log viewer could act on, or that reorder what is shown.
bool isControl(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

void appendHex(std::string& out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

// Appends the character at s[i] (n bytes, 0 if invalid) as a message shows it.
void appendShown(std::string& out, std::string_view s, size_t i, size_t n, uint32_t cp,
                 bool escapeQuotes) {
  if (n == 0) return appendHex(out, "\\x%02x", static_cast<unsigned char>(s[i]));
  if (cp == '\n') {
    out += "\\n";
  } else if (cp == '\t') {
    out += "\\t";
  } else if (cp == '\r') {
    out += "\\r";
  } else if (escapeQuotes && (cp == '"' || cp == '\\')) {
    out += '\\';
    out += static_cast<char>(cp);
  } else if (isControl(cp)) {
    appendHex(out, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
  } else {
    out.append(s.substr(i, n));
  }
}

// s as shown, stopping after maxChars characters; cut says whether some were left out.
std::string shown(std::string_view s, size_t maxChars, bool escapeQuotes, bool& cut) {
  std::string out;
  size_t i = 0;
  for (size_t chars = 0; i < s.size() && chars < maxChars; ++chars) {
    uint32_t cp = 0;
    size_t n = decodeUtf8(s, i, cp);
    appendShown(out, s, i, n, cp, escapeQuotes);
    i += n == 0 ? 1 : n;
  }
  cut = i < s.size();
  return out;
}

}  // namespace

std::string escapeText(std::string_view s) {
  bool cut = false;
  return shown(s, s.size(), false, cut);
}

std::string shownText(std::string_view s) {
  bool cut = false;
  std::string out = shown(s, kMaxQuotedChars, true, cut);
  return cut ? out + "..." : out;
}

std::string inQuotes(std::string_view s) { return "\"" + shownText(s) + "\""; }

}  // namespace boxd::specs
