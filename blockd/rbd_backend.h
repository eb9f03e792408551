// The RBD backend of boxd-blockd: one librbd image served as the file "image".
//
//   connect: rados_create2(client.<user>) → conf: mon_host, key, no files, no admin socket,
//            op timeouts from the deadlines → rados_connect → ioctx(pool) → rbd_open
//            (rbd_open_read_only when readOnly) → read-write + exclusive: rbd_lock_acquire
//            (EXCLUSIVE), refused with the owner's name when another client holds the image
//   I/O:     asynchronous (Disk::async): rbd_aio_read / rbd_aio_write / rbd_aio_flush, answered
//            from librbd's completion, or with -EIO by a DeadlineQueue once ioTimeoutMs passed,
//            whichever comes first; the op (and its buffer) stays alive until librbd fires.
//            Writes are zero-copy: librbd sends from the FUSE request's own buffer, which the op
//            holds. The synchronous calls wait for the same requests.
//   close:   wait for in-flight requests (bounded), flush, release the lock, close, shutdown
#pragma once

#include <memory>

#include "blockd/backend.h"
#include "blockd/protocol.h"

namespace boxd::blockd {

std::unique_ptr<Backend> makeRbdBackend(const Config& config);

}  // namespace boxd::blockd
