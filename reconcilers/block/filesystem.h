// A block device's filesystem: probe, format only when blank, check, mount.
//
//   probe (libblkid, superblocks + partition tables)
//     blank            → mkfs (never when read-only), then mount
//     fsType found     → fsck (read-write only), then mount
//     other fs type    → refused: "holds xfs, the volume asks for ext4"
//     partition table, ambiguous or unknown signature → refused, never formatted
#pragma once

#include <string>

#include "common/result.h"
#include "reconcilers/block/command_runner.h"

namespace boxd::reconcilers {

struct DeviceContent {
  enum Kind { Blank, Filesystem, PartitionTable, Other } kind = Blank;
  std::string type;  // "ext4", "xfs", "gpt", "crypto_LUKS", "ambiguous signatures"
};

Result<DeviceContent> probeDevice(const std::string& device);

// The filesystem types boxd formats and mounts.
bool supportedFsType(const std::string& fsType);

// mkfs for fsType with options that suit a device behind a loop/FUSE/network path (no discard).
std::vector<std::string> mkfsArgv(const std::string& fsType, const std::string& device);
// fsck before a read-write mount; empty for filesystems that check themselves at mount (xfs).
std::vector<std::string> fsckArgv(const std::string& fsType, const std::string& device);

struct PrepareResult {
  bool formatted = false;
  std::string fsckNote;  // "e2fsck fixed errors" etc., for the pod's events
};

// Probes device and formats (blank, read-write only) or checks it. The caller holds the device's
// lock and has checked that nothing else mounts it.
Result<PrepareResult> prepareFilesystem(CommandRunner& runner, const std::string& device,
                                        const std::string& fsType, bool readOnly,
                                        int64_t timeoutMs);

// True if device (by its major:minor) is mounted anywhere in this mount namespace.
Result<bool> deviceMounted(const std::string& device,
                           const std::string& mountinfo = "/proc/self/mountinfo");

}  // namespace boxd::reconcilers
