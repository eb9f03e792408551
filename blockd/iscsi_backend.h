// The iSCSI backend of boxd-blockd: one target, logged in with libiscsi over
// `config.iscsi->sessions` parallel sessions, each LUN served as the disk "lun<N>".
//
//   connect():  [SendTargets on every portal] → every session logs in (CHAP through the API,
//               every portal in order) within connectTimeoutMs
//   open(lunN): INQUIRY (a direct-access disk?) → TEST UNIT READY → READ CAPACITY(16|10)
//               → Block Limits VPD (max transfer) → MODE SENSE (write protect)
//   read/write: READ16/WRITE16 split at the max transfer length, issued at once over the
//               sessions; unaligned edges by read-modify-write; each call bounded by ioTimeoutMs
//   flush:      SYNCHRONIZE CACHE(16)
//   close():    flush every LUN, log out every session
#pragma once

#include <memory>

#include "blockd/backend.h"
#include "blockd/protocol.h"

namespace boxd::blockd {

// connect() sets SIGPIPE to SIG_IGN when it is SIG_DFL: libiscsi writes to sockets without
// MSG_NOSIGNAL, so a connection the target closes mid-write would otherwise kill the process.
std::unique_ptr<Backend> makeIscsiBackend(const Config& config);

}  // namespace boxd::blockd
