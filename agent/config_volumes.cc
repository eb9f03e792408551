#include "agent/config_volumes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "common/fd.h"
#include "common/hash.h"

namespace boxd::agent {

namespace {

constexpr const char* kDataLink = "..data";
constexpr const char* kDataTmp = "..data_tmp";

// Who the files belong to and the bits they gain. With fsGroup, as kubelet leaves a config
// volume: every file and directory in the group, files with owner and group read added to their
// mode, directories 0755 plus group search and setgid. Symlinks are left alone.
struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t fileBits = 0;
  mode_t dirMode = 0755;
  bool fsGroup = false;
  Owner(uid_t u, std::optional<gid_t> group) : uid(u) {
    if (!group) return;
    fsGroup = true;
    gid = *group;
    fileBits = 0440;
    dirMode = 0755 | 0550 | S_ISGID;
  }
};

// A directory made here: its group and mode (mkdir's mode passes through the umask and drops
// setgid).
Status ownDir(int fd, const Owner& o, const std::string& rel) {
  if (o.fsGroup && ::fchown(fd, static_cast<uid_t>(-1), o.gid) != 0) return sysError("chown", rel);
  if (::fchmod(fd, o.dirMode) != 0) return sysError("chmod", rel);
  return {};
}

Result<Fd> openDirAt(int dirfd, const std::string& name) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return sysError("open directory", name);
  return fd;
}

std::string readLink(int dirfd, const char* name) {
  char buf[256];
  ssize_t n = ::readlinkat(dirfd, name, buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::string> readAll(int fd) {
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", "volume file");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

// The regular files beneath dirfd (relative paths), each with its content and mode; false in
// *same once one differs from `want` (files are not read past that).
Status collect(int dirfd, const std::string& prefix, const VolumeFiles& want, const Owner& owner,
               size_t& count, bool& same) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return sysError("dup", prefix);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return sysError("opendir", prefix);
  }
  Status st;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == ".." || !same) continue;
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    struct stat sb {};
    if (::fstatat(dirfd, name.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) {
      same = false;
      continue;
    }
    if (S_ISDIR(sb.st_mode)) {
      if ((sb.st_mode & 07777) != owner.dirMode || (owner.fsGroup && sb.st_gid != owner.gid)) {
        same = false;
        continue;
      }
      auto sub = openDirAt(dirfd, name);
      if (!sub.ok()) {
        same = false;
        continue;
      }
      st = collect(sub->get(), rel, want, owner, count, same);
      if (!st.ok()) break;
      continue;
    }
    auto it = want.find(rel);
    if (!S_ISREG(sb.st_mode) || it == want.end() ||
        (sb.st_mode & 07777) != (it->second.mode | owner.fileBits) || sb.st_uid != owner.uid ||
        (owner.fsGroup && sb.st_gid != owner.gid) ||
        static_cast<size_t>(sb.st_size) != it->second.content.size()) {
      same = false;
      continue;
    }
    Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    auto content = fd ? readAll(fd.get()) : Result<std::string>(sysError("open", rel));
    if (!content.ok() || *content != it->second.content) same = false;
    ++count;
  }
  ::closedir(d);
  return st;
}

// Whether ..data names a version holding exactly `files`.
bool unchanged(int dirfd, const VolumeFiles& files, const Owner& owner) {
  std::string current = readLink(dirfd, kDataLink);
  if (current.empty()) return false;
  auto dir = openDirAt(dirfd, current);
  if (!dir.ok()) return false;
  struct stat sb {};
  if (::fstat(dir->get(), &sb) != 0 || (sb.st_mode & 07777) != owner.dirMode ||
      (owner.fsGroup && sb.st_gid != owner.gid))
    return false;
  size_t count = 0;
  bool same = true;
  if (!collect(dir->get(), "", files, owner, count, same).ok()) return false;
  return same && count == files.size();
}

std::string versionName() {
  auto now = std::chrono::system_clock::now();
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "..%04d_%02d_%02d_%02d_%02d_%02d.%09lld", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ns % 1000000000));
  return buf;
}

Status writeFile(int dirfd, const std::string& rel, const VolumeFile& f, const Owner& owner) {
  // Parent directories: made here, in a directory made here, so none can be a symlink.
  Fd parent(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  std::string rest = rel;
  for (size_t slash; (slash = rest.find('/')) != std::string::npos;) {
    std::string part = rest.substr(0, slash);
    bool made = ::mkdirat(parent.get(), part.c_str(), 0755) == 0;
    if (!made && errno != EEXIST) return sysError("mkdir", rel);
    auto next = openDirAt(parent.get(), part);
    if (!next.ok()) return next.error();
    if (made) BOXD_TRY(ownDir(next->get(), owner, rel));
    parent = std::move(*next);
    rest = rest.substr(slash + 1);
  }
  Fd fd(::openat(parent.get(), rest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600));
  if (!fd) return sysError("create", rel);
  size_t off = 0;
  while (off < f.content.size()) {
    ssize_t n = ::write(fd.get(), f.content.data() + off, f.content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("write", rel);
    off += static_cast<size_t>(n);
  }
  if (::fchown(fd.get(), owner.uid, owner.gid) != 0) return sysError("chown", rel);
  if (::fchmod(fd.get(), f.mode | owner.fileBits) != 0) return sysError("chmod", rel);
  return {};
}

Status removeTree(int dirfd, const std::string& name) {
  auto dir = openDirAt(dirfd, name);
  if (!dir.ok()) return dir.error().code == ENOENT ? Status{} : Status(dir.error());
  int dup = ::fcntl(dir->get(), F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return sysError("opendir", name);
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") entries.emplace_back(n, e->d_type == DT_DIR);
  }
  ::closedir(d);
  for (const auto& [n, isDir] : entries) {
    if (isDir) {
      BOXD_TRY(removeTree(dir->get(), n));
    } else if (::unlinkat(dir->get(), n.c_str(), 0) != 0 && errno != ENOENT) {
      return sysError("remove", name + "/" + n);
    }
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sysError("remove", name);
  return {};
}

// One link per top-level name into ..data; links of names no longer there are removed.
Status updateLinks(int dirfd, const VolumeFiles& files) {
  std::set<std::string> top;
  for (const auto& [rel, f] : files) top.insert(rel.substr(0, rel.find('/')));
  for (const auto& name : top) {
    std::string want = std::string(kDataLink) + "/" + name;
    struct stat sb {};
    if (::fstatat(dirfd, name.c_str(), &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISLNK(sb.st_mode) && readLink(dirfd, name.c_str()) == want) continue;
      return makeError("volume entry " + name + " exists and is not boxd's link", EEXIST);
    }
    if (::symlinkat(want.c_str(), dirfd, name.c_str()) != 0) return sysError("symlink", name);
  }
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    if (dup >= 0) ::close(dup);
    return sysError("opendir", "volume");
  }
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("..", 0) == 0 || top.count(n)) continue;
    if (readLink(dirfd, n.c_str()).rfind(std::string(kDataLink) + "/", 0) == 0) stale.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : stale) {
    if (::unlinkat(dirfd, n.c_str(), 0) != 0 && errno != ENOENT) return sysError("remove", n);
  }
  return {};
}

}  // namespace

Result<bool> writeConfigVolume(const std::string& dir, const VolumeFiles& files, uid_t uid,
                               std::optional<gid_t> fsGroup) {
  const Owner owner(uid, fsGroup);
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dirfd) return sysError("open volume directory", dir);
  BOXD_TRY(ownDir(dirfd.get(), owner, dir));
  if (unchanged(dirfd.get(), files, owner)) return false;
  const std::string old = readLink(dirfd.get(), kDataLink);
  const std::string version = versionName();
  if (::mkdirat(dirfd.get(), version.c_str(), 0755) != 0)
    return sysError("mkdir", dir + "/" + version);
  auto vdir = openDirAt(dirfd.get(), version);
  if (!vdir.ok()) return vdir.error();
  BOXD_TRY(ownDir(vdir->get(), owner, dir + "/" + version));
  for (const auto& [rel, f] : files) {
    Status st = writeFile(vdir->get(), rel, f, owner);
    if (!st.ok()) {
      (void)removeTree(dirfd.get(), version);
      return st.error().wrap("volume " + dir);
    }
  }
  (void)::unlinkat(dirfd.get(), kDataTmp, 0);
  if (::symlinkat(version.c_str(), dirfd.get(), kDataTmp) != 0)
    return sysError("symlink", dir + "/" + kDataTmp);
  if (::renameat(dirfd.get(), kDataTmp, dirfd.get(), kDataLink) != 0)
    return sysError("rename", dir + "/" + kDataTmp);
  BOXD_TRY(updateLinks(dirfd.get(), files));
  if (!old.empty() && old != version && old.rfind("..", 0) == 0 &&
      old.find('/') == std::string::npos)
    BOXD_TRY(removeTree(dirfd.get(), old));
  return true;
}

std::string volumeFilesDigest(const VolumeFiles& files, uid_t owner) {
  std::string all = std::to_string(owner) + '\n';
  for (const auto& [rel, f] : files) {
    all += rel + '\0' + std::to_string(f.mode) + '\0' + std::to_string(f.content.size()) + '\0';
    all += f.content;
  }
  return sha256Hex(all);
}

}  // namespace boxd::agent
