#include "reconcilers/network/netns_step.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/network/netlink.h"

namespace boxd::reconcilers {

namespace {

Status checkPath(const std::string& path) {
  if (path.size() < 2 || path[0] != '/' || path.back() == '/')
    return makeError("netns path must be an absolute file path: '" + path + "'", EINVAL);
  for (const auto& part : split(path, '/'))
    if (part == "..") return makeError("netns path must not contain '..': '" + path + "'", EINVAL);
  return {};
}

}  // namespace

NetnsStep::NetnsStep(std::string path) : path_(std::move(path)) {}

Result<std::unique_ptr<NetnsStep>> NetnsStep::fromParams(const nlohmann::json& params, Host&) {
  if (!params.is_object() || !params.contains("path") || !params["path"].is_string())
    return makeError("netns step: params need a string \"path\": " + params.dump(), EINVAL);
  return std::make_unique<NetnsStep>(params["path"].get<std::string>());
}

Result<bool> NetnsStep::observe() { return net::isPinnedNetns(path_); }

Status NetnsStep::pin() {
  BOXD_TRY(mkdirAll(path_.substr(0, path_.find_last_of('/')), 0755));
  Fd file(::open(path_.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (!file) return sysError("create netns file", path_);
  file.reset();
  // Only this thread moves; the guard brings it back before returning, error or not.
  auto fresh = net::NetnsGuard::enterNew();
  if (!fresh.ok()) return fresh.error().wrap("pin netns " + path_);
  if (::mount("/proc/thread-self/ns/net", path_.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return sysError("pin netns on", path_);
  return {};
}

Status NetnsStep::apply() {
  BOXD_TRY(checkPath(path_));
  auto pinned = net::isPinnedNetns(path_);
  if (!pinned.ok()) return pinned.error();
  if (!*pinned) BOXD_TRY(pin());
  auto nl = net::Netlink::openIn(path_);
  if (!nl.ok()) return nl.error();
  return nl->setUp("lo");
}

Status NetnsStep::undo() {
  BOXD_TRY(checkPath(path_));
  // A pin applied twice by a racing apply stacks two mounts: take them all off.
  for (int i = 0; i < 8; ++i) {
    auto pinned = net::isPinnedNetns(path_);
    if (!pinned.ok()) return pinned.error().wrap("unpin netns");
    if (!*pinned) break;
    if (::umount2(path_.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return sysError("unmount netns", path_);
  }
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return sysError("remove netns file", path_);
  return {};
}

}  // namespace boxd::reconcilers
