#include "reconcilers/poddir/files_step.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

// A name is one path component: params come from the journal, never from a pod author, but a
// corrupted row must still not write outside dir.
bool plainName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

// In place (O_TRUNC on the same inode), not rename: a container's bind mount holds the inode,
// so only an in-place write reaches containers that are already running.
Status writeInPlace(const std::string& path, const std::string& content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return sysError("open", path);
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("write", path);
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

FilesStep::FilesStep(std::string dir, std::map<std::string, std::string> files)
    : dir_(std::move(dir)), files_(std::move(files)) {}

Result<std::unique_ptr<FilesStep>> FilesStep::fromParams(const nlohmann::json& params, Host&) {
  auto dir = params.find("dir");
  auto files = params.find("files");
  if (dir == params.end() || !dir->is_string() || files == params.end() || !files->is_object())
    return makeError("files step: params need \"dir\" and \"files\"");
  std::map<std::string, std::string> out;
  for (const auto& [name, content] : files->items()) {
    if (!plainName(name) || !content.is_string())
      return makeError("files step: bad file entry \"" + name + "\"");
    out[name] = content.get<std::string>();
  }
  return std::make_unique<FilesStep>(dir->get<std::string>(), std::move(out));
}

Result<bool> FilesStep::observe() {
  for (const auto& [name, content] : files_) {
    auto have = readFile(dir_ + "/" + name);
    if (!have.ok() || *have != content) return false;
  }
  return true;
}

Status FilesStep::apply() {
  BOXD_TRY(mkdirAll(dir_, 0755));
  for (const auto& [name, content] : files_) {
    std::string path = dir_ + "/" + name;
    auto have = readFile(path);
    if (have.ok() && *have == content) continue;
    BOXD_TRY(writeInPlace(path, content));
  }
  return {};
}

Status FilesStep::undo() {
  for (const auto& [name, content] : files_) {
    std::string path = dir_ + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("remove", path);
  }
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY)
    return sysError("remove", dir_);
  return {};
}

}  // namespace boxd::reconcilers
