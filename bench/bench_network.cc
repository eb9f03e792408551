#include "bench/bench_network.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdlib>
#include <set>

#include "agent/ipam.h"
#include "bench/proc.h"
#include "common/util.h"

namespace boxd::bench {

namespace {

bool linkExists(const std::string& name) {
  return ::access(("/sys/class/net/" + name).c_str(), F_OK) == 0;
}

// Cleanup commands: bounded, and they run to the end even after Ctrl-C.
CmdResult quietly(const std::vector<std::string>& argv) {
  return runCmd(argv, {.timeoutMs = 10000, .ignoreInterrupt = true});
}

bool nftTableExists(const std::string& table) {
  return quietly({"nft", "list", "table", "ip", table}).code == 0;
}

std::vector<agent::Ipv4Net> hostRoutes(const std::string& procNetRoute) {
  std::vector<agent::Ipv4Net> out;
  for (const auto& line : split(procNetRoute, '\n')) {
    std::vector<std::string> f;
    for (const auto& w : split(line, '\t')) f.push_back(trim(w));
    if (f.size() < 8 || f[0] == "Iface") continue;
    uint32_t dest = ntohl(static_cast<uint32_t>(std::strtoul(f[1].c_str(), nullptr, 16)));
    uint32_t mask = ntohl(static_cast<uint32_t>(std::strtoul(f[7].c_str(), nullptr, 16)));
    if (mask == 0) continue;  // the default route
    out.push_back({dest & mask, 32 - __builtin_ctz(mask)});
  }
  return out;
}

// Local ports of every socket in /proc/net/tcp or tcp6 ("0100007F:1F90" → 8080).
std::set<int> usedTcpPorts() {
  std::set<int> out;
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    auto text = readFile(file);
    if (!text.ok()) continue;
    for (const auto& line : split(*text, '\n')) {
      std::vector<std::string> f;
      for (const auto& w : split(line, ' '))
        if (!w.empty()) f.push_back(w);
      if (f.size() < 2 || f[0] == "sl") continue;
      size_t colon = f[1].rfind(':');
      if (colon != std::string::npos)
        out.insert(static_cast<int>(std::strtol(f[1].c_str() + colon + 1, nullptr, 16)));
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> freeBenchSubnet(const std::string& procNetRoute, uint32_t seed) {
  auto routes = hostRoutes(procNetRoute);
  constexpr uint32_t kCount = 16 * 256;  // the /24s of 10.224.0.0/12
  for (uint32_t i = 0; i < kCount; ++i) {
    uint32_t n = (seed + i) % kCount;
    agent::Ipv4Net candidate{(10u << 24) | ((224u + n / 256) << 16) | ((n % 256) << 8), 24};
    bool taken = false;
    for (const auto& r : routes) taken = taken || r.overlaps(candidate);
    if (!taken) return candidate.str();
  }
  return std::nullopt;
}

int freeHostPort() {
  std::set<int> used = usedTcpPorts();
  int start = static_cast<int>(std::strtoul(randomHex(2).c_str(), nullptr, 16) % 10000);
  for (int i = 0; i < 10000; ++i) {
    int port = 40000 + (start + i) % 10000;
    if (used.count(port) == 0) return port;
  }
  throw BenchError("no free TCP port in 40000..49999 for the hostPort pods");
}

BenchNetwork BenchNetwork::fresh() {
  BenchNetwork n;
  n.enabled = true;
  for (int attempt = 0; attempt < 10 && n.bridge.empty(); ++attempt) {
    std::string id = randomHex(4);
    if (linkExists("bxb" + id) || nftTableExists("boxdbench_" + id)) continue;
    n.bridge = "bxb" + id;
    n.nftTable = "boxdbench_" + id;
  }
  if (n.bridge.empty()) throw BenchError("no unused bridge/nftables table name found");
  auto routes = readFile("/proc/net/route");
  if (!routes.ok()) throw BenchError(routes.error().message);
  auto subnet = freeBenchSubnet(
      *routes, static_cast<uint32_t>(std::strtoul(randomHex(2).c_str(), nullptr, 16)));
  if (!subnet) throw BenchError("every /24 of 10.224.0.0/12 overlaps a route of this host");
  n.subnet = *subnet;
  return n;
}

std::string BenchNetwork::configYaml() const {
  if (!enabled) return "network:\n  enabled: false\n";
  return "network:\n  enabled: true\n  bridge: " + bridge + "\n  subnet: " + subnet +
         "\n  nftTable: " + nftTable + "\n  masquerade: false\n  ipForward: false\n";
}

std::vector<std::string> BenchNetwork::remove() const {
  std::vector<std::string> forced;
  if (!enabled) return forced;
  try {
    std::string ports = "/sys/class/net/" + bridge + "/brif";
    for (const auto& port : listDirNames(ports)) {
      forced.push_back("link " + port + " (on bridge " + bridge + ")");
      (void)quietly({"ip", "link", "delete", port});
    }
    if (linkExists(bridge)) {
      auto r = quietly({"ip", "link", "delete", bridge, "type", "bridge"});
      if (r.code != 0) forced.push_back("could not delete bridge " + bridge + ": " + trim(r.out));
    }
    if (nftTableExists(nftTable)) {
      auto r = quietly({"nft", "delete", "table", "ip", nftTable});
      if (r.code != 0)
        forced.push_back("could not delete nftables table ip " + nftTable + ": " + trim(r.out));
    }
  } catch (const BenchError& e) {
    forced.push_back(std::string("network cleanup: ") + e.what());
  }
  return forced;
}

}  // namespace boxd::bench
