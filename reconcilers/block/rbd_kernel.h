// rbd-kernel: krbd maps the image itself, for hosts where <sys>/bus/rbd exists. No session.
//
//   attachDevice: an existing mapping of pool/image (head, default namespace) is returned as is;
//     otherwise the image's features (from librbd, a callback) are checked against
//     <sys>/bus/rbd/supported_features, then one line is written to <sys>/bus/rbd/add_single_major
//     (or .../add on kernels without single_major):
//         "<mons> name=<user>,secret=<key>[,ms_mode=<mode>],mount_timeout=<s>[,ro] <pool> <image>
//         -"
//     and the new <sys>/bus/rbd/devices/<id> (found by a before/after scan) gives /dev/rbd<id>.
//   detachDevice: "<id>" to <sys>/bus/rbd/remove_single_major (or .../remove) for each mapping.
//
// The cephx key goes to the kernel in that sysfs write: it is not on an argv, in an environment
// or in a file, and every option is validated first so the kernel has nothing to reject and
// print. (The alternative, key=<name> with the key in a "ceph" keyring entry, would leave it in
// boxd's process keyring, shared by all its threads, between add_key and unlink: no safer.)
//
// Monitors: krbd speaks msgr1 unless given ms_mode= (kernel 5.11+). In "auto" mode the v1
// addresses are used when there are any (every kernel), else the v2 ones with
// ms_mode=prefer-crc; "legacy" forces v1, "crc"/"secure"/"prefer-crc"/"prefer-secure" force v2.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "reconcilers/block/block_backend.h"
#include "reconcilers/block/block_sysfs.h"

namespace boxd::reconcilers {

struct KernelRbdOptions {
  std::string sysRoot = "/sys";
  std::string devRoot = "/dev";
  std::string msMode = "auto";   // auto, legacy, crc, secure, prefer-crc, prefer-secure
  int64_t mapTimeoutS = 30;      // libceph mount_timeout: how long a map waits for the cluster
  int64_t deviceWaitMs = 10000;  // for /dev/rbd<id> after the map
  int64_t pollMs = 100;
  SleepFn sleep = sleepMs;
  SysfsWriteFn writeSysfs = writeSysfsAttr;
};

// The image's feature bits (librbd's rbd_get_features), opened with these credentials.
using RbdFeaturesFn = std::function<Result<uint64_t>(const BlockVolume&, const BlockCredentials&)>;
// The volume's credentials (its Secret resolved now): attachDevice has none in its signature and
// krbd needs the key for each map.
using BlockCredentialsFn = std::function<Result<BlockCredentials>(const BlockVolume&)>;

// The kernel's monitor list and ms_mode ("" = msgr1) for `monitors` (librados mon_host forms:
// "v2:h:3300", "v1:h:6789", "[v2:h:3300,v1:h:6789]", "h:p", "h", several per entry with commas).
struct KrbdMonitors {
  std::string addresses;  // "10.0.0.1:6789,10.0.0.2:6789"
  std::string msMode;     // "" or "prefer-crc", ...
};
Result<KrbdMonitors> krbdMonitors(const std::vector<std::string>& monitors,
                                  const std::string& msMode);

// "object-map, fast-diff" for feature bits.
std::string rbdFeatureNames(uint64_t features);

class KernelRbdBackend : public BlockBackend {
 public:
  KernelRbdBackend(RbdFeaturesFn imageFeatures, BlockCredentialsFn credentials,
                   KernelRbdOptions options = {});

  Status openSession(const BlockVolume& v, const BlockCredentials& creds) override;
  Status closeSession(const BlockVolume& v) override;
  Result<bool> sessionOpen(const BlockVolume& v) override;
  Result<std::string> attachDevice(const BlockVolume& v) override;
  Status detachDevice(const BlockVolume& v) override;
  Result<std::optional<std::string>> findDevice(const BlockVolume& v) override;

 private:
  std::vector<std::string> mappingsOf(const BlockVolume& v) const;  // device ids
  Status checkFeatures(const BlockVolume& v, const BlockCredentials& creds) const;
  Result<std::string> addLine(const BlockVolume& v, const BlockCredentials& creds) const;
  Result<std::string> waitForNewMapping(const BlockVolume& v,
                                        const std::vector<std::string>& before) const;
  std::string busFile(const std::string& singleMajor, const std::string& plain) const;

  RbdFeaturesFn imageFeatures_;
  BlockCredentialsFn credentials_;
  KernelRbdOptions opt_;
};

}  // namespace boxd::reconcilers
