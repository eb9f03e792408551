#include "reconcilers/poddir/poddir_step.h"

#include <sys/stat.h>

#include <cerrno>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

Status checkPath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path == "/")
    return makeError("pod dir must be an absolute path below /: '" + path + "'", EINVAL);
  for (const auto& part : split(path, '/'))
    if (part == "..") return makeError("pod dir must not contain '..': '" + path + "'", EINVAL);
  return {};
}

}  // namespace

PodDirStep::PodDirStep(std::string path) : path_(std::move(path)) {}

Result<std::unique_ptr<PodDirStep>> PodDirStep::fromParams(const nlohmann::json& params,
                                                           Host& /*host*/) {
  if (!params.is_object() || !params.contains("path") || !params["path"].is_string())
    return makeError("poddir step: params need a string \"path\": " + params.dump(), EINVAL);
  return std::make_unique<PodDirStep>(params["path"].get<std::string>());
}

Result<bool> PodDirStep::observe() {
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return sysError("stat", path_);
  }
  return S_ISDIR(st.st_mode);
}

Status PodDirStep::apply() {
  BOXD_TRY(checkPath(path_));
  Status st = mkdirAll(path_, 0700);
  if (st.ok() && ::chmod(path_.c_str(), 0700) != 0) st = sysError("chmod", path_);
  if (!st.ok()) return st.error().wrap("create pod dir");
  return {};
}

Status PodDirStep::undo() {
  BOXD_TRY(checkPath(path_));
  Status st = removeAll(path_);
  if (!st.ok()) return st.error().wrap("remove pod dir " + path_);
  return {};
}

}  // namespace boxd::reconcilers
