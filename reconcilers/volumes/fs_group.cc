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

// kubelet's masks: owner and group, read-write (read-only volumes: read); directories also
// search, and setgid.
constexpr mode_t kRw = 0660, kRo = 0440, kExec = 0110;

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

Status countEntry(Walk& w, const std::string& at) {
  if (++w.entries > w.o.maxEntries)
    return makeError(at + ": more than " + std::to_string(w.o.maxEntries) +
                     " entries; fsGroup not applied to the rest");
  return okStatus();
}

// Group and mode of one file or directory, through its fd (O_PATH for what is not a directory:
// never opened, so a FIFO or device does nothing). A group change clears setuid/setgid of a
// file (the kernel's rule); they are not put back under the new group.
Status fixEntry(int fd, const struct stat& st, bool openedPath, Walk& w, const std::string& at) {
  const bool dir = S_ISDIR(st.st_mode);
  mode_t mode = st.st_mode & 07777;
  if (st.st_gid != w.o.gid) {
    if (::fchownat(fd, "", static_cast<uid_t>(-1), w.o.gid, AT_EMPTY_PATH) != 0)
      return sysError("chown (fsGroup)", at);
    if (!dir) mode &= ~mode_t{S_ISUID | S_ISGID};
  }
  mode_t want = mode | wantedBits(dir, w.o);
  struct stat now {};
  if (::fstat(fd, &now) != 0) return sysError("stat", at);
  if (want == (now.st_mode & 07777)) return okStatus();
  // An O_PATH fd takes no fchmod: chmod the exact inode through its /proc/self/fd magic link.
  int rc = openedPath ? ::chmod(fdPath(fd).c_str(), want) : ::fchmod(fd, want);
  if (rc != 0) return sysError("chmod (fsGroup)", at);
  return okStatus();
}

Result<std::vector<std::string>> readNames(int dirFd, const Walk& w, const std::string& at) {
  int dupFd = ::fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) return sysError("dup", at);
  DIR* d = ::fdopendir(dupFd);
  if (d == nullptr) {
    ::close(dupFd);
    return sysError("opendir", at);
  }
  ::rewinddir(d);  // the dup shares dirFd's offset
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    if (w.entries + names.size() > w.o.maxEntries) break;  // countEntry reports it
  }
  int readErr = errno;
  ::closedir(d);
  if (readErr != 0) return sysError("readdir", at, readErr);
  return names;
}

// The entries of dirFd, each directory's own entries before the directory itself.
Status walkDir(int dirFd, int depth, Walk& w, const std::string& at) {
  if (depth > w.o.maxDepth)
    return makeError(at + ": deeper than " + std::to_string(w.o.maxDepth) +
                     " levels; fsGroup not applied below");
  auto names = readNames(dirFd, w, at);
  if (!names.ok()) return names.error();
  for (const auto& n : *names) {
    std::string path = at + "/" + n;
    BOXD_TRY(countEntry(w, path));
    Fd p(::openat(dirFd, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!p) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return sysError("open", path);
    }
    struct stat st {};
    if (::fstat(p.get(), &st) != 0) return sysError("stat", path);
    if (S_ISLNK(st.st_mode) || st.st_dev != w.dev) continue;  // a symlink; another filesystem
    if (!S_ISDIR(st.st_mode)) {
      BOXD_TRY(fixEntry(p.get(), st, true, w, path));
      continue;
    }
    // Descend through the fd we hold, never by name again.
    Fd sub(::openat(p.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!sub) return sysError("open directory", path);
    BOXD_TRY(walkDir(sub.get(), depth + 1, w, path));
    BOXD_TRY(fixEntry(sub.get(), st, false, w, path));
  }
  return okStatus();
}

}  // namespace

bool fsGroupRootFits(int rootDirFd, const FsGroupOptions& o) {
  struct stat st {};
  if (::fstat(rootDirFd, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
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
  BOXD_TRY(countEntry(w, display));
  BOXD_TRY(walkDir(rootDirFd, 1, w, display));
  BOXD_TRY(fixEntry(rootDirFd, st, false, w, display));
  r.entries = w.entries;
  return r;
}

}  // namespace boxd::reconcilers
