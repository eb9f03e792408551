#include "agent/ipam.h"

#include <arpa/inet.h>

#include <cstdlib>
#include <vector>

#include "common/util.h"
#include "state/store.h"

namespace boxd::agent {

namespace {
constexpr const char* kLastAddressKey = "ipam_last_address";
}

Result<uint32_t> parseIpv4(std::string_view text) {
  std::string s(text);
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1)
    return makeError("\"" + s + "\" is not an IPv4 address", EINVAL);
  return ntohl(a.s_addr);
}

std::string formatIpv4(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

Result<Ipv4Net> Ipv4Net::parse(std::string_view cidr) {
  std::string what = "subnet \"" + std::string(cidr) + "\"";
  size_t slash = cidr.find('/');
  if (slash == std::string_view::npos)
    return makeError(what + " needs a prefix length, as in 10.88.0.0/16", EINVAL);
  auto addr = parseIpv4(cidr.substr(0, slash));
  if (!addr.ok()) return makeError(what + ": " + addr.error().message, EINVAL);
  std::string_view len = cidr.substr(slash + 1);
  int prefix = 0;
  if (len.empty() || len.size() > 2) return makeError(what + ": bad prefix length", EINVAL);
  for (char c : len) {
    if (c < '0' || c > '9') return makeError(what + ": bad prefix length", EINVAL);
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix < 8 || prefix > 30)
    return makeError(what + ": the prefix length must be from 8 to 30", EINVAL);
  Ipv4Net n{*addr, prefix};
  if ((*addr & n.mask()) != *addr)
    return makeError(
        what + " has host bits set; did you mean " + Ipv4Net{*addr & n.mask(), prefix}.str() + "?",
        EINVAL);
  return n;
}

std::string Ipv4Net::str() const { return formatIpv4(base) + "/" + std::to_string(prefix); }

bool Ipv4Net::overlaps(const Ipv4Net& o) const {
  uint32_t m = prefix < o.prefix ? mask() : o.mask();
  return (base & m) == (o.base & m);
}

std::optional<uint32_t> nextFreeAddress(const Ipv4Net& net, const std::set<uint32_t>& used,
                                        uint32_t after) {
  uint32_t first = net.base + 2;  // skip the network address and the gateway
  uint32_t last = net.broadcast() - 1;
  uint32_t count = last - first + 1;
  uint32_t start = net.contains(after) && after >= first && after < last ? after + 1 : first;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t a = first + (start - first + i) % count;
    if (used.count(a) == 0) return a;
  }
  return std::nullopt;
}

std::vector<Ipv4Net> parseRoutes(const std::string& procNetRoute, const std::string& skipIface) {
  std::vector<Ipv4Net> routes;
  for (const std::string& line : split(procNetRoute, '\n')) {
    std::vector<std::string> f;
    for (const std::string& w : split(line, '\t')) {
      std::string t = trim(w);
      if (!t.empty()) f.push_back(t);
    }
    if (f.size() < 8 || f[0] == "Iface" || f[0] == skipIface) continue;
    char* end = nullptr;
    uint32_t dest = ntohl(static_cast<uint32_t>(std::strtoul(f[1].c_str(), &end, 16)));
    uint32_t mask = ntohl(static_cast<uint32_t>(std::strtoul(f[7].c_str(), &end, 16)));
    if (mask == 0) continue;  // a default route overlaps everything and matters for nothing here
    routes.push_back(Ipv4Net{dest & mask, 32 - __builtin_ctz(mask)});
  }
  return routes;
}

Result<Ipv4Net> pickFreeSubnet(const std::string& procNetRoute, const std::string& ownBridge) {
  std::vector<Ipv4Net> routes = parseRoutes(procNetRoute, ownBridge);
  for (uint32_t second = 88; second <= 99; ++second) {
    Ipv4Net candidate{(10u << 24) | (second << 16), 16};
    bool taken = false;
    for (const auto& r : routes) taken = taken || r.overlaps(candidate);
    if (!taken) return candidate;
  }
  return makeError(
      "every default pod subnet from 10.88.0.0/16 to 10.99.0.0/16 overlaps a route of this host; "
      "set network.subnet in boxd's config",
      EADDRINUSE);
}

Result<uint32_t> Ipam::acquire(const std::string& pod, const std::string& uid) {
  auto rows = store_.listAddresses();
  if (!rows.ok()) return rows.error();
  std::set<uint32_t> used;
  for (const auto& r : *rows) {
    auto a = parseIpv4(r.address);
    if (!a.ok()) continue;  // not ours to judge; it stays reserved by its text
    if (r.podUid == uid && net_.contains(*a)) return *a;
    used.insert(*a);
  }
  auto last = store_.getMeta(kLastAddressKey);
  if (!last.ok()) return last.error();
  uint32_t after = 0;
  if (*last) {
    if (auto a = parseIpv4(**last); a.ok()) after = *a;
  }
  std::optional<uint32_t> pick = nextFreeAddress(net_, used, after);
  if (!pick)
    return makeError("no free address left in the pod subnet " + net_.str() + " (" +
                         std::to_string(used.size()) + " in use)",
                     ENOSPC);
  Status st = store_.transaction([&]() -> Status {
    BOXD_TRY(store_.releaseAddress(uid));  // an address from an older subnet
    BOXD_TRY(store_.insertAddress({formatIpv4(*pick), uid, pod, nowMs()}));
    return store_.setMeta(kLastAddressKey, formatIpv4(*pick));
  });
  if (!st.ok()) return st.error();
  return *pick;
}

Status Ipam::release(const std::string& uid) { return store_.releaseAddress(uid); }

}  // namespace boxd::agent
