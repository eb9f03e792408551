#include "agent/spec_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/fd.h"
#include "common/hash.h"
#include "common/safe_path.h"
#include "common/util.h"
#include "specs/quote.h"

namespace boxd::agent {

namespace {

struct FileRead {
  std::string content;
  unsigned mode = 0;
};

std::string sizeText(size_t bytes) {
  if (bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

Error tooLarge(size_t maxBytes) {
  return makeError("larger than " + sizeText(maxBytes) + " (specMaxBytes); not read", EFBIG);
}

// Why an entry of this type is not read, or "" for a regular file.
std::string notRegular(mode_t m) {
  if (S_ISREG(m)) return "";
  const char* what = S_ISDIR(m)    ? "a directory"
                     : S_ISFIFO(m) ? "a FIFO"
                     : S_ISCHR(m)  ? "a character device"
                     : S_ISBLK(m)  ? "a block device"
                     : S_ISSOCK(m) ? "a socket"
                     : S_ISLNK(m)  ? "a symlink, and this kernel has no openat2 to follow it safely"
                                   : "of an unknown type";
  return std::string("not a regular file (") + what + "); not read";
}

// Resolves name beneath the snapshot without opening what it names: an O_PATH fd. A symlink is
// followed only while it stays beneath dirfd (RESOLVE_BENEATH); on a kernel without openat2 no
// symlink is followed at all.
Result<Fd> resolveEntry(int dirfd, const std::string& name) {
  int fd = openat2(dirfd, name, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
  if (fd < 0 && errno == ENOSYS)
    fd = ::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return Fd(fd);
  int err = errno;
  if (err == EXDEV)
    return makeError("a symlink that leads outside the specs directory; refused, not read", EXDEV);
  if (err == ELOOP) return makeError("a symlink loop; not read", ELOOP);
  struct stat lst {};
  if (err == ENOENT && ::fstatat(dirfd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISLNK(lst.st_mode))
    return makeError("a symlink to a missing file; not read");
  return makeError(std::string("cannot open: ") + std::strerror(err), err);
}

// Reads at most maxBytes from a regular file's fd; more is an error (the file grew meanwhile).
Result<std::string> readBounded(int fd, size_t maxBytes) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return makeError(std::string("cannot read: ") + std::strerror(errno), errno);
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > maxBytes) return tooLarge(maxBytes);
    out.append(buf, static_cast<size_t>(n));
  }
}

// Opens the entry for reading only once fstat on its O_PATH fd says it is a regular file within
// the limit, so a FIFO or a device is never opened. The read fd is a reopen of that same inode
// (/proc/self/fd/N), not a second walk of the name. Errors are phrased to follow the file name.
Result<FileRead> readEntry(int dirfd, const std::string& name, size_t maxBytes) {
  auto path = resolveEntry(dirfd, name);
  if (!path.ok()) return path.error();
  struct stat st {};
  if (::fstat(path->get(), &st) != 0)
    return makeError(std::string("cannot stat: ") + std::strerror(errno), errno);
  if (std::string why = notRegular(st.st_mode); !why.empty()) return makeError(why, EINVAL);
  if (static_cast<size_t>(st.st_size) > maxBytes) return tooLarge(maxBytes);
  Fd fd(::open(fdPath(path->get()).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  // Not ENOENT (which means "removed while listed"): without /proc every file would vanish.
  if (!fd)
    return makeError(std::string("cannot open through /proc/self/fd: ") + std::strerror(errno));
  struct stat again {};
  if (::fstat(fd.get(), &again) != 0 || again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    return makeError("changed while it was opened; not read", EAGAIN);
  auto content = readBounded(fd.get(), maxBytes);
  if (!content.ok()) return content.error();
  return FileRead{std::move(*content), static_cast<unsigned>(again.st_mode & 07777)};
}

std::string baseName(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// The directory a pass reads: the specs path resolved (git-sync's link), then a ConfigMap's
// ..data link resolved once. Sets snap.dir and snap.revision.
Result<Fd> openSnapshotDir(const std::string& specsDir, SpecSnapshot& snap) {
  char resolved[PATH_MAX];
  if (::realpath(specsDir.c_str(), resolved) == nullptr)
    return sysError("resolve specs dir", specsDir);
  snap.dir = resolved;
  struct stat lst {};
  if (::lstat(specsDir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
    snap.revision = baseName(snap.dir);

  Fd root(::open(snap.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysError("open specs dir", snap.dir);
  // ConfigMap layout: ..data -> ..<timestamp>; read the timestamped dir, resolved once.
  char target[PATH_MAX];
  ssize_t n = ::readlinkat(root.get(), "..data", target, sizeof target - 1);
  if (n <= 0) return root;
  target[n] = '\0';
  std::string t(target);
  if (t.find('/') != std::string::npos || t == "." || t == "..")
    return makeError(snap.dir + "/..data points outside the specs dir: " + specs::shownText(t));
  Fd dir(::openat(root.get(), target, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
  if (!dir) return sysError("open", snap.dir + "/" + t);
  snap.dir += "/" + t;
  snap.revision = t;
  return dir;
}

Result<std::vector<std::string>> specNames(int dirfd, const std::string& display) {
  int dupfd = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return sysError("dup", display);
  DIR* d = ::fdopendir(dupfd);
  if (d == nullptr) {
    ::close(dupfd);
    return sysError("opendir", display);
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    if (isSpecFileName(e->d_name)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

bool isSpecFileName(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;
  for (const char* bad : {"~", ".swp", ".swo", ".bak", ".rpmnew", ".rpmsave", ".orig", ".tmp"}) {
    if (endsWith(name, bad)) return false;
  }
  if (name.find(".dpkg-") != std::string::npos) return false;
  return endsWith(name, ".yaml") || endsWith(name, ".yml") || endsWith(name, ".json");
}

Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir, size_t maxFileBytes,
                                      const std::function<void(SpecFile&)>& each) {
  SpecSnapshot snap;
  auto dir = openSnapshotDir(specsDir, snap);
  if (!dir.ok()) return dir.error();
  auto names = specNames(dir->get(), snap.dir);
  if (!names.ok()) return names.error();

  std::string all;
  for (const auto& name : *names) {
    SpecFile f{name, {}, {}, 0, {}};
    auto content = readEntry(dir->get(), name, maxFileBytes);
    if (content.ok()) {
      f.content = std::move(content->content);
      f.mode = content->mode;
      f.hash = sha256Hex(f.content);
    } else if (content.error().code == ENOENT) {
      continue;  // removed while we listed: not part of it
    } else {
      f.error = content.error().message;
    }
    all += f.name + '\0' + (f.error.empty() ? f.hash : "!" + f.error) + '\n';
    if (each) each(f);
    snap.files.push_back(std::move(f));
  }
  if (snap.revision.empty()) snap.revision = "sha256:" + sha256Hex(all).substr(0, 12);
  return snap;
}

Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir, size_t maxFileBytes) {
  return readSpecSnapshot(specsDir, maxFileBytes, nullptr);
}

Result<SpecPass> readAndParseSpecs(const std::string& specsDir, size_t maxFileBytes,
                                   const std::map<std::string, std::string>& known) {
  SpecPass pass;
  auto snap = readSpecSnapshot(specsDir, maxFileBytes, [&](SpecFile& f) {
    auto it = known.find(f.name);
    if (f.error.empty() && (it == known.end() || it->second != f.hash)) {
      pass.parsed[f.name] = specs::parseSpecFile(f.name, f.content);
    }
    std::string().swap(f.content);  // at most one file's text is held at a time
  });
  if (!snap.ok()) return snap.error();
  pass.snap = std::move(*snap);
  return pass;
}

specs::ParseResult unreadableFile(const SpecFile& f) {
  specs::ParseResult res;
  res.errors.push_back({specs::escapeText(f.name), 0, 0, "", f.error});
  return res;
}

void refuseExposedSecrets(const SpecFile& f, specs::ParseResult& parsed) {
  if (!parsed.holdsSecret || (f.mode & S_IROTH) == 0) return;
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", f.mode & 07777u);
  specs::ParseResult refused;
  refused.holdsSecret = true;
  refused.errors.push_back(
      {specs::escapeText(f.name), 0, 0, "",
       std::string("holds a Secret but is world-readable (mode ") + mode + "); chmod 600 it"});
  parsed = std::move(refused);
}

}  // namespace boxd::agent
