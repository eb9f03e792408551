#include "agent/boxctl_logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/shim/log_files.h"
#include "common/fd.h"
#include "common/util.h"

namespace boxd::agent {

namespace {

constexpr int kPollMs = 200;
constexpr int64_t kGoneMs = 1000;  // longer than the shim's rename-then-create of a new file

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Status copyToEnd(int fd, const std::string& path, std::FILE* out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      if (std::fwrite(buf, 1, static_cast<size_t>(n), out) != static_cast<size_t>(n))
        return sysError("write", "standard output");
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", path);
    return {};
  }
}

// O_NOFOLLOW: a symlink at a log's path is never read through (boxctl runs as root).
Fd openLog(const std::string& path) {
  return Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
}

// True when path now names another file than fd: the shim has started a new one.
bool replaced(const std::string& path, int fd) {
  struct stat now {
  }, held{};
  if (::stat(path.c_str(), &now) != 0 || ::fstat(fd, &held) != 0) return false;
  return now.st_ino != held.st_ino || now.st_dev != held.st_dev;
}

Status follow(const std::string& logPath, Fd current, std::FILE* out) {
  int64_t goneSince = 0;
  for (;;) {
    std::fflush(out);
    ::usleep(kPollMs * 1000);
    if (current) BOXD_TRY(copyToEnd(current.get(), logPath, out));
    if (!exists(logPath)) {
      if (!current) continue;  // not written yet: wait for it
      if (goneSince == 0) goneSince = monotonicMs();
      if (monotonicMs() - goneSince > kGoneMs) return {};
      continue;
    }
    goneSince = 0;
    if (current && !replaced(logPath, current.get())) continue;
    if (current) BOXD_TRY(copyToEnd(current.get(), logPath, out));  // its last lines, then on
    current = openLog(logPath);
    if (current) BOXD_TRY(copyToEnd(current.get(), logPath, out));
  }
}

}  // namespace

std::vector<std::string> currentRunLogFiles(const std::string& logPath) {
  std::vector<std::string> files;
  for (int i = 1; exists(shim::rotatedLogPath(logPath, i)); ++i)
    files.insert(files.begin(), shim::rotatedLogPath(logPath, i));
  files.push_back(logPath);
  return files;
}

Status printLogs(const std::string& logPath, bool followLog, std::FILE* out) {
  std::vector<std::string> files = currentRunLogFiles(logPath);
  for (size_t i = 0; i + 1 < files.size(); ++i) {
    Fd fd = openLog(files[i]);
    if (fd) BOXD_TRY(copyToEnd(fd.get(), files[i], out));  // rotated away meanwhile: skipped
  }
  Fd current = openLog(logPath);
  if (current) BOXD_TRY(copyToEnd(current.get(), logPath, out));
  if (!followLog) return {};
  return follow(logPath, std::move(current), out);
}

Status printPreviousLog(const std::string& logPath, const std::string& container, std::FILE* out) {
  std::string path = shim::previousLogPath(logPath);
  Fd fd = openLog(path);
  if (!fd && errno == ENOENT)
    return makeError("container " + container + " has not been restarted");
  if (!fd) return sysError("open", path);
  return copyToEnd(fd.get(), path, out);
}

}  // namespace boxd::agent
