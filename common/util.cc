#include "common/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>

#include "common/fd.h"
#include "common/safe_path.h"

namespace boxd {

std::string randomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

Result<std::string> readFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

static Status writeAll(int fd, std::string_view content, const std::string& path) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("write", path);
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode,
                       Durability durability) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmp = dir + "/." + base + ".tmp-" + randomHex(4);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return sysError("create", tmp);
  Status st = writeAll(fd.get(), content, tmp);
  if (st.ok() && durability == Durability::Sync && ::fsync(fd.get()) != 0)
    st = sysError("fsync", tmp);
  if (st.ok() && ::fchmod(fd.get(), mode) != 0) st = sysError("chmod", tmp);
  fd.reset();
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = sysError("rename", tmp + " to " + path);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

Status writeFile(const std::string& path, std::string_view content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return sysError("open", path);
  return writeAll(fd.get(), content, path);
}

Status mkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  std::string cur;
  for (const auto& part : split(path, '/')) {
    if (part.empty()) {
      if (cur.empty()) cur = "/";
      continue;
    }
    if (!cur.empty() && cur.back() != '/') cur += '/';
    cur += part;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sysError("mkdir", cur);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sysError("stat", path);
  if (!S_ISDIR(st.st_mode)) return makeError(path + " exists and is not a directory", ENOTDIR);
  return {};
}

namespace {

// What a directory of the tree being removed must share with the tree's root: the filesystem
// and, where /proc tells it, the mount (a bind mount of the same filesystem has the same st_dev).
struct TreeMount {
  dev_t dev = 0;
  std::optional<uint64_t> mountId;
};

Status removeAt(int parentFd, const char* name, const TreeMount& tree, const std::string& path);

// Empties the open directory dfd (which removeAt checked) and closes it.
Status removeEntries(int dfd, const TreeMount& tree, const std::string& path) {
  DIR* d = ::fdopendir(dfd);
  if (d == nullptr) {
    ::close(dfd);
    return sysError("opendir", path);
  }
  Status result;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    Status st = removeAt(dfd, e->d_name, tree, path + "/" + e->d_name);
    if (!st.ok() && result.ok()) result = st;
  }
  ::closedir(d);
  return result;
}

// Every entry is reached through its parent's fd and opened with O_NOFOLLOW: a symlink (one a
// container planted in its upper dir, say) is unlinked, never followed, and a directory swapped
// for something else between the stat and the open is refused rather than descended into.
Status removeAt(int parentFd, const char* name, const TreeMount& tree, const std::string& path) {
  struct stat st {};
  if (::fstatat(parentFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sysError("stat", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parentFd, name, 0) != 0 && errno != ENOENT) return sysError("unlink", path);
    return {};
  }
  if (st.st_dev != tree.dev)
    return makeError("refusing to remove " + path + ": it is a mount point", EBUSY);
  int dfd = ::openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return sysError("open", path);
  struct stat opened {};
  if (::fstat(dfd, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
    ::close(dfd);
    return makeError("refusing to remove " + path + ": it changed while being removed", EBUSY);
  }
  if (tree.mountId) {
    auto id = mountIdOf(dfd);
    if (!id.ok() || *id != *tree.mountId) {
      ::close(dfd);
      return makeError("refusing to remove " + path + ": it is a mount point", EBUSY);
    }
  }
  BOXD_TRY(removeEntries(dfd, tree, path));
  if (::unlinkat(parentFd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
    return sysError("rmdir", path);
  return {};
}

}  // namespace

Status removeAll(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sysError("stat", path);
  }
  TreeMount tree{st.st_dev, std::nullopt};
  if (S_ISDIR(st.st_mode)) {
    Fd root(::open(path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (root) {
      auto id = mountIdOf(root.get());
      if (id.ok()) tree.mountId = *id;
    }
  }
  return removeAt(AT_FDCWD, path.c_str(), tree, path);
}

int64_t nowMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonicUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Returns the fields after "(comm)" of /proc/PID/stat: index 0 is the state (field 3).
static Result<std::vector<std::string>> statFields(pid_t pid) {
  auto content = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!content.ok()) return content.error();
  auto close = content->rfind(')');
  if (close == std::string::npos)
    return makeError("malformed /proc/" + std::to_string(pid) + "/stat");
  return split(trim(std::string_view(*content).substr(close + 1)), ' ');
}

Result<uint64_t> processStartTime(pid_t pid) {
  auto fields = statFields(pid);
  if (!fields.ok()) return fields.error();
  if (fields->size() < 20) return makeError("short /proc/" + std::to_string(pid) + "/stat");
  return std::stoull((*fields)[19]);  // field 22
}

bool processAlive(pid_t pid) {
  if (pid <= 0) return false;
  auto fields = statFields(pid);
  if (!fields.ok() || fields->empty()) return false;
  const std::string& state = (*fields)[0];
  return state != "Z" && state != "X" && state != "x";
}

std::string bootId() {
  auto id = readFile("/proc/sys/kernel/random/boot_id");
  return id.ok() ? trim(*id) : std::string();
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<int64_t> keyedValue(std::string_view content, std::string_view key) {
  for (const auto& line : split(content, '\n')) {
    auto sp = line.find(' ');
    if (sp == std::string::npos || std::string_view(line).substr(0, sp) != key) continue;
    std::string value = trim(std::string_view(line).substr(sp + 1));
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) return {};
    errno = 0;
    long long v = std::strtoll(value.c_str(), nullptr, 10);
    if (errno != 0) return {};
    return static_cast<int64_t>(v);
  }
  return {};
}

}  // namespace boxd
