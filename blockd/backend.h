// What a boxd-blockd backend (iSCSI through libiscsi, RBD through librbd) provides to the FUSE
// server: named disks, read and written concurrently by the FUSE worker threads.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::blockd {

// The end of an asynchronous request: called exactly once, on any thread, with the byte count
// or -errno (the same values as the synchronous calls). For a read, `data` holds the bytes and
// is valid during the call only.
using IoDone = std::function<void(ssize_t result, const char* data)>;

// Memory that a write request owns until its peer no longer uses it: possibly after `done`,
// when the request's deadline passed while the peer still had it.
using IoBuffer = std::shared_ptr<char>;

// One block device served as one file.
class Disk {
 public:
  virtual ~Disk() = default;
  virtual uint64_t sizeBytes() const = 0;
  virtual uint32_t blockSize() const = 0;  // the device's logical block size (512 or 4096)
  virtual bool readOnly() const = 0;
  // Thread-safe: several FUSE threads call at once (that is the queue depth). The kernel sends
  // block-aligned requests through a direct-io loop device; unaligned ones are still served
  // correctly. Return the byte count done or -errno, and never block past the I/O deadline
  // (-EIO then). A write past the end is -ENOSPC; a write on a read-only disk -EROFS.
  virtual ssize_t read(char* buf, size_t len, uint64_t off) = 0;
  virtual ssize_t write(const char* buf, size_t len, uint64_t off) = 0;
  virtual int flush() = 0;  // SYNCHRONIZE CACHE / rbd_flush; 0 or -errno

  // Asynchronous requests, for a Disk whose async() is true: the same results and the same
  // deadline as above (done(-EIO) once it passes), but the calling thread returns at once, so
  // the FUSE server answers the kernel from the completion, with no thread waiting per request.
  // writeAsync: `data` (len bytes) lies inside `owner`, which the Disk keeps as long as its peer
  // may read it. The defaults fail with -EOPNOTSUPP.
  virtual bool async() const { return false; }
  virtual void readAsync(size_t len, uint64_t off, IoDone done);
  virtual void writeAsync(IoBuffer owner, const char* data, size_t len, uint64_t off, IoDone done);
  virtual void flushAsync(IoDone done);
};

inline void Disk::readAsync(size_t, uint64_t, IoDone done) { done(-EOPNOTSUPP, nullptr); }
inline void Disk::writeAsync(IoBuffer, const char*, size_t, uint64_t, IoDone done) {
  done(-EOPNOTSUPP, nullptr);
}
inline void Disk::flushAsync(IoDone done) { done(-EOPNOTSUPP, nullptr); }

class Backend {
 public:
  virtual ~Backend() = default;
  // Log in / open within the connect deadline. The error names the peer and what failed
  // ("login to iqn... at 127.0.0.1:3260: Authentication failure"), never a secret.
  virtual Status connect() = 0;
  // The disk behind a file name of the FUSE directory ("lun1", "image"); ENOENT if there is none.
  // Called on lookup, possibly again for the same name (return the same disk).
  virtual Result<std::shared_ptr<Disk>> open(const std::string& name) = 0;
  // Names already opened, for readdir.
  virtual std::vector<std::string> names() = 0;
  // Flush, release locks, log out. Called once, when the FUSE session has ended.
  virtual void close() = 0;
};

}  // namespace boxd::blockd
