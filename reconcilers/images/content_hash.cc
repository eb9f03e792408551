#include "reconcilers/images/content_hash.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "reconcilers/images/sha256_stream.h"

namespace boxd::reconcilers {

namespace {

// Adds a string with its terminating NUL, so fields cannot run into each other.
class Hasher : public Sha256Stream {
 public:
  void field(const std::string& s) { add(s.c_str(), s.size() + 1); }
};

char typeLetter(mode_t m) {
  if (S_ISDIR(m)) return 'd';
  if (S_ISREG(m)) return 'f';
  if (S_ISLNK(m)) return 'l';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISFIFO(m)) return 'p';
  return 's';
}

class Walker {
 public:
  explicit Walker(std::string root) : root_(std::move(root)) {}

  Result<TreeDigest> run() {
    if (!h_.ok()) return makeError("hash " + root_ + ": cannot initialize SHA-256");
    Fd dir(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return sysError("open", root_);
    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) return sysError("stat", root_);
    header(st, ".");
    BOXD_TRY(walkDir(dir.get(), "."));
    std::string hex = h_.hex();
    if (hex.empty()) return makeError("hash " + root_ + ": SHA-256 failed");
    return TreeDigest{hex, bytes_};
  }

 private:
  void header(const struct stat& st, const std::string& rel) {
    char buf[64];
    h_.field(std::string(1, typeLetter(st.st_mode)));
    h_.field(rel);
    std::snprintf(buf, sizeof buf, "%o", static_cast<unsigned>(st.st_mode & 07777));
    h_.field(buf);
    h_.field(std::to_string(st.st_uid));
    h_.field(std::to_string(st.st_gid));
  }

  Result<std::vector<std::string>> names(int dirFd, const std::string& rel) {
    int fd = ::openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sysError("open", path(rel));
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return sysError("opendir", path(rel));
    }
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        out.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  Status walkDir(int dirFd, const std::string& rel) {
    auto children = names(dirFd, rel);
    if (!children.ok()) return children.error();
    for (const auto& name : *children) {
      const std::string childRel = rel + "/" + name;
      struct stat st {};
      if (::fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return sysError("stat", path(childRel));
      header(st, childRel);
      BOXD_TRY(payload(dirFd, name, st, childRel));
    }
    return {};
  }

  Status payload(int dirFd, const std::string& name, const struct stat& st,
                 const std::string& rel) {
    if (S_ISDIR(st.st_mode)) {
      Fd sub(::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return sysError("open", path(rel));
      return walkDir(sub.get(), rel);
    }
    if (S_ISREG(st.st_mode)) return fileBytes(dirFd, name, st, rel);
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(dirFd, name.c_str(), target.data(), target.size());
      if (n < 0) return sysError("readlink", path(rel));
      target.resize(static_cast<size_t>(n));
      h_.field(target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      h_.field(std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev)));
    }
    return {};
  }

  Status fileBytes(int dirFd, const std::string& name, const struct stat& st,
                   const std::string& rel) {
    Fd fd(::openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return sysError("open", path(rel));
    h_.field(std::to_string(st.st_size));
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return sysError("read", path(rel));
      }
      if (n == 0) break;
      h_.add(buf, static_cast<size_t>(n));
    }
    bytes_ += st.st_size;
    return {};
  }

  std::string path(const std::string& rel) const { return root_ + rel.substr(1); }

  std::string root_;
  Hasher h_;
  int64_t bytes_ = 0;
};

}  // namespace

Result<TreeDigest> hashTree(const std::string& root) { return Walker(root).run(); }

}  // namespace boxd::reconcilers
