#include "specs/secret.h"

#include <cstdint>

#include "specs/quote.h"

namespace boxd::specs {
namespace {

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

Error secretError(const Secret& s, std::string_view what) {
  return makeError("secret " + inQuotes(s.name) + ": " + std::string(what));
}

bool hasControlCharacter(std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::string describeSecret(const Secret& s) {
  std::string out = "secret " + inQuotes(s.name) + " (type " + s.type;
  if (s.immutable) out += ", immutable";
  out += "): ";
  if (s.data.empty()) return out + "no data";
  bool first = true;
  for (const auto& [key, value] : s.data) {
    if (!first) out += ", ";
    first = false;
    out += key + " (" + std::to_string(value.size()) + " bytes)";
  }
  return out;
}

std::optional<std::string> decodeBase64(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n') clean.push_back(c);
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    bool last = i + 4 == clean.size();
    int pad = 0;
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = clean[i + k];
      if (c == '=' && last && k >= 2) {
        ++pad;
        group <<= 6;
        continue;
      }
      int v = base64Value(c);
      if (v < 0 || pad > 0) return std::nullopt;  // a bad character, or data after '='
      group = (group << 6) | static_cast<uint32_t>(v);
    }
    out.push_back(static_cast<char>((group >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((group >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(group & 0xff));
  }
  return out;
}

Result<std::string> cephKey(const Secret& s) {
  auto it = s.data.find("key");
  if (it == s.data.end())
    return secretError(s, "has no data key \"key\" (the cephx key of an rbd volume)");
  std::string_view v = it->second;
  constexpr std::string_view kSpace = " \t\r\n";
  size_t begin = v.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return secretError(s, "data key \"key\" is empty");
  size_t end = v.find_last_not_of(kSpace);
  std::string key(v.substr(begin, end - begin + 1));
  // A cephx key is base64 itself; anything else would only fail later, inside librados.
  if (hasControlCharacter(key) || !decodeBase64(key))
    return secretError(s,
                       "data key \"key\" is not a cephx key (base64, as `ceph auth get-key` "
                       "prints it)");
  return key;
}

Result<ChapCredentials> chapCredentials(const Secret& s, ChapNeeds needs) {
  ChapCredentials c;
  struct Pair {
    const char* userKey;
    const char* passwordKey;
    std::string* user;
    std::string* password;
    bool required;
  };
  const Pair pairs[] = {
      {kChapDiscoveryUser, kChapDiscoveryPassword, &c.discoveryUser, &c.discoveryPassword,
       needs.discovery},
      {kChapDiscoveryUserIn, kChapDiscoveryPasswordIn, &c.discoveryUserIn, &c.discoveryPasswordIn,
       false},
      {kChapSessionUser, kChapSessionPassword, &c.sessionUser, &c.sessionPassword, needs.session},
      {kChapSessionUserIn, kChapSessionPasswordIn, &c.sessionUserIn, &c.sessionPasswordIn, false},
  };
  for (const Pair& p : pairs) {
    for (auto [key, out] : {std::pair{p.userKey, p.user}, std::pair{p.passwordKey, p.password}}) {
      auto it = s.data.find(key);
      if (it == s.data.end()) continue;
      if (hasControlCharacter(it->second)) {
        return secretError(s, "data key " + inQuotes(key) +
                                  " holds a control character (a newline from `echo` without "
                                  "-n?)");
      }
      *out = it->second;
    }
    if (p.user->empty() != p.password->empty()) {
      const char* missing = p.user->empty() ? p.userKey : p.passwordKey;
      const char* given = p.user->empty() ? p.passwordKey : p.userKey;
      return secretError(s, "has " + inQuotes(given) + " but no " + inQuotes(missing));
    }
    if (p.required && p.user->empty()) {
      return secretError(
          s, std::string("has no ") + inQuotes(p.userKey) + " and " + inQuotes(p.passwordKey) +
                 ", which " +
                 (p.userKey == kChapSessionUser ? "chapAuthSession" : "chapAuthDiscovery") +
                 " needs");
    }
  }
  if ((!c.discoveryUserIn.empty() && c.discoveryUser.empty()) ||
      (!c.sessionUserIn.empty() && c.sessionUser.empty())) {
    bool session = !c.sessionUserIn.empty() && c.sessionUser.empty();
    return secretError(s, std::string("mutual CHAP (") +
                              (session ? kChapSessionUserIn : kChapDiscoveryUserIn) + ") needs " +
                              (session ? kChapSessionUser : kChapDiscoveryUser) + " too");
  }
  return c;
}

}  // namespace boxd::specs
