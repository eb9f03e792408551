#include "agent/shim/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "common/fd.h"
#include "common/safe_path.h"

namespace boxd::shim {

namespace {

using reconcilers::ContainerMount;

// The volume (or pod file) as given: a hostPath its pod's author named, or a path boxd made
// under its own dirs (an emptyDir, the pod files, a block volume's filesystem). A subPath is then
// walked beneath it: the volume's content is written by containers.
Result<Fd> openSource(const ContainerMount& m) {
  Fd root(::open(m.source.c_str(), O_PATH | O_CLOEXEC));
  if (!root) return sysError("open volume", m.source);
  if (m.subPath.empty()) return root;
  BeneathOptions o;
  o.create = m.createSubPath;
  return openBeneath(root.get(), m.subPath, o, "subPath " + m.subPath + " of " + m.source);
}

// ro,nosuid,nodev on the bind just made: the mount is opened again by the same walk (which now
// ends in it) and must not be the one the target was on, so the remount can only reach it.
Status makeReadOnly(int rootfsFd, int targetFd, const ContainerMount& m) {
  auto top = openBeneath(rootfsFd, m.mountPath, {}, "mountPath " + m.mountPath);
  if (!top.ok()) return top.error();
  auto root = isMountRoot(top->get(), targetFd);
  if (!root.ok()) return root.error();
  if (!*root) return makeError("the bind on " + m.mountPath + " is not where it was made", EIO);
  if (::mount(nullptr, fdPath(top->get()).c_str(), nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0)
    return sysError("remount read-only", m.mountPath);
  return {};
}

}  // namespace

Status mountInto(int rootfsFd, const ContainerMount& m) {
  const std::string what = "volume mount " + m.mountPath;
  auto src = openSource(m);
  if (!src.ok()) return src.error().wrap(what);
  struct stat st {};
  if (::fstat(src->get(), &st) != 0) return sysError("stat", m.source).wrap(what);
  // The mount point is made to match the source: a directory, or an empty file for anything
  // else (a file, a socket, a device).
  BeneathOptions t;
  t.create = true;
  t.lastIsFile = !S_ISDIR(st.st_mode);
  auto target = openBeneath(rootfsFd, m.mountPath, t, "mountPath " + m.mountPath);
  if (!target.ok()) return target.error().wrap(what);
  const std::string from = m.subPath.empty() ? m.source : m.source + "/" + m.subPath;
  if (::mount(fdPath(src->get()).c_str(), fdPath(target->get()).c_str(), nullptr, MS_BIND,
              nullptr) != 0)
    return sysError("bind " + from + " on", m.mountPath).wrap(what);
  if (m.readOnly) {
    Status ro = makeReadOnly(rootfsFd, target->get(), m);
    if (!ro.ok()) return ro.error().wrap(what);
  }
  return {};
}

Status mountAllInto(int rootfsFd, const std::vector<ContainerMount>& mounts) {
  for (const auto& m : mounts) BOXD_TRY(mountInto(rootfsFd, m));
  return {};
}

}  // namespace boxd::shim
