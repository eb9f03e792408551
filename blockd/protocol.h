// The contract between boxd and boxd-blockd, the userspace block helper (one process per iSCSI
// target or RBD image). boxd builds the config, the helper parses it (protocol.cc, a small library both link).
//
//   boxd                                     boxd-blockd --config-fd 3 --ready-fd 4
//   ────                                     ───────────
//   spawn (setsid, own cgroup), pipes 3, 4
//   write config JSON to fd 3, close  ────▶  read fd 3 to EOF (secrets only ever travel here:
//                                            never argv, environment or a file)
//                                            connect the backend (login / open) within
//                                            connectTimeoutMs; mount FUSE on `mountpoint`
//   read one line from fd 4  ◀──────────────  {"ok":true,"pid":N}  or  {"ok":false,"error":"..."}
//                                            and exit 1 on failure
//   losetup --direct-io on <mountpoint>/<file>
//   ...
//   umount <mountpoint>  ─────────────────▶  FUSE session ends: flush, unlock / logout, exit 0
//                                            (SIGTERM does the same: unmount self, then exit)
//
// Files in the FUSE directory: iSCSI "lun<N>" for each LUN of the target, resolved on lookup
// (READ CAPACITY); RBD one file "image". Every backend operation is bounded by ioTimeoutMs:
// past it the request fails with EIO (and an iSCSI connection is re-established across the
// portals, with the same deadline), so a dead peer never leaves a writer in D state.
// The helper logs to logFile (never to the volume it serves); errors name what failed, never a
// secret.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::blockd {

struct Chap {
  std::string username, password;      // the initiator's credentials (target checks them)
  std::string usernameIn, passwordIn;  // mutual CHAP: the target's; empty = one-way
  bool operator==(const Chap&) const = default;
};

struct IscsiConfig {
  std::vector<std::string> portals;  // "host:port", tried in order; every one for failover
  std::string iqn;                   // target
  std::string initiatorName;
  int sessions = 4;                  // parallel sessions (each one command in flight at a time
                                     // per session is not required; see the backend)
  std::optional<Chap> chap;           // session CHAP
  std::optional<Chap> discoveryChap;  // SendTargets CHAP (only when discovery is done)
  bool discovery = false;             // run SendTargets on each portal before login
  bool operator==(const IscsiConfig&) const = default;
};

struct RbdConfig {
  std::string monHost;  // librados mon_host: "v2:127.0.0.1:3300,v1:..." or "127.0.0.1:6789"
  std::string user;     // cephx id, without "client."
  std::string key;      // cephx key (base64 text)
  std::string pool, image;
  bool readOnly = false;
  bool exclusive = true;  // read-write: take the exclusive lock, refuse if another client holds it
  bool operator==(const RbdConfig&) const = default;
};

struct Config {
  std::string backend;     // "iscsi" or "rbd"
  std::string mountpoint;  // an existing empty directory, owned by boxd
  std::string pidFile, logFile;
  int64_t connectTimeoutMs = 10000;
  int64_t ioTimeoutMs = 30000;
  int threads = 8;  // FUSE worker threads (the queue depth the kernel can use)
  std::optional<IscsiConfig> iscsi;
  std::optional<RbdConfig> rbd;
  bool operator==(const Config&) const = default;
};

// The file the helper serves for a LUN / an image, inside `mountpoint`.
inline std::string iscsiLunFile(int64_t lun) { return "lun" + std::to_string(lun); }
inline constexpr const char* kRbdImageFile = "image";
// The largest read or write the helper takes in one FUSE request (its max_read and max_write).
inline constexpr unsigned kMaxIoBytes = 1u << 20;

nlohmann::json toJson(const Config& c);
Result<Config> configFromJson(const nlohmann::json& j);

}  // namespace boxd::blockd
