#include "reconcilers/volumes/legacy_bind_step.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/fd.h"
#include "common/safe_path.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

constexpr uint64_t kNoSymlinks = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
constexpr int kMaxStacked = 8;  // binds stacked on one mount point by retried applies

Status noLongerPlanned(const std::string& kind) {
  return makeError(kind +
                       " steps are no longer planned (volumes are mounted in the container's own "
                       "mount namespace); a journal row of this kind is kept for undo only",
                   ENOTSUP);
}

}  // namespace

LegacyBindStep::LegacyBindStep(nlohmann::json params, std::string rootfs, std::string mountPath)
    : params_(std::move(params)), rootfs_(std::move(rootfs)), mountPath_(std::move(mountPath)) {}

Result<std::unique_ptr<LegacyBindStep>> LegacyBindStep::fromParams(const nlohmann::json& params,
                                                                   Host&) {
  for (const char* key : {"rootfs", "mountPath"}) {
    if (!params.is_object() || !params.contains(key) || !params[key].is_string())
      return makeError(
          std::string("bind step: params need a string \"") + key + "\": " + params.dump(), EINVAL);
  }
  std::string rootfs = params["rootfs"], mountPath = params["mountPath"];
  if (rootfs.empty() || rootfs[0] != '/')
    return makeError("bind step: rootfs must be an absolute path: " + params.dump(), EINVAL);
  return std::make_unique<LegacyBindStep>(params, rootfs, mountPath);
}

std::string LegacyBindStep::resource() const {
  std::string src = params_.value("source", "");
  std::string sub = params_.value("subPath", "");
  if (!sub.empty()) src += "/" + sub;
  return src + " -> " + mountPath_ + (params_.value("readOnly", false) ? " (ro)" : "");
}

Status LegacyBindStep::apply() { return noLongerPlanned("bind"); }

Status LegacyBindStep::undo() {
  const std::string what = "unmount legacy bind " + mountPath_ + " in " + rootfs_;
  // The rootfs path is boxd's own (<pod dir>/containers/<name>/rootfs): no symlink expected.
  Fd rootfs(openat2(AT_FDCWD, rootfs_, O_PATH | O_DIRECTORY, kNoSymlinks));
  if (!rootfs) return errno == ENOENT ? Status{} : Status{sysError("open rootfs", rootfs_)};
  const size_t slash = mountPath_.find_last_of('/');
  const std::string parentRel = slash == std::string::npos ? "" : mountPath_.substr(0, slash);
  const std::string name = mountPath_.substr(slash == std::string::npos ? 0 : slash + 1);
  if (name.empty() || name == "." || name == "..")
    return makeError(what + ": not a mount point path", EINVAL);
  BeneathOptions o;
  o.resolve = kNoSymlinks;
  auto parent = openBeneath(rootfs.get(), parentRel, o, "mountPath " + mountPath_);
  if (!parent.ok()) {
    if (parent.error().code == ENOENT) return {};
    return parent.error().wrap(what + " (left to the rootfs unmount)");
  }
  for (int i = 0; i < kMaxStacked; ++i) {
    Fd target(::openat(parent->get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!target) return errno == ENOENT ? Status{} : Status{sysError("open", mountPath_)};
    struct stat st {};
    if (::fstat(target.get(), &st) != 0) return sysError("stat", mountPath_).wrap(what);
    if (S_ISLNK(st.st_mode))
      return makeError(what + " (left to the rootfs unmount): mountPath " + mountPath_ +
                           " is a symlink; refused",
                       ELOOP);
    auto root = isMountRoot(target.get(), parent->get());
    if (!root.ok()) return root.error().wrap(what);
    if (!*root) return {};
    if (::umount2(fdPath(target.get()).c_str(), MNT_DETACH) != 0)
      return sysError("detach", mountPath_).wrap(what);
  }
  return makeError(what + ": still mounted after " + std::to_string(kMaxStacked) + " detaches",
                   EBUSY);
}

Result<std::unique_ptr<LegacyBindsStep>> LegacyBindsStep::fromParams(const nlohmann::json& params,
                                                                     Host& host) {
  auto list = params.is_object() ? params.find("binds") : params.end();
  if (!params.is_object() || list == params.end() || !list->is_array())
    return makeError("binds step: params need a \"binds\" array");
  std::vector<std::unique_ptr<LegacyBindStep>> binds;
  for (const auto& p : *list) {
    auto b = LegacyBindStep::fromParams(p, host);
    if (!b.ok()) return b.error();
    binds.push_back(std::move(*b));
  }
  return std::make_unique<LegacyBindsStep>(std::move(binds));
}

std::string LegacyBindsStep::resource() const {
  std::string out;
  for (const auto& b : binds_) out += (out.empty() ? "" : ", ") + b->resource();
  return out;
}

nlohmann::json LegacyBindsStep::params() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& b : binds_) list.push_back(b->params());
  return {{"binds", std::move(list)}};
}

Status LegacyBindsStep::apply() { return noLongerPlanned("binds"); }

Status LegacyBindsStep::undo() {
  Status first;
  for (auto it = binds_.rbegin(); it != binds_.rend(); ++it) {
    Status st = (*it)->undo();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace boxd::reconcilers
