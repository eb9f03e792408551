// The raw iSCSI peer of the block bench: libiscsi straight to a LUN, no FUSE, loop or
// filesystem in between. One login per run (not timed), then `bytes` in `ioBytes` commands:
//
//   queueDepth 1   WRITE16 (or READ16) one at a time, the sync API, then SYNCHRONIZE CACHE16
//   queueDepth N   N commands in flight (the async API, poll + iscsi_service), then the same
//
// The clock runs from the first command to the completion of the SYNCHRONIZE CACHE (writes)
// or of the last read. CHAP credentials go through libiscsi's API, never a URL or argv.
#pragma once

#include <cstdint>
#include <string>

namespace boxd::bench {

struct RawIscsiTarget {
  std::string portal;  // "127.0.0.1:P"
  std::string iqn, initiatorName;
  std::string chapUser, chapPassword;  // empty user: no CHAP
  int lun = 0;
};

enum class RawOp { Write, Read };

struct RawIscsiRun {
  RawOp op = RawOp::Write;
  int queueDepth = 1;
  uint64_t bytes = 256ull << 20;
  uint32_t ioBytes = 1u << 20;
  int timeoutMs = 120000;  // the whole run, login included; libiscsi's own command timeout too
};

// MiB/s of the run. Throws BenchError (naming the portal, the LUN and libiscsi's message) when
// the login, a command or the deadline fails, and on Ctrl-C; the session is closed either way.
double rawIscsiMiBps(const RawIscsiTarget& t, const RawIscsiRun& run);

}  // namespace boxd::bench
