#include "reconcilers/block/block_sysfs.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/util.h"

namespace boxd::reconcilers {

Status writeSysfsAttr(const std::string& path, std::string_view data) {
  return writeFile(path, data);
}

void sleepMs(int64_t ms) {
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

namespace sysfs {

std::vector<std::string> list(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    out.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> read(const std::string& path) {
  auto content = readFile(path);
  if (!content.ok()) return content.error();
  return trim(*content);
}

std::string readOr(const std::string& path, const std::string& fallback) {
  auto content = read(path);
  return content.ok() ? *content : fallback;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<std::string> realPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::string baseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace sysfs

}  // namespace boxd::reconcilers
