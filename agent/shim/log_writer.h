// Copies one container run's stdout+stderr from the shim's end of its pipe into its log file,
// with size-bounded rotation (log_files.h names the files).
//
// The container never waits for the disk: the shim keeps reading the pipe whatever happens to
// the file, and output that cannot be written (disk full, I/O error) is dropped and counted. One
// fixed read buffer is shared by every writer, so a container that writes a lot costs the shim
// time, never memory.
//
// Rotation keeps lines whole and each file near maxBytes: a chunk that does not fit is cut after
// its last newline that does, or, when the file ends in the middle of a line, after the newline
// that ends it (so a file may pass maxBytes by the rest of one line, never by more than one read
// of 64 KiB; a longer line is split). Then the current file is renamed to <c>.log.1 (.1 to .2
// and so on, the oldest dropped) and a new <c>.log is started. At most maxFiles files exist for
// a run: it uses about maxBytes × maxFiles on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::shim {

struct LogLimits {
  int64_t maxBytes = 10 << 20;
  int maxFiles = 2;  // the current file and maxFiles - 1 rotated ones; 1 = truncate instead
};

class LogWriter {
 public:
  // Opens path for appending (created 0640). pipe is the non-blocking read end.
  static Result<LogWriter> open(std::string path, LogLimits limits, Fd pipe);

  struct Pumped {
    size_t bytes = 0;               // read from the pipe
    bool eof = false;               // every writer has closed the pipe: the run's output is done
    std::optional<Error> newError;  // the first write or rotation failure after a good spell
  };
  // Moves what the pipe holds now into the file, up to budget bytes (then returns: the caller
  // has other fds to serve, and the pipe stays readable).
  Pumped pump(size_t budget);

  int pipeFd() const { return pipe_.get(); }
  bool eof() const { return !pipe_.valid(); }
  const std::string& path() const { return path_; }
  uint64_t droppedBytes() const { return dropped_; }

 private:
  LogWriter(std::string path, LogLimits limits, Fd pipe, Fd file, int64_t size)
      : path_(std::move(path)),
        limits_(limits),
        pipe_(std::move(pipe)),
        file_(std::move(file)),
        size_(size) {}

  void write(const char* data, size_t n);
  size_t fitting(const char* data, size_t n) const;  // 0 = rotate first
  Status rotate();
  void fail(Error e);

  std::string path_;
  LogLimits limits_;
  Fd pipe_, file_;
  int64_t size_ = 0;
  uint64_t dropped_ = 0;
  bool atLineStart_ = true;  // the file ends with a newline (an existing file is assumed to)
  bool failing_ = false;
  std::optional<Error> unreported_;
};

// When a container is started again: its last run's <c>.log becomes <c>.previous.log (replacing
// the one before) and that run's rotated files are removed, so the new run starts with none.
// Nothing to do when there is no <c>.log.
Status keepPreviousRun(const std::string& logPath, int maxFiles);

}  // namespace boxd::shim
