#include "reconcilers/volumes/volume_steps.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

int openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<std::string> realPathOf(int fd) {
  char buf[4096];
  ssize_t n = ::readlink(fdPath(fd).c_str(), buf, sizeof buf - 1);
  if (n < 0) return sysError("readlink", fdPath(fd));
  return std::string(buf, static_cast<size_t>(n));
}

// Opens rel strictly beneath the directory rootFd as an O_PATH fd: any step outside (an
// absolute or escaping symlink, "..") is refused with EXDEV. create: missing components are
// made, the last one as a directory, or as an empty file when lastIsFile.
Result<Fd> resolveBeneath(int rootFd, const std::string& rel, bool create, bool lastIsFile,
                          const std::string& display) {
  const uint64_t resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  std::vector<std::string> parts;
  for (auto& p : split(rel, '/')) {
    if (!p.empty() && p != ".") parts.push_back(p);
  }
  std::string prefix = ".";
  Fd cur(::fcntl(rootFd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string next = prefix + "/" + parts[i];
    int fd = openat2(rootFd, next, O_PATH | O_CLOEXEC, resolve);
    if (fd < 0 && errno == ENOENT && create) {
      bool last = i + 1 == parts.size();
      if (last && lastIsFile) {
        Fd f(::openat(cur.get(), parts[i].c_str(), O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                      0644));
        if (!f) return sysError("create mount point", display);
      } else if (::mkdirat(cur.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        return sysError("create mount point", display);
      }
      fd = openat2(rootFd, next, O_PATH | O_CLOEXEC, resolve);
    }
    if (fd < 0) {
      if (errno == EXDEV)
        return makeError(display + " leads outside through a symlink or \"..\"; refused", EXDEV);
      return sysError("resolve", display);
    }
    cur.reset(fd);
    prefix = next;
  }
  return cur;
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

// ---- bind -----------------------------------------------------------------------------------

BindStep::BindStep(Mounter& mounter, BindSpec spec, std::string hostTarget)
    : mounter_(mounter), spec_(std::move(spec)), hostTarget_(std::move(hostTarget)) {}

Result<std::unique_ptr<BindStep>> BindStep::fromParams(const nlohmann::json& params, Host& host) {
  BindSpec s;
  for (auto [key, out] :
       {std::pair{"source", &s.source}, {"rootfs", &s.rootfs}, {"mountPath", &s.mountPath}}) {
    auto v = stringParam(params, "bind", key);
    if (!v.ok()) return v.error();
    *out = *v;
  }
  s.subPath = params.value("subPath", "");
  s.readOnly = params.value("readOnly", false);
  s.createSubPath = params.value("createSubPath", false);
  return std::make_unique<BindStep>(host.mounter, std::move(s), params.value("hostTarget", ""));
}

std::string BindStep::resource() const {
  std::string src = spec_.subPath.empty() ? spec_.source : spec_.source + "/" + spec_.subPath;
  return src + " -> " + spec_.mountPath + (spec_.readOnly ? " (ro)" : "");
}

nlohmann::json BindStep::params() const {
  return {{"source", spec_.source},     {"subPath", spec_.subPath},
          {"rootfs", spec_.rootfs},     {"mountPath", spec_.mountPath},
          {"readOnly", spec_.readOnly}, {"createSubPath", spec_.createSubPath},
          {"hostTarget", hostTarget_}};
}

Result<bool> BindStep::observe() {
  if (hostTarget_.empty()) return false;
  return mounter_.isMountPoint(hostTarget_);
}

Status BindStep::apply() {
  if (!hostTarget_.empty()) {
    auto mounted = mounter_.isMountPoint(hostTarget_);
    if (mounted.ok() && *mounted) return {};
  }
  std::string what = "volume mount " + spec_.mountPath;
  Fd srcRoot(::open(spec_.source.c_str(), O_PATH | O_CLOEXEC));
  if (!srcRoot) return sysError("open volume", spec_.source).wrap(what);
  struct stat st {};
  if (::fstat(srcRoot.get(), &st) != 0) return sysError("stat", spec_.source).wrap(what);
  Fd src;
  if (spec_.subPath.empty()) {
    src = std::move(srcRoot);
  } else {
    // subPath: nothing in the volume may lead outside it (a symlink planted by a container).
    auto r = resolveBeneath(srcRoot.get(), spec_.subPath, spec_.createSubPath, false,
                            "subPath " + spec_.subPath + " of " + spec_.source);
    if (!r.ok()) return r.error().wrap(what);
    src = std::move(*r);
    if (::fstat(src.get(), &st) != 0) return sysError("stat", spec_.subPath).wrap(what);
  }
  Fd rootfs(::open(spec_.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootfs) return sysError("open rootfs", spec_.rootfs).wrap(what);
  // The mount point strictly beneath the container's root: an image symlink that leads out
  // (absolute, or with "..") is refused rather than followed.
  auto target = resolveBeneath(rootfs.get(), spec_.mountPath, true, !S_ISDIR(st.st_mode),
                               "mountPath " + spec_.mountPath);
  if (!target.ok()) return target.error().wrap(what);
  auto hostTarget = realPathOf(target->get());
  if (!hostTarget.ok()) return hostTarget.error().wrap(what);
  if (!startsWith(*hostTarget, spec_.rootfs + "/"))
    return makeError(what + ": resolved to " + *hostTarget + ", outside the container root", EXDEV);
  BOXD_TRY(mounter_.mount(fdPath(src.get()), fdPath(target->get()), "", MS_BIND, ""));
  hostTarget_ = *hostTarget;
  if (spec_.readOnly) {
    Status st2 = mounter_.mount("", hostTarget_, "",
                                MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "");
    if (!st2.ok()) {
      (void)mounter_.unmount(hostTarget_);
      return st2.error().wrap(what + ": make read-only");
    }
  }
  return {};
}

Status BindStep::undo() {
  if (hostTarget_.empty()) {
    // Journaled as intent only: find where it would have gone, without creating anything.
    Fd rootfs(::open(spec_.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!rootfs) return {};
    auto target = resolveBeneath(rootfs.get(), spec_.mountPath, false, false, spec_.mountPath);
    if (!target.ok()) return {};
    auto path = realPathOf(target->get());
    if (!path.ok()) return {};
    hostTarget_ = *path;
  }
  return mounter_.unmount(hostTarget_);
}

// ---- binds ---------------------------------------------------------------------------------

Result<std::unique_ptr<BindsStep>> BindsStep::fromParams(const nlohmann::json& params, Host& host) {
  auto list = params.find("binds");
  if (list == params.end() || !list->is_array())
    return makeError("binds step: params need a \"binds\" array");
  std::vector<std::unique_ptr<BindStep>> binds;
  for (const auto& p : *list) {
    auto b = BindStep::fromParams(p, host);
    if (!b.ok()) return b.error();
    binds.push_back(std::move(*b));
  }
  return std::make_unique<BindsStep>(std::move(binds));
}

std::string BindsStep::resource() const {
  std::string out;
  for (const auto& b : binds_) out += (out.empty() ? "" : ", ") + b->resource();
  return out;
}

nlohmann::json BindsStep::params() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& b : binds_) list.push_back(b->params());
  return {{"binds", std::move(list)}};
}

Result<bool> BindsStep::observe() {
  for (const auto& b : binds_) {
    auto present = b->observe();
    if (!present.ok() || !*present) return present;
  }
  return true;
}

Status BindsStep::apply() {
  for (const auto& b : binds_) BOXD_TRY(b->apply());
  return {};
}

Status BindsStep::undo() {
  Status first;
  for (auto it = binds_.rbegin(); it != binds_.rend(); ++it) {
    Status st = (*it)->undo();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace boxd::reconcilers
