#include "reconcilers/volumes/fs_group.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/fd.h"
#include "common/safe_path.h"

namespace boxd::reconcilers {

namespace {

constexpr mode_t kRw = 0060, kRo = 0040, kExec = 0010;

mode_t wantedBits(bool dir, const FsGroupOptions& o) {
  mode_t bits = o.readOnly ? kRo : kRw;
  if (dir) bits |= kExec | S_ISGID;
  return bits;
}

struct Walk {
  const FsGroupOptions& o;
  dev_t dev;
  size_t entries = 0;
};

// Group and mode of one entry, through its fd. A symlink keeps its mode (it has none of its own).
Status fixEntry(int fd, const struct stat& st, bool openedPath, Walk& w, const std::string& at) {
  if (++w.entries > w.o.maxEntries)
    return makeError(at + ": more than " + std::to_string(w.o.maxEntries) +
                     " entries; fsGroup not applied to the rest");
  if (st.st_gid != w.o.gid &&
      ::fchownat(fd, "", static_cast<uid_t>(-1), w.o.gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
    return sysError("chown (fsGroup)", at);
  if (S_ISLNK(st.st_mode)) return okStatus();
  mode_t mode = (st.st_mode & 07777) | wantedBits(S_ISDIR(st.st_mode), w.o);
  if (mode == (st.st_mode & 07777)) return okStatus();
  // An O_PATH fd takes no fchmod: chmod the exact inode through its /proc/self/fd magic link.
  int rc = openedPath ? ::chmod(fdPath(fd).c_str(), mode) : ::fchmod(fd, mode);
  if (rc != 0) return sysError("chmod (fsGroup)", at);
  return okStatus();
}

Status walkDir(int dirFd, int depth, Walk& w, const std::string& at) {
  if (depth > w.o.maxDepth)
    return makeError(at + ": deeper than " + std::to_string(w.o.maxDepth) +
                     " levels; fsGroup not applied below");
  int dupFd = ::fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) return sysError("dup", at);
  DIR* d = ::fdopendir(dupFd);
  if (d == nullptr) {
    ::close(dupFd);
    return sysError("opendir", at);
  }
  ::rewinddir(d);  // the dup shares dirFd's offset, which an earlier walk may have moved
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    if (names.size() > w.o.maxEntries) break;  // fixEntry reports it
  }
  int readErr = errno;
  ::closedir(d);
  if (readErr != 0) return sysError("readdir", at, readErr);
  for (const auto& n : names) {
    std::string path = at + "/" + n;
    Fd p(::openat(dirFd, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!p) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return sysError("open", path);
    }
    struct stat st {};
    if (::fstat(p.get(), &st) != 0) return sysError("stat", path);
    if (st.st_dev != w.dev) continue;  // another filesystem mounted inside: not the volume's
    if (!S_ISDIR(st.st_mode)) {
      BOXD_TRY(fixEntry(p.get(), st, true, w, path));
      continue;
    }
    // Descend through the fd we hold, never by name again.
    Fd sub(::openat(p.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sub) return sysError("open directory", path);
    BOXD_TRY(fixEntry(sub.get(), st, false, w, path));
    BOXD_TRY(walkDir(sub.get(), depth + 1, w, path));
  }
  return okStatus();
}

}  // namespace

bool fsGroupRootFits(int rootDirFd, const FsGroupOptions& o) {
  struct stat st {};
  if (::fstat(rootDirFd, &st) != 0) return false;
  mode_t want = wantedBits(true, o);
  return st.st_gid == o.gid && (st.st_mode & want) == want;
}

Result<FsGroupResult> applyFsGroup(int rootDirFd, const FsGroupOptions& o,
                                   const std::string& display) {
  FsGroupResult r;
  struct stat st {};
  if (::fstat(rootDirFd, &st) != 0) return sysError("stat", display);
  if (!S_ISDIR(st.st_mode)) return makeError(display + ": not a directory", ENOTDIR);
  if (o.onRootMismatch && fsGroupRootFits(rootDirFd, o)) {
    r.skipped = true;
    return r;
  }
  Walk w{o, st.st_dev};
  BOXD_TRY(fixEntry(rootDirFd, st, false, w, display));
  BOXD_TRY(walkDir(rootDirFd, 1, w, display));
  r.entries = w.entries;
  return r;
}

}  // namespace boxd::reconcilers
