#include "state/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>

namespace boxd::state {

namespace {

// The pid the holder wrote, or "unknown" while it has not written it yet.
std::string holderPid(int fd) {
  char buf[32];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return "unknown";
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  long pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || end != text.data() + text.size() || pid <= 0) return "unknown";
  return std::to_string(pid);
}

Status writePid(int fd, const std::string& path) {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0) return sysError("truncate", path);
  ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
  if (n < 0) return sysError("write", path);
  if (static_cast<size_t>(n) != pid.size()) return makeError("write " + path + ": short write");
  return okStatus();
}

}  // namespace

Result<WriterLock> WriterLock::acquire(const std::string& dbPath) {
  std::string path = dbPath + ".lock";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return sysError("open lock file", path).wrap("state database " + dbPath);
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return makeError("state database " + dbPath + " is in use by another boxd (pid " +
                           holderPid(fd.get()) + ")",
                       EWOULDBLOCK);
    }
    return sysError("lock", path).wrap("state database " + dbPath);
  }
  if (auto written = writePid(fd.get(), path); !written.ok()) {
    return written.error().wrap("state database " + dbPath);
  }
  return WriterLock(std::move(fd), std::move(path));
}

}  // namespace boxd::state
