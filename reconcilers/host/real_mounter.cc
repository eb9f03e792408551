#include "reconcilers/host/real_mounter.h"

#include <libmount/libmount.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

struct TableFree {
  void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct IterFree {
  void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};
using TablePtr = std::unique_ptr<libmnt_table, TableFree>;
using IterPtr = std::unique_ptr<libmnt_iter, IterFree>;

}  // namespace

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

RealMounter::RealMounter(std::string mountinfo) : mountinfo_(std::move(mountinfo)) {}

Status RealMounter::mount(const std::string& source, const std::string& target,
                          const std::string& fstype, unsigned long flags, const std::string& data) {
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
  int flags = UMOUNT_NOFOLLOW | (detach ? MNT_DETACH : 0);
  if (::umount2(target.c_str(), flags) == 0) return {};
  int err = errno;
  if (err == EINVAL || err == ENOENT) {
    auto mounted = isMountPoint(target);
    if (!mounted.ok()) return mounted.error().wrap("unmount " + target);
    if (!*mounted) return {};
  }
  return sysError(detach ? "unmount (detach)" : "unmount", target, err);
}

Result<bool> RealMounter::isMountPoint(const std::string& target) {
  if (target.empty() || target[0] != '/')
    return makeError("mount point check: not an absolute path: " + target, EINVAL);
  const std::string want = normalizeMountPath(target);
  errno = 0;
  TablePtr table(mnt_new_table_from_file(mountinfo_.c_str()));
  if (!table) return sysError("parse", mountinfo_, errno != 0 ? errno : EINVAL);
  IterPtr iter(mnt_new_iter(MNT_ITER_BACKWARD));
  if (!iter) return sysError("libmount iterator", mountinfo_, ENOMEM);
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(table.get(), iter.get(), &fs) == 0) {
    const char* t = mnt_fs_get_target(fs);
    if (t != nullptr && want == t) return true;
  }
  return false;
}

}  // namespace boxd::reconcilers
