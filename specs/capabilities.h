// Linux capabilities by the names Kubernetes uses ("NET_ADMIN"), and masks of them (bit n =
// capability n of linux/capability.h). Header-only: the shim and boxctl use it without the parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace boxd::specs {

struct CapabilityName {
  std::string_view name;  // without "CAP_"
  int number;
};

// Every capability of Linux 6.x, in number order (capabilities(7)).
inline constexpr CapabilityName kCapabilities[] = {
    {"CHOWN", 0},
    {"DAC_OVERRIDE", 1},
    {"DAC_READ_SEARCH", 2},
    {"FOWNER", 3},
    {"FSETID", 4},
    {"KILL", 5},
    {"SETGID", 6},
    {"SETUID", 7},
    {"SETPCAP", 8},
    {"LINUX_IMMUTABLE", 9},
    {"NET_BIND_SERVICE", 10},
    {"NET_BROADCAST", 11},
    {"NET_ADMIN", 12},
    {"NET_RAW", 13},
    {"IPC_LOCK", 14},
    {"IPC_OWNER", 15},
    {"SYS_MODULE", 16},
    {"SYS_RAWIO", 17},
    {"SYS_CHROOT", 18},
    {"SYS_PTRACE", 19},
    {"SYS_PACCT", 20},
    {"SYS_ADMIN", 21},
    {"SYS_BOOT", 22},
    {"SYS_NICE", 23},
    {"SYS_RESOURCE", 24},
    {"SYS_TIME", 25},
    {"SYS_TTY_CONFIG", 26},
    {"MKNOD", 27},
    {"LEASE", 28},
    {"AUDIT_WRITE", 29},
    {"AUDIT_CONTROL", 30},
    {"SETFCAP", 31},
    {"MAC_OVERRIDE", 32},
    {"MAC_ADMIN", 33},
    {"SYSLOG", 34},
    {"WAKE_ALARM", 35},
    {"BLOCK_SUSPEND", 36},
    {"AUDIT_READ", 37},
    {"PERFMON", 38},
    {"BPF", 39},
    {"CHECKPOINT_RESTORE", 40},
};

constexpr uint64_t capabilityBit(int number) { return uint64_t{1} << number; }

inline constexpr uint64_t kAllCapabilities = [] {
  uint64_t m = 0;
  for (const CapabilityName& c : kCapabilities) m |= capabilityBit(c.number);
  return m;
}();

// What every container keeps unless its securityContext says otherwise: the eleven podman 4.x
// ships on Debian (docs/security.md): CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
// SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP.
inline constexpr uint64_t kDefaultCapabilities =
    capabilityBit(0) | capabilityBit(1) | capabilityBit(3) | capabilityBit(4) | capabilityBit(5) |
    capabilityBit(6) | capabilityBit(7) | capabilityBit(8) | capabilityBit(10) | capabilityBit(18) |
    capabilityBit(31);

// "NET_ADMIN", "net_admin" or "CAP_NET_ADMIN" → 12; -1 when no capability has that name.
inline int capabilityNumber(std::string_view name) {
  auto upper = [](char ch) { return ch >= 'a' && ch <= 'z' ? static_cast<char>(ch - 32) : ch; };
  auto equal = [&](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (upper(a[i]) != b[i]) return false;
    }
    return true;
  };
  if (name.size() > 4 && equal(name.substr(0, 4), "CAP_")) name.remove_prefix(4);
  for (const CapabilityName& c : kCapabilities) {
    if (equal(name, c.name)) return c.number;
  }
  return -1;
}

// The names of the capabilities in mask, in number order.
inline std::vector<std::string> capabilityNames(uint64_t mask) {
  std::vector<std::string> out;
  for (const CapabilityName& c : kCapabilities) {
    if ((mask & capabilityBit(c.number)) != 0) out.emplace_back(c.name);
  }
  return out;
}

}  // namespace boxd::specs
