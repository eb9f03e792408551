// Loop devices over a backing file (the file a boxd-blockd helper serves). Only ever detaches a
// loop whose backing file is ours, and checks that it is really gone: LOOP_CLR_FD on a busy loop
// succeeds and only defers the detach.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct LoopOptions {
  bool readOnly = false;
  bool directIo = true;  // no double caching; falls back to buffered I/O if refused
  // > 0: the largest request the loop device sends to its file, in KiB (its queue's
  // max_sectors_kb, capped at max_hw_sectors_kb). 0 leaves the kernel's default.
  unsigned maxRequestKb = 0;
};

// Attaches a free loop device to file ("/dev/loopN"). LOOP_CTL_GET_FREE races with other users
// of the host's loop devices: EBUSY is retried with the next free one.
Result<std::string> attachLoop(const std::string& file, const LoopOptions& opts);
// Every loop device backed by file, from sysfs ("/dev/loop3").
std::vector<std::string> loopsBackedBy(const std::string& file,
                                       const std::string& sysRoot = "/sys");
// Detaches device if its backing file is `file`, then waits (bounded) until it is gone.
// Absent, or backed by another file, = success (never touches a loop that is not ours).
Status detachLoop(const std::string& device, const std::string& file, int timeoutMs = 5000);

}  // namespace boxd::reconcilers
