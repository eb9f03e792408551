#include "images/registry/credentials.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/util.h"

namespace boxd::images {

namespace {

using nlohmann::json;

std::optional<std::string> decodeBase64Std(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// "https://host:port/v1/path" -> "host:port/path"; kubelet drops the scheme and /v1/, /v2/.
std::string normaliseKey(std::string_view location) {
  std::string s(location);
  for (const char* scheme : {"https://", "http://"}) {
    if (startsWith(s, scheme)) s = s.substr(std::string_view(scheme).size());
  }
  size_t slash = s.find('/');
  std::string host = s.substr(0, slash);
  std::string path = slash == std::string::npos ? "" : s.substr(slash);
  if (startsWith(path, "/v1/") || startsWith(path, "/v2/")) path = path.substr(3);
  if (path == "/") path.clear();
  while (endsWith(path, "/")) path.pop_back();
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return host + path;
}

struct HostPortPath {
  std::string host, port, path;
};
HostPortPath splitKey(std::string_view key) {
  HostPortPath out;
  size_t slash = key.find('/');
  std::string hp(key.substr(0, slash));
  out.path = slash == std::string_view::npos ? "" : std::string(key.substr(slash));
  size_t colon = hp.rfind(':');
  if (colon != std::string::npos && hp.find(']') == std::string::npos) {
    out.port = hp.substr(colon + 1);
    hp = hp.substr(0, colon);
  }
  out.host = hp;
  return out;
}

// kubelet's URLsMatch: same number of host labels, each glob-matched; equal ports; path prefix.
bool keyMatches(const std::string& key, const std::string& image) {
  HostPortPath k = splitKey(key), t = splitKey(image);
  if (k.port != t.port) return false;
  std::vector<std::string> kl = split(k.host, '.'), tl = split(t.host, '.');
  if (kl.size() != tl.size()) return false;
  for (size_t i = 0; i < kl.size(); ++i) {
    if (::fnmatch(kl[i].c_str(), tl[i].c_str(), 0) != 0) return false;
  }
  return startsWith(t.path, k.path);
}

Result<Credential> parseEntry(const json& entry, const std::string& key,
                              const std::string& source) {
  auto bad = [&](const std::string& why) {
    return makeError(source + ": registry \"" + key + "\": " + why);
  };
  if (!entry.is_object()) return bad("expected an object");
  Credential c;
  c.source = source;
  auto str = [&](const char* field) -> std::string {
    auto it = entry.find(field);
    return it != entry.end() && it->is_string() ? it->get<std::string>() : "";
  };
  c.username = str("username");
  c.password = str("password");
  std::string auth = str("auth");
  if (!auth.empty()) {
    auto decoded = decodeBase64Std(auth);
    if (!decoded) return bad("\"auth\" is not valid base64");
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return bad("\"auth\" does not decode to user:password");
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  if (c.username.empty() && c.password.empty()) return bad("no \"auth\" and no username/password");
  return c;
}

bool isDefaultRegistry(const Reference& ref) { return ref.domain == "docker.io"; }

}  // namespace

void Keyring::add(const std::string& location, Credential c) {
  Entry e{normaliseKey(location), std::move(c)};
  auto pos = std::find_if(entries_.begin(), entries_.end(),
                          [&](const Entry& x) { return x.key.size() < e.key.size(); });
  entries_.insert(pos, std::move(e));
}

void Keyring::merge(const Keyring& other) {
  for (const auto& e : other.entries_) {
    auto pos = std::find_if(entries_.begin(), entries_.end(),
                            [&](const Entry& x) { return x.key.size() < e.key.size(); });
    entries_.insert(pos, e);
  }
}

std::optional<Credential> Keyring::lookup(const Reference& ref) const {
  std::string image = ref.name();
  for (const auto& e : entries_) {
    if (keyMatches(e.key, image)) return e.cred;
  }
  if (isDefaultRegistry(ref)) {
    for (const auto& e : entries_) {
      if (e.key == "index.docker.io" || e.key == "registry-1.docker.io") return e.cred;
    }
  }
  return std::nullopt;
}

std::optional<Credential> Keyring::lookupHost(std::string_view hostPort) const {
  std::string want = normaliseKey(hostPort);
  for (const auto& e : entries_) {
    if (keyMatches(e.key, want) && splitKey(e.key).path.empty()) return e.cred;
  }
  return std::nullopt;
}

Result<Keyring> parseDockerConfig(std::string_view text, bool legacy, const std::string& source) {
  // Never pass the parser's message on: it quotes the text around the error, a secret included.
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return makeError(source + ": not a JSON object");
  const json* auths = &doc;
  if (!legacy) {
    auto it = doc.find("auths");
    if (it == doc.end() || !it->is_object()) return makeError(source + ": no \"auths\" object");
    auths = &*it;
  }
  Keyring ring;
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    auto cred = parseEntry(it.value(), it.key(), source);
    if (!cred.ok()) return cred.error();
    ring.add(it.key(), std::move(*cred));
  }
  return ring;
}

Result<Keyring> keyringFromSecret(const std::string& name, const std::string& type,
                                  const std::map<std::string, std::string>& data) {
  std::string source = "secret " + name;
  bool legacy = type == "kubernetes.io/dockercfg";
  if (!legacy && type != "kubernetes.io/dockerconfigjson") {
    return makeError(source + ": type " + type +
                     " is not an image pull secret (kubernetes.io/dockerconfigjson or "
                     "kubernetes.io/dockercfg)");
  }
  const char* key = legacy ? ".dockercfg" : ".dockerconfigjson";
  auto it = data.find(key);
  if (it == data.end()) return makeError(source + ": no data key " + key);
  return parseDockerConfig(it->second, legacy, source + " (" + key + ")");
}

Result<Keyring> loadAuthFile(const std::string& path) {
  auto content = readFile(path);
  if (!content.ok()) {
    if (content.error().code == ENOENT) return Keyring{};
    return content.error().wrap("auth file");
  }
  json probe = json::parse(*content, nullptr, false);
  bool legacy = probe.is_object() && !probe.contains("auths");
  return parseDockerConfig(*content, legacy, path);
}

std::vector<Challenge> parseChallenges(std::string_view h) {
  std::vector<Challenge> out;
  size_t i = 0;
  auto skipSpace = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < h.size() && h[i] != ' ' && h[i] != '\t' && h[i] != '=' && h[i] != ',') ++i;
    return std::string(h.substr(start, i - start));
  };
  while (true) {
    skipSpace();
    if (i >= h.size()) break;
    std::string word = token();
    if (i < h.size() && h[i] == '=' && !out.empty()) {  // a parameter of the current challenge
      ++i;
      std::string value;
      if (i < h.size() && h[i] == '"') {
        for (++i; i < h.size() && h[i] != '"'; ++i) {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i];
        }
        ++i;
      } else {
        value = token();
      }
      std::transform(word.begin(), word.end(), word.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out.back().params[word] = value;
      continue;
    }
    Challenge c;
    c.scheme = word;
    if (!c.scheme.empty()) {
      c.scheme[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(c.scheme[0])));
      for (size_t k = 1; k < c.scheme.size(); ++k)
        c.scheme[k] = static_cast<char>(std::tolower(static_cast<unsigned char>(c.scheme[k])));
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                 (static_cast<uint8_t>(bytes[i + 1]) << 8) | static_cast<uint8_t>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace boxd::images
