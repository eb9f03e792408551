#include "state/space_reserve.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"

namespace boxd::state {

Status SpaceReserve::ensure() {
  if (bytes_ <= 0) return {};
  Fd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return sysError("open", path_);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sysError("stat", path_);
  if (st.st_blocks * 512 >= bytes_) {
    held_ = true;
    return {};
  }
  int rc = ::posix_fallocate(fd.get(), 0, bytes_);
  if (rc != 0) {
    // Nothing half-held: a partial reserve would only look like one.
    ::unlink(path_.c_str());
    held_ = false;
    return sysError("allocate the state reserve", path_, rc);
  }
  if (::fsync(fd.get()) != 0) return sysError("fsync", path_);
  held_ = true;
  return {};
}

bool SpaceReserve::release() {
  bool was = ::unlink(path_.c_str()) == 0;
  held_ = false;
  return was;
}

}  // namespace boxd::state
