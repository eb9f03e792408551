// Room kept on the state dir's filesystem for boxd's own writes when that filesystem is full.
//
// A file of `bytes` allocated blocks (fallocate) in the state dir. When a write to the state
// database fails with ENOSPC (a container, a log or another program filled the disk), the file
// is deleted, which gives SQLite room to journal a teardown (and its events), and the write is
// tried again. The reserve is taken back, at most every few seconds, once the space is there.
//
//   ensure()   create the file if missing and fully allocate it; ENOSPC leaves it missing
//   release()  unlink it; true if it was there
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::state {

class SpaceReserve {
 public:
  SpaceReserve(std::string path, int64_t bytes) : path_(std::move(path)), bytes_(bytes) {}

  const std::string& path() const { return path_; }
  int64_t bytes() const { return bytes_; }
  bool held() const { return held_; }

  Status ensure();
  bool release();

 private:
  std::string path_;
  int64_t bytes_;
  bool held_ = false;
};

}  // namespace boxd::state
