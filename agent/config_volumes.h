// Writes the files of a configMap / secret / downwardAPI / projected volume into its directory on
// the host with Kubernetes' atomic layout, so a container never sees half an update:
//
//   <dir>/..2026_12_04_23_40_01.123456789/   the files of this version (with their subdirs)
//   <dir>/..data -> ..2026_12_04_23_40_01.123456789   swapped by rename(2): the atomic step
//   <dir>/app.conf -> ..data/app.conf         one link per top-level name, made once
//
//   compare with ..data ──same──► done (nothing written)
//        │ differs
//   write ..<new timestamp> ──► ..data_tmp -> it ──rename──► ..data ──► links added / removed
//        ──► old ..<timestamp> removed
//
// The directory is boxd's own (<pod dir>/volumes/<name>, a tmpfs when the volume holds Secret
// data), bound read-only into containers by the shim: no container can write anything the walk
// passes. Every step still acts relative to the directory's fd with O_NOFOLLOW and never
// follows a symlink it did not make. Values are never logged; errors name paths only.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "agent/config_refs.h"
#include "common/result.h"

namespace boxd::agent {

// True when something was written, false when the volume already held exactly these files
// (content, mode and owner). owner: the uid the files belong to. Their group is root's, or the
// pod's fsGroup: then, as kubelet does, files gain owner and group read (a defaultMode of 0600
// gives 0640) and directories are 02755.
Result<bool> writeConfigVolume(const std::string& dir, const VolumeFiles& files, uid_t owner,
                               std::optional<gid_t> fsGroup = std::nullopt);

// One volume to write before a container starts (the agent renders on its loop thread, the
// write runs on the thread pool).
struct ConfigWrite {
  std::string volume;
  std::string dir;
  VolumeFiles files;
  uid_t owner = 0;
  std::optional<gid_t> fsGroup;  // the pod's
};

// A digest of the files, to tell whether a volume needs writing again without reading it.
std::string volumeFilesDigest(const VolumeFiles& files, uid_t owner);

}  // namespace boxd::agent
