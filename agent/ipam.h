// Pod addresses on the boxd bridge: IPv4 subnet arithmetic (pure) and the allocator over the
// state store's addresses table.
//
// Rules: a pod incarnation (uid) holds at most one address, from its network set-up until its
// teardown or rollback has finished; the table's primary key makes a duplicate impossible, across
// restarts too. Addresses are handed out round-robin after the last one given (remembered in the
// store), so a just-released address is not reused at once while peers may still cache it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd::state {
class Store;
}

namespace boxd::agent {

Result<uint32_t> parseIpv4(std::string_view text);  // host byte order
std::string formatIpv4(uint32_t addr);

struct Ipv4Net {
  uint32_t base = 0;  // network address, host byte order
  int prefix = 0;

  // "10.88.0.0/16"; host bits must be zero; prefix 8..30 (a pod subnet needs room).
  static Result<Ipv4Net> parse(std::string_view cidr);
  std::string str() const;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t broadcast() const { return base | ~mask(); }
  bool contains(uint32_t addr) const { return (addr & mask()) == base; }
  bool overlaps(const Ipv4Net& o) const;
  uint32_t gateway() const { return base + 1; }  // the bridge's address
  std::string cidrOf(uint32_t addr) const {      // "10.88.0.5/16"
    return formatIpv4(addr) + "/" + std::to_string(prefix);
  }
};

// The first address after `after` (wrapping around) that is a host address of net, not the
// gateway and not in used. nullopt when the subnet is full.
std::optional<uint32_t> nextFreeAddress(const Ipv4Net& net, const std::set<uint32_t>& used,
                                        uint32_t after);

// The routes of /proc/net/route (its text), default routes and those through skipIface left
// out.
std::vector<Ipv4Net> parseRoutes(const std::string& procNetRoute, const std::string& skipIface);

// The pod subnet when none is configured: 10.88.0.0/16, or the first of 10.89.0.0/16 ...
// 10.99.0.0/16 that no route of the host overlaps (podman's default network uses 10.88 too).
// procNetRoute is the text of /proc/net/route; routes through ownBridge (boxd's, from an earlier
// run) and default routes do not count.
Result<Ipv4Net> pickFreeSubnet(const std::string& procNetRoute, const std::string& ownBridge);

class Ipam {
 public:
  Ipam(state::Store& store, Ipv4Net net) : store_(store), net_(net) {}
  const Ipv4Net& net() const { return net_; }
  // The address held by uid, or a new one recorded for it. Loop thread only.
  Result<uint32_t> acquire(const std::string& pod, const std::string& uid);
  Status release(const std::string& uid);

 private:
  state::Store& store_;
  Ipv4Net net_;
};

}  // namespace boxd::agent
