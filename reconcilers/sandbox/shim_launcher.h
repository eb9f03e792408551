// Starting a pod's boxd-shim from boxd (any thread of a multi-threaded process).
//
//   launchShim ──posix_spawn──▶ boxd-shim (intermediate) ──fork──▶ boxd-shim (long-lived)
//        │  stderr pipe ◀──────── one error line on failure
//        │  waitpid(intermediate, deadline; SIGKILL when it hangs)
//        └─ read pidfile ◀──────────────────────────────────────── written before "ready"
//
// The long-lived shim is never boxd's child: it survives boxd restarts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct ShimConfig {
  std::string shimBinary;
  std::string podName, podUid;
  std::string socketPath, pidFile;
  std::string logFile;  // the shim's own stderr
  std::string hostname;
  std::vector<std::string> cgroupProcs;  // cgroup.procs files the shim joins; may be empty
  // The pod's network namespace: empty = a new one (loopback only), "host" = the host's (and
  // its hostname), else the path of a pinned namespace to join.
  std::string netns;
};

struct ShimIdentity {
  pid_t pid = 0;
  uint64_t startTime = 0;  // boxd::processStartTime
};

// Errors read "start shim for pod web: unshare net,ipc,uts: Operation not permitted".
Result<ShimIdentity> launchShim(const ShimConfig& config, int timeoutMs = 5000);

}  // namespace boxd::reconcilers
