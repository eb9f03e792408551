#include "reconcilers/rootfs/overlay_step.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "common/util.h"
#include "reconcilers/host/host.h"

namespace boxd::reconcilers {

namespace {

Status checkOverlayPath(const char* what, const std::string& path) {
  if (path.empty() || path[0] != '/')
    return makeError(std::string("overlay ") + what + " must be an absolute path: '" + path + "'",
                     EINVAL);
  if (path.find_first_of(",:\\\n") != std::string::npos)
    return makeError(
        std::string("overlay ") + what +
            " path contains ',', ':', '\\' or a newline, which overlayfs options cannot carry: '" +
            path + "'",
        EINVAL);
  return {};
}

Status requireDir(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sysError("stat", path);
  if (!S_ISDIR(st.st_mode)) return makeError(path + " is not a directory", ENOTDIR);
  return {};
}

}  // namespace

Result<std::string> overlayOptions(const OverlayPaths& p) {
  if (p.lowers.empty()) return makeError("overlay needs at least one lower dir", EINVAL);
  if (p.lowers.size() > kMaxLayers)
    return makeError("an image of " + std::to_string(p.lowers.size()) +
                         " layers is over overlayfs' limit of " + std::to_string(kMaxLayers),
                     E2BIG);
  std::string lowers;
  for (const auto& l : p.lowers) {
    BOXD_TRY(checkOverlayPath("lower", l));
    lowers += (lowers.empty() ? "" : ":") + l;
  }
  BOXD_TRY(checkOverlayPath("upper", p.upper));
  BOXD_TRY(checkOverlayPath("work", p.work));
  BOXD_TRY(checkOverlayPath("target", p.target));
  std::string options = "lowerdir=" + lowers + ",upperdir=" + p.upper + ",workdir=" + p.work;
  return options;
}

OverlayStep::OverlayStep(Mounter& mounter, OverlayPaths paths, UnmountRetry retry)
    : mounter_(mounter), paths_(std::move(paths)), retry_(retry) {}

Result<std::unique_ptr<OverlayStep>> OverlayStep::fromParams(const nlohmann::json& params,
                                                             Host& host) {
  OverlayPaths p;
  if (params.is_object() && params.contains("lowers") && params["lowers"].is_array()) {
    for (const auto& l : params["lowers"])
      if (l.is_string()) p.lowers.push_back(l.get<std::string>());
  } else if (params.is_object() && params.contains("lower") && params["lower"].is_string()) {
    p.lowers.push_back(params["lower"].get<std::string>());  // journaled before layers
  }
  if (p.lowers.empty())
    return makeError("rootfs step: params need \"lowers\", a list of strings: " + params.dump(),
                     EINVAL);
  if (params.is_object()) {
    p.image = params.value("image", "");
    p.container = params.value("container", "");
  }
  std::pair<const char*, std::string*> fields[] = {
      {"upper", &p.upper}, {"work", &p.work}, {"target", &p.target}};
  for (auto& [name, out] : fields) {
    if (!params.is_object() || !params.contains(name) || !params[name].is_string())
      return makeError(
          std::string("rootfs step: params need a string \"") + name + "\": " + params.dump(),
          EINVAL);
    *out = params[name].get<std::string>();
  }
  return std::make_unique<OverlayStep>(host.mounter, std::move(p));
}

nlohmann::json OverlayStep::params() const {
  nlohmann::json j = {{"lowers", paths_.lowers},
                      {"upper", paths_.upper},
                      {"work", paths_.work},
                      {"target", paths_.target}};
  if (!paths_.image.empty()) j["image"] = paths_.image;
  if (!paths_.container.empty()) j["container"] = paths_.container;
  return j;
}

// target is <pod dir>/containers/<name>/rootfs: boxd's directories all the way down. The
// container writes beneath it (through the overlay, into upper/), never the path to it, and the
// mount is judged by mount IDs (RealMounter::isMountPoint): whatever the container renames or
// links inside its root, the answer is about the overlay on target.
Result<bool> OverlayStep::observe() { return mounter_.isMountPoint(paths_.target); }

Status OverlayStep::apply() {
  auto options = overlayOptions(paths_);
  if (!options.ok()) return options.error().wrap("mount rootfs");
  Status st;
  for (const auto& l : paths_.lowers)
    if (st.ok()) st = requireDir(l);
  if (st.ok()) st = mkdirAll(paths_.upper, 0755);
  if (st.ok()) st = mkdirAll(paths_.work, 0700);
  if (st.ok()) st = mkdirAll(paths_.target, 0755);
  if (!st.ok()) return st.error().wrap("mount rootfs on " + paths_.target);
  auto mounted = mounter_.isMountPoint(paths_.target);
  if (!mounted.ok()) return mounted.error().wrap("mount rootfs");
  if (*mounted) return {};
  return mounter_.mount("overlay", paths_.target, "overlay", 0, *options);
}

Result<std::string> OverlayStep::unmountTarget() {
  Status st = mounter_.unmount(paths_.target);
  for (int i = 0; i < retry_.attempts && !st.ok() && st.error().code == EBUSY; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(retry_.delayMs));
    st = mounter_.unmount(paths_.target);
  }
  if (st.ok()) return std::string();
  if (st.error().code != EBUSY) return st.error();
  const std::string tries = std::to_string(retry_.attempts + 1);
  Status detached = mounter_.unmount(paths_.target, true);
  if (!detached.ok())
    return detached.error().wrap("unmount rootfs " + paths_.target + ": busy after " + tries +
                                 " attempts, and the lazy detach failed too");
  return "unmount rootfs " + paths_.target + ": busy after " + tries +
         " attempts; detached lazily (MNT_DETACH), a process may still use it";
}

Status OverlayStep::undo() {
  auto mounted = mounter_.isMountPoint(paths_.target);
  if (!mounted.ok()) return mounted.error().wrap("unmount rootfs");
  std::string note;
  if (*mounted) {
    auto un = unmountTarget();
    if (!un.ok()) return un.error();
    note = *un;
  }
  if (::rmdir(paths_.target.c_str()) != 0 && errno != ENOENT) {
    Error e = sysError("rmdir", paths_.target);
    return note.empty() ? e : e.wrap(note);
  }
  if (!note.empty()) return makeError(note, EBUSY);
  return {};
}

}  // namespace boxd::reconcilers
