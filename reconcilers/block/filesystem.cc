#include "reconcilers/block/filesystem.h"

#include <blkid/blkid.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

struct ProbeFree {
  void operator()(blkid_probe p) const { blkid_free_probe(p); }
};
using ProbePtr = std::unique_ptr<std::remove_pointer_t<blkid_probe>, ProbeFree>;

std::string lookup(blkid_probe p, const char* name) {
  const char* v = nullptr;
  if (blkid_probe_lookup_value(p, name, &v, nullptr) != 0 || v == nullptr) return "";
  return v;
}

}  // namespace

Result<DeviceContent> probeDevice(const std::string& device) {
  ProbePtr p(blkid_new_probe_from_filename(device.c_str()));
  if (!p) return sysError("open for probing", device);
  blkid_probe_enable_superblocks(p.get(), 1);
  blkid_probe_set_superblocks_flags(p.get(), BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
  blkid_probe_enable_partitions(p.get(), 1);
  int rc = blkid_do_safeprobe(p.get());
  if (rc == 1) return DeviceContent{DeviceContent::Blank, ""};
  if (rc == -2) return DeviceContent{DeviceContent::Other, "ambiguous signatures"};
  if (rc < 0) return makeError("probe " + device + ": libblkid could not read it", EIO);
  std::string type = lookup(p.get(), "TYPE");
  if (!type.empty()) {
    std::string usage = lookup(p.get(), "USAGE");
    bool fs = usage.empty() || usage == "filesystem";
    return DeviceContent{fs ? DeviceContent::Filesystem : DeviceContent::Other, type};
  }
  std::string pt = lookup(p.get(), "PTTYPE");
  if (!pt.empty()) return DeviceContent{DeviceContent::PartitionTable, pt};
  return DeviceContent{DeviceContent::Other, "unknown signature"};
}

bool supportedFsType(const std::string& t) {
  return t == "ext4" || t == "ext3" || t == "ext2" || t == "xfs";
}

std::vector<std::string> mkfsArgv(const std::string& fsType, const std::string& device) {
  // xfs without -f refuses a device with any signature: a second guard after the probe.
  if (fsType == "xfs") return {"mkfs.xfs", "-q", "-K", device};
  // -F: no prompt on a whole device; the probe has just found it blank.
  return {"mkfs." + fsType, "-q", "-F", "-m", "0", "-E", "nodiscard", device};
}

std::vector<std::string> fsckArgv(const std::string& fsType, const std::string& device) {
  if (fsType == "xfs") return {};
  return {"e2fsck", "-p", device};
}

Result<PrepareResult> prepareFilesystem(CommandRunner& runner, const std::string& device,
                                        const std::string& fsType, bool readOnly,
                                        int64_t timeoutMs) {
  auto content = probeDevice(device);
  if (!content.ok()) return content.error();
  PrepareResult out;
  switch (content->kind) {
    case DeviceContent::Blank: {
      if (readOnly)
        return makeError(device + " is blank and the volume is read-only: nothing to mount",
                         EINVAL);
      auto argv = mkfsArgv(fsType, device);
      auto r = runner.run(argv, timeoutMs);
      if (!r.ok()) return r.error();
      if (r->exitCode != 0) return makeError(describeFailure(argv, *r), EIO);
      out.formatted = true;
      return out;
    }
    case DeviceContent::Filesystem:
      break;
    case DeviceContent::PartitionTable:
      return makeError(device + " holds a " + content->type +
                           " partition table; boxd mounts whole-device filesystems and never "
                           "formats a device that holds data",
                       EINVAL);
    case DeviceContent::Other:
      return makeError(device + " holds " + content->type +
                           " (not a filesystem boxd mounts); refusing to format or mount it",
                       EINVAL);
  }
  if (content->type != fsType)
    return makeError(device + " holds " + content->type + ", the volume asks for " + fsType +
                         "; boxd never reformats: fix fsType or the device",
                     EINVAL);
  if (readOnly) return out;
  auto argv = fsckArgv(fsType, device);
  if (argv.empty()) return out;
  auto r = runner.run(argv, timeoutMs);
  if (!r.ok()) return r.error();
  // e2fsck: 1 = errors corrected, 2 = corrected (reboot advised for a mounted root), 4+ = left.
  if (r->exitCode == 1 || r->exitCode == 2) out.fsckNote = "e2fsck corrected errors on " + device;
  if (r->exitCode >= 4 || r->timedOut)
    return makeError(describeFailure(argv, *r) + " (errors left; check the device by hand)", EIO);
  return out;
}

Result<bool> deviceMounted(const std::string& device, const std::string& mountinfo) {
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) return sysError("stat", device);
  std::string want = std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
  auto text = readFile(mountinfo);
  if (!text.ok()) return text.error();
  for (const auto& line : split(*text, '\n')) {
    auto fields = split(line, ' ');
    if (fields.size() > 2 && fields[2] == want) return true;
  }
  return false;
}

}  // namespace boxd::reconcilers
