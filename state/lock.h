// The single-writer guard: an exclusive flock(2) on "<database>.lock" held for the life of the
// writing Store, with the holder's pid written into the file so a refused second boxd can say
// who holds it. The kernel drops the lock when the holder dies, however it dies.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::state {

class WriterLock {
 public:
  // Fails with "state database <db> is in use by another boxd (pid N)" when already held.
  static Result<WriterLock> acquire(const std::string& dbPath);

  const std::string& path() const { return path_; }

 private:
  WriterLock(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  Fd fd_;
  std::string path_;
};

}  // namespace boxd::state
