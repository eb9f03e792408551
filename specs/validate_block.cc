// Value checks for block volumes (iSCSI portals and names, Ceph monitors and names) and Secret
// keys. Pure string checks; the messages never need the caller to add the value again.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <optional>

#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c); }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool allOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

bool isIp(std::string_view s, int family) {
  std::string text(s);
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(family, text.c_str(), buf) == 1;
}

// A host name: labels of letters, digits and '-' (not at either end), joined by '.'.
std::string checkHostName(std::string_view host) {
  if (host.empty()) return "the host is empty";
  if (host.size() > 253) return "the host name is longer than 253 characters";
  if (allOf(host, [](char c) { return isDigit(c) || c == '.'; })) {
    return isIp(host, AF_INET) ? "" : "host " + inQuotes(host) + " is not a valid IPv4 address";
  }
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 ||
        !allOf(label, [](char c) { return isAlnum(c) || c == '-'; }) || label.front() == '-' ||
        label.back() == '-') {
      return "host " + inQuotes(host) +
             " is neither an IPv4 address nor a DNS name (IPv6 addresses go in brackets)";
    }
    start = dot + 1;
  }
  return "";
}

std::string checkPort(std::string_view port) {
  if (port.empty() || port.size() > 5 || !allOf(port, isDigit)) {
    return "port " + inQuotes(port) + " is not a number";
  }
  int n = std::stoi(std::string(port));
  if (n < 1 || n > 65535) return "port " + std::string(port) + " is not in 1..65535";
  return "";
}

struct HostPort {
  std::string_view host;
  std::optional<std::string_view> port;
  bool v6 = false;
};

// "host", "host:port", "[v6]", "[v6]:port".
std::string splitHostPort(std::string_view s, HostPort& out) {
  if (s.find_first_of(" \t\r\n,") != std::string_view::npos)
    return "one address per entry, without spaces or commas";
  std::string_view rest;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return "'[' without ']'";
    out.host = s.substr(1, close - 1);
    out.v6 = true;
    if (!isIp(out.host, AF_INET6))
      return "host [" + shownText(out.host) + "] is not an IPv6 address";
    rest = s.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return "unexpected text after ']'";
  } else {
    size_t colon = s.find(':');
    if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos)
      return "an IPv6 address must be written in brackets, e.g. [2001:db8::1]:3260";
    out.host = s.substr(0, colon);
    if (colon != std::string_view::npos) rest = s.substr(colon);
    if (std::string why = checkHostName(out.host); !why.empty()) return why;
  }
  if (!rest.empty()) {
    out.port = rest.substr(1);
    if (std::string why = checkPort(*out.port); !why.empty()) return why;
  }
  return "";
}

// iqn.YYYY-MM.naming.authority[:identifier]
std::string checkIqn(std::string_view s) {
  std::string_view rest = s.substr(4);
  bool date = rest.size() >= 8 && allOf(rest.substr(0, 4), isDigit) && rest[4] == '-' &&
              allOf(rest.substr(5, 2), isDigit) && rest[7] == '.';
  if (!date) return "an iqn. name continues with a date YYYY-MM and '.', e.g. iqn.2026-11.";
  int month = (rest[5] - '0') * 10 + (rest[6] - '0');
  if (month < 1 || month > 12) return "month " + std::string(rest.substr(5, 2)) + " is not 01..12";
  rest = rest.substr(8);
  size_t colon = rest.find(':');
  std::string_view authority = rest.substr(0, colon);
  if (authority.empty() || authority.front() == '.' || authority.back() == '.' ||
      authority.find("..") != std::string_view::npos ||
      !allOf(authority, [](char c) { return isAlnum(c) || c == '-' || c == '.'; })) {
    return "the naming authority after the date must be a reversed domain name, e.g. io.boxd";
  }
  if (colon == std::string_view::npos) return "";
  std::string_view id = rest.substr(colon + 1);
  if (id.empty()) return "the identifier after ':' is empty";
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || std::string_view(",;*&$|\"'\\").find(c) != std::string_view::npos)
      return "the identifier after ':' may not hold spaces, control characters or ,;*&$|\"'\\";
  }
  return "";
}

}  // namespace

std::string checkIscsiPortal(std::string_view s, std::string& normalized) {
  HostPort hp;
  if (std::string why = splitHostPort(s, hp); !why.empty())
    return "invalid portal " + inQuotes(s) + ": " + why;
  std::string host = hp.v6 ? "[" + std::string(hp.host) + "]" : std::string(hp.host);
  normalized = host + ":" + std::string(hp.port.value_or("3260"));
  return "";
}

std::string checkIscsiName(std::string_view s) {
  std::string why;
  if (s.size() > 223) {
    why = "longer than 223 bytes";
  } else if (s.substr(0, 4) == "iqn.") {
    why = checkIqn(s);
  } else if (s.substr(0, 4) == "eui.") {
    std::string_view hex = s.substr(4);
    if (hex.size() != 16 || !allOf(hex, isHexDigit)) why = "eui. must be followed by 16 hex digits";
  } else if (s.substr(0, 4) == "naa.") {
    std::string_view hex = s.substr(4);
    if ((hex.size() != 16 && hex.size() != 32) || !allOf(hex, isHexDigit))
      why = "naa. must be followed by 16 or 32 hex digits";
  } else {
    why = "must start with iqn., eui. or naa. (e.g. iqn.2026-11.io.boxd:store)";
  }
  return why.empty() ? why : "invalid iSCSI name " + inQuotes(s) + ": " + why;
}

std::string checkIscsiInterface(std::string_view s) {
  if (s.empty() || s.size() > 64 || s == "." || s == ".." || !allOf(s, [](char c) {
        return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == ':';
      })) {
    return "must be an iscsiadm interface name (1-64 of [A-Za-z0-9._:-]), got " + inQuotes(s);
  }
  return "";
}

std::string checkCephMonitor(std::string_view s) {
  std::string_view addr = s;
  if (addr.substr(0, 3) == "v1:" || addr.substr(0, 3) == "v2:") addr = addr.substr(3);
  HostPort hp;
  if (std::string why = splitHostPort(addr, hp); !why.empty()) {
    return "invalid monitor " + inQuotes(s) + ": " + why +
           " (accepted: ip:port, host:port, [ipv6]:port or a bare host, optionally after v1: or "
           "v2:)";
  }
  return "";
}

std::string checkCephUser(std::string_view s) {
  if (s.empty() || s.size() > 253 ||
      !allOf(s, [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; })) {
    return "must be a cephx user id (1-253 of [A-Za-z0-9._-], without \"client.\"), got " +
           inQuotes(s);
  }
  if (s.substr(0, 7) == "client.")
    return "is the cephx id without its \"client.\" prefix: write " + inQuotes(s.substr(7));
  return "";
}

std::string checkRbdName(std::string_view s) {
  if (s.empty()) return "must not be empty";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '@' || u <= 0x20 || u == 0x7f)
      return "must not contain '/', '@', spaces or control characters, got " + inQuotes(s);
  }
  return "";
}

std::string checkSecretKey(std::string_view s) {
  bool ok = !s.empty() && s.size() <= 253 && s != "." && s.substr(0, 2) != ".." &&
            allOf(s, [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
  return ok ? ""
            : "key " + inQuotes(s) +
                  " must be 1-253 of [-._a-zA-Z0-9], not \".\" and not starting with \"..\"";
}

}  // namespace boxd::specs
