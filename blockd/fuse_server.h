// The FUSE side of boxd-blockd (libfuse3 low-level API): a directory with one file per disk of a
// Backend, served by a pool of worker threads so the kernel can keep several requests in flight.
// Each worker reads requests from /dev/fuse into a buffer of its own (libfuse's receive and
// process calls, in our loop). For an asynchronous Disk (Disk::async, RBD) a handler submits
// and returns: the answer goes to the kernel from the Disk's completion, and a write's buffer
// goes with the request (the Disk sends from it, the worker takes a new one), so no thread
// waits per request and the data is not copied again. A synchronous Disk (iSCSI) is called
// on the worker, which answers when the call returns.
//
//   <mountpoint>/            dir, 0700, root only (default_permissions, no allow_other)
//   <mountpoint>/<name>      lookup → Backend::open(name); size = Disk::sizeBytes
//     open                   direct_io, no page cache (keep_cache off); writable only if the
//                            disk is; no writeback cache on the connection
//     read/write             → Disk, at most 1 MiB per request; an error → EIO (EROFS, ENOSPC)
//     flush/fsync            → Disk::flush
//
// Stopping: an umount of the mountpoint (by boxd, or unmount() from a signal) ends run(); so
// does an abort of the connection. A Watchdog aborts the connection through fusectl when a
// request has been pending past ioTimeoutMs + margin (the Disk should have failed it by then).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "blockd/backend.h"
#include "common/result.h"

namespace boxd::blockd {

struct FuseServerOptions {
  std::string mountpoint;  // an existing directory, absolute and canonical
  int threads = 8;  // worker threads (max in flight for a synchronous Disk; an asynchronous one
                    // has up to max_background in flight)
  unsigned maxBackground = 0;  // the connection's max_background; 0 = max(threads, 12)
  int64_t ioTimeoutMs = 30000;
  int64_t watchdogMarginMs = 5000;  // added to ioTimeoutMs before the connection is aborted
  // Called (on the watchdog thread) after the watchdog aborted the connection. run() returns
  // only when every worker is back from its Disk and every asynchronous request was answered;
  // a Disk that never answers keeps it waiting.
  std::function<void()> onAbort;
};

class FuseServer {
 public:
  FuseServer(Backend& backend, FuseServerOptions options);
  ~FuseServer();  // closes /dev/fuse (a mount still present becomes stale: ENOTCONN)
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Creates the session and mounts it. Refuses a mountpoint that already has a mount on it.
  Status mount();
  // The FUSE connection number (fusectl) of the mount.
  unsigned connection() const;
  // Serves until the mount is gone or the connection is aborted.
  Status run();
  // A plain (not lazy) umount of our own mount: EBUSY while a loop device or an open file uses
  // it, and then the server keeps serving.
  Status unmount();
  // True if the watchdog aborted the connection.
  bool aborted() const;

  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace boxd::blockd
