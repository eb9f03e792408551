// The userspace data path (iscsi-user, rbd-user): a boxd-blockd helper per session serves the
// LUNs / the image as files on a FUSE mount, and a direct-io loop device goes on the file.
//
//   <runDir>/block/<session>/          one per iSCSI target or RBD image
//       fs/                            the FUSE mount (lun<N> files, or "image")
//       helper.json                    pid + start time (identity across pid reuse), what it serves
//       blockd.log                     the helper's log (never on the volume it serves)
//
// The helper runs detached (setsid, reparented), in its own cgroup <parent>/blockd-<session>,
// so a restart or stop of boxd never touches I/O; boxd re-adopts it from helper.json. Stopping
// it = unmounting fs/ (the helper flushes, releases, logs out and exits), SIGKILL after a bound.
#pragma once

#include <string>

#include "reconcilers/block/block_backend.h"

namespace boxd::reconcilers {

class Cgroups;

struct UserspaceSettings {
  std::string blockDir;      // <runDir>/block
  std::string helperBinary;  // boxd-blockd
  std::string cgroupParent;  // the helper's cgroup is <cgroupParent>/blockd-<session>
  int64_t connectTimeoutMs = 10000;
  int64_t ioTimeoutMs = 30000;
  int64_t stopTimeoutMs = 10000;
};

class UserspaceBackend : public BlockBackend {
 public:
  UserspaceBackend(UserspaceSettings settings, Cgroups& cgroups);
  Status openSession(const BlockVolume& v, const BlockCredentials& creds) override;
  Status closeSession(const BlockVolume& v) override;
  Result<bool> sessionOpen(const BlockVolume& v) override;
  Result<std::string> attachDevice(const BlockVolume& v) override;
  Status detachDevice(const BlockVolume& v) override;
  Result<std::optional<std::string>> findDevice(const BlockVolume& v) override;

  // Layout, for describe and the FUSE watchdog.
  std::string sessionDir(const BlockVolume& v) const;
  std::string fuseMount(const BlockVolume& v) const { return sessionDir(v) + "/fs"; }
  std::string file(const BlockVolume& v) const;
  // Sessions found under blockDir (after a crash or restart): their directory names.
  std::vector<std::string> sessionDirs() const;
  // Stops the helper of a session directory (name as in sessionDirs) and removes it.
  Status stopSession(const std::string& name);

  // The helper's config for v, secrets included: only ever written to the helper's pipe.
  blockd::Config helperConfig(const BlockVolume& v, const BlockCredentials& creds) const;

 private:
  Status startHelper(const BlockVolume& v, const BlockCredentials& creds);

  UserspaceSettings settings_;
  Cgroups& cgroups_;
};

}  // namespace boxd::reconcilers
