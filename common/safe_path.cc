#include "common/safe_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/util.h"

namespace boxd {

std::string fdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int openat2(int dirfd, const std::string& path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

namespace {

Error refused(const std::string& display, int err) {
  if (err == EXDEV)
    return makeError(display + " leads outside through a symlink or \"..\"; refused", EXDEV);
  if (err == ELOOP) return makeError(display + " passes through a symlink; refused", ELOOP);
  return sysError("resolve", display, err);
}

// Makes the missing component name in dir: a directory, or an empty file when asFile. An
// existing entry (a concurrent create, or a dangling symlink the next resolve refuses) is left.
Status createComponent(int dir, const std::string& name, bool asFile, const std::string& display) {
  if (asFile) {
    Fd f(::openat(dir, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!f && errno != EEXIST) return sysError("create mount point", display);
    return {};
  }
  if (::mkdirat(dir, name.c_str(), 0755) != 0 && errno != EEXIST)
    return sysError("create mount point", display);
  return {};
}

}  // namespace

// Each prefix is resolved again from rootFd, so a symlink met on the way is followed (or
// refused) by the kernel under RESOLVE_BENEATH, never by this code.
Result<Fd> openBeneath(int rootFd, const std::string& rel, const BeneathOptions& options,
                       const std::string& display) {
  const uint64_t resolve = options.resolve | RESOLVE_BENEATH;
  std::vector<std::string> parts;
  for (auto& p : split(rel, '/')) {
    if (!p.empty() && p != ".") parts.push_back(p);
  }
  Fd cur(::openat(rootFd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return sysError("open", display);
  std::string prefix = ".";
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    std::string next = prefix + "/" + parts[i];
    // O_NOFOLLOW: with RESOLVE_NO_SYMLINKS a symlink as the last component is refused below
    // (its fd names the link itself), without it the kernel follows it beneath rootFd.
    const uint64_t nofollow = (resolve & RESOLVE_NO_SYMLINKS) != 0 ? O_NOFOLLOW : 0;
    int fd = openat2(rootFd, next, O_PATH | nofollow, resolve);
    if (fd < 0 && errno == ENOENT && options.create) {
      BOXD_TRY(createComponent(cur.get(), parts[i], last && options.lastIsFile, display));
      fd = openat2(rootFd, next, O_PATH | nofollow, resolve);
    }
    if (fd < 0) return refused(display, errno);
    Fd opened(fd);
    if (nofollow != 0) {
      struct stat st {};
      if (::fstatat(opened.get(), "", &st, AT_EMPTY_PATH) != 0) return sysError("stat", display);
      if (S_ISLNK(st.st_mode)) return refused(display, ELOOP);
    }
    cur = std::move(opened);
    prefix = next;
  }
  return cur;
}

Result<uint64_t> mountIdOf(int fd) {
  const std::string info = "/proc/self/fdinfo/" + std::to_string(fd);
  auto text = readFile(info);
  if (!text.ok()) return text.error();
  for (const auto& line : split(*text, '\n')) {
    if (!startsWith(line, "mnt_id:")) continue;
    std::string v = trim(line.substr(7));
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) break;
    return std::stoull(v);
  }
  return makeError(info + ": no mnt_id line", EINVAL);
}

Result<bool> isMountRoot(int fd, int parentFd) {
  auto self = mountIdOf(fd);
  if (!self.ok()) return self.error();
  auto parent = mountIdOf(parentFd);
  if (!parent.ok()) return parent.error();
  return *self != *parent;
}

}  // namespace boxd
