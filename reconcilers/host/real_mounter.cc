#include "reconcilers/host/real_mounter.h"

#include <fcntl.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/safe_path.h"
#include "common/util.h"

namespace boxd::reconcilers {

std::string normalizeMountPath(const std::string& path) {
  std::string out;
  for (const auto& part : split(path, '/')) {
    if (part.empty() || part == ".") continue;
    out += '/';
    out += part;
  }
  if (out.empty()) return path.empty() || path[0] != '/' ? path : "/";
  if (path[0] != '/') out.erase(0, 1);
  return out;
}

namespace {

constexpr size_t kPageOptions = 4095;  // mount(2) copies at most a page of options

// An overlay whose options do not fit in a page (an image of many layers): the new mount API,
// one fsconfig call per option and "lowerdir+" per layer (Linux 6.8+), then moved onto target.
Status mountOverlayByParts(const std::string& target, unsigned long flags,
                           const std::string& data) {
  const std::string what = "mount overlay on " + target;
  Fd fs(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs) return sysError("fsopen overlay for", target);
  for (const auto& opt : split(data, ',')) {
    const size_t eq = opt.find('=');
    const std::string key = opt.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "lowerdir") {
      for (const auto& lower : split(value, ':'))
        if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lower.c_str(), 0) != 0)
          return sysError("overlay lowerdir+ (needs Linux 6.8)", lower).wrap(what);
    } else if (eq == std::string::npos) {
      if (::fsconfig(fs.get(), FSCONFIG_SET_FLAG, key.c_str(), nullptr, 0) != 0)
        return sysError("overlay option", key).wrap(what);
    } else if (::fsconfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
      return sysError("overlay option", key).wrap(what);
    }
  }
  if (::fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return sysError("create overlay for", target);
  unsigned int attrs = (flags & MS_RDONLY) != 0 ? MOUNT_ATTR_RDONLY : 0;
  Fd mnt(::fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (!mnt) return sysError("fsmount overlay for", target);
  if (::move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return sysError("move_mount overlay to", target);
  return {};
}

}  // namespace

Status RealMounter::mount(const std::string& source, const std::string& target,
                          const std::string& fstype, unsigned long flags, const std::string& data) {
  if (fstype == "overlay" && data.size() > kPageOptions)
    return mountOverlayByParts(target, flags, data);
  const char* opts = data.empty() ? nullptr : data.c_str();
  const char* type = fstype.empty() ? nullptr : fstype.c_str();
  if (::mount(source.c_str(), target.c_str(), type, flags, opts) != 0) {
    int err = errno;
    std::string what = fstype.empty() ? source : fstype + " (" + source + ")";
    return makeError("mount " + what + " on " + target + ": " + std::strerror(err), err);
  }
  return {};
}

Status RealMounter::unmount(const std::string& target, bool detach) {
  auto mounted = isMountPoint(target);
  if (!mounted.ok()) return mounted.error().wrap("unmount " + target);
  if (!*mounted) return {};
  int flags = UMOUNT_NOFOLLOW | (detach ? MNT_DETACH : 0);
  if (::umount2(target.c_str(), flags) == 0) return {};
  int err = errno;
  if (err == EINVAL || err == ENOENT) {  // unmounted meanwhile?
    auto again = isMountPoint(target);
    if (again.ok() && !*again) return {};
  }
  return sysError(detach ? "unmount (detach)" : "unmount", target, err);
}

Result<bool> RealMounter::isMountPoint(const std::string& target) {
  if (target.empty() || target[0] != '/')
    return makeError("mount point check: not an absolute path: " + target, EINVAL);
  const std::string path = normalizeMountPath(target);
  if (path == "/") return true;
  for (const auto& part : split(path, '/')) {
    if (part == "..")
      return makeError("mount point check: \"..\" in " + target + "; refused", EINVAL);
  }
  const size_t slash = path.find_last_of('/');
  const std::string parentPath = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  Fd parent(openat2(AT_FDCWD, parentPath, O_PATH | O_DIRECTORY,
                    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));
  if (!parent) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    if (errno == ELOOP)
      return makeError("mount point check: " + target + " passes through a symlink; refused",
                       ELOOP);
    return sysError("open", parentPath);
  }
  // The last component is not followed either: a symlink is never a mount point.
  Fd fd(::openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errno == ENOENT ? Result<bool>(false) : Result<bool>(sysError("open", path));
  auto root = isMountRoot(fd.get(), parent.get());
  if (!root.ok()) return root.error().wrap("mount point check of " + target);
  return *root;
}

}  // namespace boxd::reconcilers
