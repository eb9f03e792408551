#include "images/registry/reference.h"

#include <arpa/inet.h>

#include <cctype>

namespace boxd::images {

namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: lowercase alphanumerics, separated by '.', '_', "__" or runs of '-'.
bool validComponent(std::string_view c) {
  if (c.empty() || !isLowerAlnum(c.front()) || !isLowerAlnum(c.back())) return false;
  for (size_t i = 0; i < c.size(); ++i) {
    if (isLowerAlnum(c[i])) continue;
    size_t j = i;
    while (j < c.size() && !isLowerAlnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j - 1;
  }
  return true;
}

// host[:port]: DNS labels (letters, digits, '-', '.') or a bracketed IPv6 literal.
bool validDomain(std::string_view d) {
  std::string_view host = d;
  if (!d.empty() && d.front() == '[') {
    size_t close = d.find(']');
    if (close == std::string_view::npos) return false;
    host = d.substr(0, close + 1);
    d = d.substr(close + 1);
    if (!d.empty() && d.front() != ':') return false;
  } else {
    size_t colon = d.find(':');
    host = d.substr(0, colon);
    d = colon == std::string_view::npos ? std::string_view{} : d.substr(colon);
    if (host.empty()) return false;
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
    }
  }
  if (d.empty()) return true;
  std::string_view port = d.substr(1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool isHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Error refError(std::string_view text, const std::string& why) {
  return makeError("invalid image reference \"" + std::string(text) + "\": " + why);
}

// Splits "name[:tag][@digest]" (the name may hold a host:port).
Status splitTail(std::string_view text, std::string& name, Reference& out) {
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    out.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!validDigest(out.digest)) {
      return refError(text, "the digest must be sha256: and 64 lowercase hex characters");
    }
  }
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
    if (!validTag(out.tag)) return refError(text, "invalid tag \"" + out.tag + "\"");
  }
  name = std::string(rest);
  return {};
}

}  // namespace

bool validDigest(std::string_view digest) {
  return digest.substr(0, 7) == "sha256:" && isHex64(digest.substr(7));
}

std::string Reference::str() const {
  return digest.empty() ? name() + ":" + tag : name() + "@" + digest;
}

std::string Reference::apiHost() const {
  return domain == "docker.io" ? "registry-1.docker.io" : domain;
}

Result<Reference> parseReference(std::string_view text) {
  if (text.empty()) return refError(text, "empty");
  if (isHex64(text)) return refError(text, "a bare 64-character hex string is an image ID");
  Reference ref;
  std::string name;
  BOXD_TRY(splitTail(text, name, ref));
  if (name.empty()) return refError(text, "no repository name");
  size_t slash = name.find('/');
  std::string first = name.substr(0, slash);
  bool hasUpper = false;
  for (char c : first) hasUpper |= (c >= 'A' && c <= 'Z');
  if (slash != std::string::npos &&
      (first.find_first_of(".:") != std::string::npos || first == "localhost" || hasUpper)) {
    ref.domain = first;
    ref.path = name.substr(slash + 1);
    if (!validDomain(ref.domain)) return refError(text, "invalid registry host \"" + first + "\"");
  } else {
    ref.domain = "docker.io";
    ref.path = name;
  }
  if (ref.domain == "index.docker.io") ref.domain = "docker.io";
  if (ref.domain == "docker.io" && ref.path.find('/') == std::string::npos) {
    ref.path = "library/" + ref.path;
  }
  size_t start = 0;
  while (start <= ref.path.size()) {
    size_t end = ref.path.find('/', start);
    if (end == std::string::npos) end = ref.path.size();
    std::string_view comp = std::string_view(ref.path).substr(start, end - start);
    if (!validComponent(comp)) {
      return refError(text, "invalid repository path component \"" + std::string(comp) +
                                "\" (lowercase letters, digits and . _ - separators)");
    }
    start = end + 1;
  }
  if (ref.name().size() > kMaxNameLength) return refError(text, "name longer than 255 characters");
  if (!ref.digest.empty()) ref.tag.clear();  // containerd keeps only the digest
  if (ref.digest.empty() && ref.tag.empty()) ref.tag = "latest";
  return ref;
}

std::string hostOnly(std::string_view hostPort) {
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    return std::string(
        hostPort.substr(0, close == std::string_view::npos ? hostPort.size() : close + 1));
  }
  return std::string(hostPort.substr(0, hostPort.find(':')));
}

bool isLoopbackHost(std::string_view hostPort) {
  std::string host = hostOnly(hostPort);
  if (host == "localhost" || host == "[::1]") return true;
  in_addr addr{};
  if (::inet_pton(AF_INET, host.c_str(), &addr) != 1) return false;
  return (ntohl(addr.s_addr) >> 24) == 127;
}

}  // namespace boxd::images
