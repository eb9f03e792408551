#include "specs/validate.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>

#include "specs/parse.h"
#include "specs/quote.h"

namespace boxd::specs {
namespace {

bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isLower(c) || isUpper(c) || isDigit(c); }
bool isLowerAlnum(char c) { return isLower(c) || isDigit(c); }
bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool isQualifiedNamePart(std::string_view s) {
  if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// DNS-1123 subdomain: labels joined by '.', ≤ 253 characters.
bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!isDns1123Label(label)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// One path component of a repository: [a-z0-9]+(([._]|__|-+)[a-z0-9]+)*
bool isRepoComponent(std::string_view s) {
  if (s.empty() || !isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (isLowerAlnum(c) || c == '-') continue;
    if (c != '.' && c != '_') return false;
    // a separator between alphanumerics: ".", "_" or "__"
    bool doubleUnderscore = c == '_' && s[i + 1] == '_';
    size_t next = i + (doubleUnderscore ? 2 : 1);
    if (!isLowerAlnum(s[i - 1]) || next >= s.size() || !isLowerAlnum(s[next])) return false;
    i = next - 1;
  }
  return true;
}

// host[:port], where host is DNS-ish (letters, digits, '-', '.') — may contain uppercase.
bool isRegistryHost(std::string_view s) {
  size_t colon = s.find(':');
  std::string_view host = s.substr(0, colon);
  if (host.empty() || !isAlnum(host.front()) || !isAlnum(host.back())) return false;
  for (char c : host) {
    if (!isAlnum(c) && c != '-' && c != '.') return false;
  }
  if (colon == std::string_view::npos) return true;
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!isDigit(c)) return false;
  }
  return true;
}

bool looksLikeHost(std::string_view first) {
  return first == "localhost" || first.find('.') != std::string_view::npos ||
         first.find(':') != std::string_view::npos;
}

std::string checkRepository(std::string_view name) {
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t slash = name.find('/', start);
    std::string_view part =
        name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    bool host = first && slash != std::string_view::npos && looksLikeHost(part);
    if (host ? !isRegistryHost(part) : !isRepoComponent(part)) {
      return host ? "registry host " + inQuotes(part) + " is malformed"
                  : "repository component " + inQuotes(part) +
                        " must be lowercase letters and digits, separated by '.', '_', '__' or '-'";
    }
    if (slash == std::string_view::npos) return {};
    start = slash + 1;
    first = false;
  }
}

std::string checkTag(std::string_view tag) {
  bool ok = !tag.empty() && tag.size() <= 128 && (isAlnum(tag[0]) || tag[0] == '_');
  for (char c : tag) ok = ok && (isAlnum(c) || c == '_' || c == '.' || c == '-');
  return ok ? std::string()
            : "tag " + inQuotes(tag) +
                  " must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'";
}

std::string checkDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  std::string_view algo = digest.substr(0, colon);
  std::string_view hex =
      colon == std::string_view::npos ? std::string_view() : digest.substr(colon + 1);
  bool ok = !algo.empty() && !hex.empty();
  for (char c : algo) ok = ok && (isLowerAlnum(c) || c == '+' || c == '.' || c == '_' || c == '-');
  for (char c : hex) ok = ok && isHex(c);
  if (ok && algo == "sha256") ok = hex.size() == 64;
  if (ok && hex.size() < 32) ok = false;
  return ok ? std::string()
            : "digest " + inQuotes(digest) +
                  " must be <algorithm>:<lowercase hex>, e.g. sha256: and 64 hex digits";
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if malformed.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (len == 0 || c > 0xF4 || i + len > s.size()) return 0;
  uint32_t cp = c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  return overlong || surrogate || cp > 0x10FFFF ? 0 : len;
}

}  // namespace

std::string checkDns1123Subdomain(std::string_view s) {
  if (isDns1123Subdomain(s)) return "";
  return "must be a DNS name (lowercase letters, digits, '-' and '.', at most 253 characters), "
         "got " +
         inQuotes(s);
}

std::string checkIpAddress(std::string_view s, bool allowV6) {
  std::string text(s);
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return "";
  if (allowV6 && inet_pton(AF_INET6, text.c_str(), buf) == 1) return "";
  return std::string("must be an ") + (allowV6 ? "IPv4 or IPv6" : "IPv4") + " address, got " +
         inQuotes(s);
}

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!isLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

std::string checkDns1123Label(std::string_view s) {
  if (isDns1123Label(s)) return {};
  if (s.size() > 63) return "must be at most 63 characters (has " + std::to_string(s.size()) + ")";
  return "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a "
         "letter or digit (got " +
         inQuotes(s) + ")";
}

std::string checkQualifiedName(std::string_view s) {
  size_t slash = s.find('/');
  std::string_view name = slash == std::string_view::npos ? s : s.substr(slash + 1);
  if (slash != std::string_view::npos && !isDns1123Subdomain(s.substr(0, slash))) {
    return "key " + inQuotes(s) + ": prefix must be a DNS-1123 subdomain of at most 253 characters";
  }
  if (name.size() > 63 || !isQualifiedNamePart(name)) {
    return "key " + inQuotes(s) +
           ": name must be 1-63 characters of [A-Za-z0-9-_.], starting and "
           "ending with a letter or digit, with an optional DNS subdomain prefix and '/'";
  }
  return {};
}

std::string checkLabelValue(std::string_view s) {
  if (s.empty() || (s.size() <= 63 && isQualifiedNamePart(s))) return {};
  return "label value " + inQuotes(s) +
         " must be at most 63 characters of [A-Za-z0-9-_.], starting "
         "and ending with a letter or digit";
}

std::string checkImageRef(std::string_view s) {
  if (s.empty()) return "must not be empty";
  std::string_view rest = s;
  std::string why;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    why = checkDigest(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (why.empty() && colon != std::string_view::npos &&
      (slash == std::string_view::npos || colon > slash)) {
    why = checkTag(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  if (why.empty())
    why = rest.size() > 255 ? "name is longer than 255 characters" : checkRepository(rest);
  return why.empty() ? why : "invalid image reference " + inQuotes(s) + ": " + why;
}

std::string checkEnvName(std::string_view s) {
  if (s.empty()) return "must not be empty";
  if (s.find('=') != std::string_view::npos)
    return "must not contain '=' (got " + inQuotes(s) + ")";
  return {};
}

size_t badTextOffset(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = s[i] == '\0' ? 0 : utf8SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string checkText(std::string_view s) {
  size_t bad = badTextOffset(s);
  if (bad == std::string_view::npos) return {};
  if (s[bad] == '\0') return "must not contain NUL characters";
  return "is not valid UTF-8 (byte " + std::to_string(bad) + ")";
}

}  // namespace boxd::specs
