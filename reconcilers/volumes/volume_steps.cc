#include "reconcilers/volumes/volume_steps.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/host/host.h"

namespace boxd::reconcilers {

namespace {

Result<std::string> stringParam(const nlohmann::json& p, const char* kind, const char* key) {
  if (!p.is_object() || !p.contains(key) || !p[key].is_string())
    return makeError(std::string(kind) + " step: params need a string \"" + key + "\": " + p.dump(),
                     EINVAL);
  return p[key].get<std::string>();
}

}  // namespace

// ---- emptydir -------------------------------------------------------------------------------

EmptyDirStep::EmptyDirStep(Mounter& mounter, std::string path, bool memory, int64_t sizeBytes)
    : mounter_(mounter), path_(std::move(path)), memory_(memory), sizeBytes_(sizeBytes) {}

Result<std::unique_ptr<EmptyDirStep>> EmptyDirStep::fromParams(const nlohmann::json& params,
                                                               Host& host) {
  auto path = stringParam(params, "emptydir", "path");
  if (!path.ok()) return path.error();
  return std::make_unique<EmptyDirStep>(host.mounter, *path, params.value("memory", false),
                                        params.value("sizeBytes", int64_t{0}));
}

nlohmann::json EmptyDirStep::params() const {
  return {{"path", path_}, {"memory", memory_}, {"sizeBytes", sizeBytes_}};
}

// path_ is <pod dir>/volumes/<name>: every component is boxd's, none lies in a tree a container
// writes (a container sees only the inside of the volume, and cannot rename its root, a mount
// point in its namespace). The tmpfs is judged by mount IDs (RealMounter::isMountPoint), so a
// container renaming things inside it changes nothing here.
Result<bool> EmptyDirStep::observe() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return false;
  if (!memory_) return S_ISDIR(st.st_mode);
  return mounter_.isMountPoint(path_);
}

Status EmptyDirStep::apply() {
  BOXD_TRY(mkdirAll(path_, 0755));
  if (memory_) {
    auto mounted = mounter_.isMountPoint(path_);
    if (!mounted.ok()) return mounted.error();
    if (!*mounted) {
      BOXD_TRY(mounter_.mount("tmpfs", path_, "tmpfs", MS_NOSUID | MS_NODEV,
                              "size=" + std::to_string(sizeBytes_) + ",mode=0777"));
    }
  }
  // Shared by every container of the pod, whichever user it runs as (as Kubernetes does).
  if (::chmod(path_.c_str(), 0777) != 0) return sysError("chmod", path_);
  return {};
}

Status EmptyDirStep::undo() {
  if (memory_) BOXD_TRY(mounter_.unmount(path_));
  Status st = removeAll(path_);
  if (!st.ok()) return st.error().wrap("remove emptyDir");
  return {};
}

// ---- hostpath -------------------------------------------------------------------------------

HostPathStep::HostPathStep(std::string path, std::string type)
    : path_(std::move(path)), type_(std::move(type)) {}

Result<std::unique_ptr<HostPathStep>> HostPathStep::fromParams(const nlohmann::json& params,
                                                               Host&) {
  auto path = stringParam(params, "hostpath", "path");
  if (!path.ok()) return path.error();
  return std::make_unique<HostPathStep>(*path, params.value("type", ""));
}

Result<bool> HostPathStep::observe() {
  struct stat st {};
  return ::stat(path_.c_str(), &st) == 0 || type_.empty();
}

Status HostPathStep::apply() {
  if (type_ == "DirectoryOrCreate") BOXD_TRY(mkdirAll(path_, 0755));
  if (type_ == "FileOrCreate") {
    BOXD_TRY(mkdirAll(path_.substr(0, path_.find_last_of('/')), 0755));
    Fd f(::open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!f) return sysError("create hostPath file", path_);
  }
  if (type_.empty()) return {};
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return sysError("hostPath " + type_, path_);
  struct Want {
    const char* type;
    bool ok;
    const char* what;
  } wants[] = {{"Directory", S_ISDIR(st.st_mode), "a directory"},
               {"DirectoryOrCreate", S_ISDIR(st.st_mode), "a directory"},
               {"File", S_ISREG(st.st_mode), "a regular file"},
               {"FileOrCreate", S_ISREG(st.st_mode), "a regular file"},
               {"Socket", S_ISSOCK(st.st_mode), "a socket"},
               {"CharDevice", S_ISCHR(st.st_mode), "a character device"},
               {"BlockDevice", S_ISBLK(st.st_mode), "a block device"}};
  for (const auto& w : wants) {
    if (type_ == w.type && !w.ok)
      return makeError("hostPath " + path_ + " is not " + w.what + " (type " + type_ + ")", EINVAL);
  }
  return {};
}

}  // namespace boxd::reconcilers
