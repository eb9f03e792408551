// Block volumes: how a LUN or an image becomes a block device on this host, behind one interface
// with a backend per data path, chosen by host capability (block_host.h):
//
//   backend          session (shared per target / image)       device
//   ───────          ───────────────────────────────────       ──────
//   iscsi-kernel     iscsiadm node record + login, every       scan of this LUN only via sysfs,
//                    portal (open-iscsi)                       /dev/disk/by-path/..., dm-multipath
//   iscsi-user       boxd-blockd (libiscsi) serving a FUSE      loop device (--direct-io) on
//                    directory, one file per LUN               <mountpoint>/lun<N>
//   rbd-kernel       (none: krbd maps the image)               /sys/bus/rbd/add_single_major
//   rbd-user         boxd-blockd (librbd) serving "image"      loop device on <mountpoint>/image
//
// Sessions are shared: openSession/closeSession are refcounted by the caller (the agent's block
// registry, durable in the state store), which also holds a per-target lock across a login and
// the logout decision. Every operation is idempotent both ways and bounded in time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "blockd/protocol.h"
#include "common/result.h"

namespace boxd::reconcilers {

// What to attach, without secrets: journaled as step params.
struct BlockVolume {
  std::string backend;     // "iscsi-kernel", "iscsi-user", "rbd-kernel", "rbd-user"
  std::string sessionKey;  // one session per key: the target (iSCSI) or the image (RBD)
  std::string deviceKey;   // one device per key: target + LUN, or the image
  bool readOnly = false;
  // iSCSI
  std::vector<std::string> portals;  // targetPortal first, then portals; "host:port"
  std::string iqn, initiatorName, iscsiInterface;
  int64_t lun = 0;
  bool chapDiscovery = false, chapSession = false;
  // RBD
  std::vector<std::string> monitors;  // normalized for librados mon_host
  std::string pool, image, user, keyring;
  int64_t provisionBytes = 0;  // > 0: create the image with this size if it does not exist
  std::vector<std::string> provisionFeatures;
  std::string secretRef;  // the Secret holding CHAP credentials or the cephx key
};

// Secrets resolved for one operation, never stored or printed.
struct BlockCredentials {
  std::optional<blockd::Chap> chap, discoveryChap;
  std::string cephKey;
};

nlohmann::json blockVolumeToJson(const BlockVolume& v);
Result<BlockVolume> blockVolumeFromJson(const nlohmann::json& j);
// "iscsi iqn... lun 1 via 127.0.0.1:3260", "rbd pool/image": for describe and errors.
std::string describeBlockVolume(const BlockVolume& v);
// A session's name on the host, readable and bounded: "iscsi-<sha8>-<tail of the iqn>".
std::string sessionName(const BlockVolume& v);
// Where the volume's filesystem is mounted: <mountsDir>/<kind>-<sha8 of the device key>-...
std::string blockMountPath(const std::string& mountsDir, const BlockVolume& v);
// librados mon_host from Kubernetes-style monitor addresses.
std::string monHost(const std::vector<std::string>& monitors);

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  // Logs in / starts the helper for v.sessionKey. Idempotent: an open session is success.
  virtual Status openSession(const BlockVolume& v, const BlockCredentials& creds) = 0;
  // Logs out / stops the helper. Absent = success. Called when the last user is gone.
  virtual Status closeSession(const BlockVolume& v) = 0;
  virtual Result<bool> sessionOpen(const BlockVolume& v) = 0;
  // The block device of v on its open session (scan / map / loop), its path returned.
  // Idempotent: an existing device is returned as is.
  virtual Result<std::string> attachDevice(const BlockVolume& v) = 0;
  // Removes the device (loop detach, SCSI device delete, krbd unmap); absent = success.
  virtual Status detachDevice(const BlockVolume& v) = 0;
  // The device's path if it is attached, from the host's own tables (sysfs, loop backing files).
  virtual Result<std::optional<std::string>> findDevice(const BlockVolume& v) = 0;
};

}  // namespace boxd::reconcilers
