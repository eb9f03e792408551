#include "reconcilers/quota/disk_usage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

// An open directory stream; closedir closes its fd too.
struct Dir {
  DIR* d = nullptr;
  explicit Dir(DIR* p) : d(p) {}
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir() {
    if (d != nullptr) ::closedir(d);
  }
};

class Walker {
 public:
  Walker(dev_t dev, int64_t maxEntries) : dev_(dev), max_(maxEntries) {}

  // Adds what dirFd holds (not dirFd itself); takes ownership of dirFd.
  Status walk(int dirFd, const std::string& display) {
    // Explicit stack of open directories: depth is bounded by the entry budget, not the C stack.
    std::vector<std::pair<std::unique_ptr<Dir>, std::string>> stack;
    DIR* d = ::fdopendir(dirFd);
    if (d == nullptr) {
      Error e = sysError("fdopendir", display);
      ::close(dirFd);
      return e;
    }
    stack.emplace_back(std::make_unique<Dir>(d), display);
    while (!stack.empty()) {
      if (usage_.entries >= max_) {
        usage_.complete = false;
        return {};
      }
      auto& [dir, where] = stack.back();
      errno = 0;
      dirent* ent = ::readdir(dir->d);
      if (ent == nullptr) {
        if (errno != 0) return sysError("readdir", where);
        stack.pop_back();
        continue;
      }
      if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
      const int parent = ::dirfd(dir->d);
      struct stat st {};
      if (::fstatat(parent, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed meanwhile by the container
        return sysError("stat", where + "/" + ent->d_name);
      }
      if (st.st_dev != dev_) continue;  // a mount inside: not this tree's disk
      add(st);
      if (!S_ISDIR(st.st_mode)) continue;
      if (stack.size() >= kMaxTreeDepth) {  // each level holds an fd: not deeper
        usage_.complete = false;
        continue;
      }
      int fd = ::openat(parent, ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // swapped meanwhile
        return sysError("open", where + "/" + ent->d_name);
      }
      DIR* sub = ::fdopendir(fd);
      if (sub == nullptr) {
        ::close(fd);
        return sysError("fdopendir", where + "/" + ent->d_name);
      }
      std::string subWhere = where + "/" + ent->d_name;
      stack.emplace_back(std::make_unique<Dir>(sub), std::move(subWhere));
    }
    return {};
  }

  void add(const struct stat& st) {
    ++usage_.entries;
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && !seen_.insert(st.st_ino).second) return;
    usage_.bytes += static_cast<int64_t>(st.st_blocks) * 512;
  }

  TreeUsage usage_;

 private:
  dev_t dev_;
  int64_t max_;
  std::set<ino_t> seen_;  // inodes with several links, counted once
};

}  // namespace

Result<TreeUsage> treeUsage(const std::string& path, int64_t maxEntries) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return TreeUsage{};
    return sysError("open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = sysError("stat", path);
    ::close(fd);
    return e;
  }
  Walker w(st.st_dev, maxEntries);
  w.add(st);
  BOXD_TRY(w.walk(fd, path));
  return w.usage_;
}

Result<TreeUsage> filesUsage(const std::string& dir, const std::string& prefix) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return TreeUsage{};
    return sysError("open", dir);
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    Error e = sysError("fdopendir", dir);
    ::close(fd);
    return e;
  }
  Dir owner(d);
  TreeUsage u;
  for (;;) {
    errno = 0;
    dirent* ent = ::readdir(d);
    if (ent == nullptr) {
      if (errno != 0) return sysError("readdir", dir);
      break;
    }
    std::string_view name = ent->d_name;
    if (name.substr(0, prefix.size()) != prefix) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode)) continue;
    ++u.entries;
    u.bytes += static_cast<int64_t>(st.st_blocks) * 512;
  }
  return u;
}

}  // namespace boxd::reconcilers
