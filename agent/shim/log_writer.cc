#include "agent/shim/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "agent/shim/log_files.h"

namespace boxd::shim {

namespace {

// One buffer for every writer: the shim is single-threaded and a pump never keeps data between
// calls, so memory stays the same however much the containers write.
char g_buffer[64 << 10];

// How far past maxBytes a file may go to end a line it has begun.
constexpr int64_t kLineSlack = sizeof g_buffer;

// O_NOFOLLOW: whatever appears at the log's path (a symlink to a host file), the shim, as root,
// never writes through it; the open fails and the writer reports it. Renames and unlinks act on
// the names in the logs dir, never on what a symlink names.
Fd openForAppend(const std::string& path, int extraFlags) {
  return Fd(::open(path.c_str(),
                   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | extraFlags,
                   0640));
}

}  // namespace

Result<LogWriter> LogWriter::open(std::string path, LogLimits limits, Fd pipe) {
  Fd file = openForAppend(path, 0);
  if (!file) return sysError("open log", path);
  struct stat st {};
  int64_t size = ::fstat(file.get(), &st) == 0 ? st.st_size : 0;
  limits.maxBytes = std::max<int64_t>(limits.maxBytes, 1);
  limits.maxFiles = std::max(limits.maxFiles, 1);
  return LogWriter(std::move(path), limits, std::move(pipe), std::move(file), size);
}

LogWriter::Pumped LogWriter::pump(size_t budget) {
  Pumped out;
  while (pipe_ && out.bytes < budget) {
    ssize_t n = ::read(pipe_.get(), g_buffer, std::min(sizeof g_buffer, budget - out.bytes));
    if (n > 0) {
      write(g_buffer, static_cast<size_t>(n));
      out.bytes += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    pipe_.reset();  // EOF, or a read error: either way nothing more will come
  }
  out.eof = !pipe_;
  out.newError = std::exchange(unreported_, std::nullopt);
  return out;
}

void LogWriter::write(const char* data, size_t n) {
  while (n > 0) {
    size_t take = fitting(data, n);
    if (take == 0) {
      Status st = rotate();
      if (st.ok()) continue;
      // Go on in the file we have rather than lose output; try again after another maxBytes.
      fail(st.error());
      size_ = 0;
      take = n;
    }
    size_t done = 0;
    while (done < take) {
      ssize_t w = ::write(file_.get(), data + done, take - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail(sysError("write log", path_));
        dropped_ += take - done;
        break;
      }
      done += static_cast<size_t>(w);
      failing_ = false;
    }
    size_ += static_cast<int64_t>(done);
    if (done > 0) atLineStart_ = data[done - 1] == '\n';
    data += take;
    n -= take;
  }
}

size_t LogWriter::fitting(const char* data, size_t n) const {
  int64_t room = limits_.maxBytes - size_;
  if (room >= static_cast<int64_t>(n)) return n;
  if (!atLineStart_) {
    // A line begun in this file ends in it when it ends soon enough: the next file starts
    // with a whole line.
    size_t slack = static_cast<size_t>(std::max<int64_t>(room + kLineSlack, 0));
    const void* nl = ::memchr(data, '\n', std::min(n, slack));
    if (nl != nullptr) return static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
    return room > 0 ? static_cast<size_t>(room) : 0;  // a very long line is split
  }
  if (room <= 0) return 0;
  // Whole lines in this file when they fit, the rest in the next one.
  const void* nl = ::memrchr(data, '\n', static_cast<size_t>(room));
  if (nl != nullptr) return static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
  return size_ == 0 ? static_cast<size_t>(room) : 0;  // a line longer than a file is split
}

Status LogWriter::rotate() {
  if (limits_.maxFiles <= 1) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return sysError("remove full log", path_);
  } else {
    for (int i = limits_.maxFiles - 1; i >= 2; --i) {
      std::string from = rotatedLogPath(path_, i - 1), to = rotatedLogPath(path_, i);
      if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
        return sysError("rotate log " + from + " to", to);
    }
    std::string first = rotatedLogPath(path_, 1);
    if (::rename(path_.c_str(), first.c_str()) != 0 && errno != ENOENT)
      return sysError("rotate log " + path_ + " to", first);
  }
  Fd file = openForAppend(path_, O_TRUNC);
  if (!file) return sysError("open log", path_);
  file_ = std::move(file);
  size_ = 0;
  atLineStart_ = true;
  return {};
}

void LogWriter::fail(Error e) {
  if (failing_) return;
  failing_ = true;
  unreported_ = std::move(e);
}

Status keepPreviousRun(const std::string& logPath, int maxFiles) {
  std::string previous = previousLogPath(logPath);
  if (::rename(logPath.c_str(), previous.c_str()) != 0) {
    if (errno == ENOENT) return {};  // never written: nothing of that run to keep
    return sysError("rename log " + logPath + " to", previous);
  }
  for (int i = 1;; ++i) {
    std::string rotated = rotatedLogPath(logPath, i);
    if (::unlink(rotated.c_str()) == 0) continue;
    if (errno != ENOENT) return sysError("remove rotated log", rotated);
    if (i >= maxFiles) return {};  // past the ones this limit can have made, and none left
  }
}

}  // namespace boxd::shim
