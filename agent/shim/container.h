// Starting one container inside the pod shim.
//
//   shim                                   child (clone NEWNS|NEWPID: pid 1 of a new pid ns)
//   ────                                   ─────
//   output pipe + /dev/null, two pipes
//   clone ──────────────────────────────▶  PDEATHSIG=SIGKILL; wait for "go" on the sync pipe
//   write pid to every cgroup.procs
//   send "go" ─────────────────────────▶   setsid → / rprivate → bind rootfs → mount table
//                                          → /dev nodes → [rootfs read-only] → pivot_root
//                                          → [mask /proc, /sys paths] → chdir cwd → stdio
//                                          → signals reset → credentials (caps, groups, gid,
//                                          uid), no_new_privs, seccomp → execvpe
//   read error pipe (CLOEXEC) until EOF ◀── one line "op path: error" on any failure, exit 127
//   EOF with no line = execve succeeded.
//
// Failure in the shim after clone kills the child (SIGKILL) and reaps it.
//
// The steps from "mask" to "seccomp" are the security defaults every container gets; security.h
// has them and docs/security.md explains them. [Bracketed] steps depend on the container's
// securityContext (launch.security): read-only root for readOnlyRootFilesystem, no masks (and
// no seccomp filter, all capabilities, /sys read-write) for a privileged container.
//
// The child gets PR_SET_PDEATHSIG(SIGKILL): if the shim dies, its containers die with it
// instead of running on unsupervised (their exit status could never be collected and boxd would
// start a second copy when it repairs the pod).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::shim {

struct Started {
  pid_t pid = 0;  // in the shim's (host) pid namespace
  int64_t startedAtMs = 0;
  Fd output;  // the shim's (non-blocking) end of the stdout+stderr pipe; none without a log
};

// Blocks until the container has exec'd or failed (bounded by timeoutMs). The hostname fills the
// HOSTNAME default of the environment.
Result<Started> startContainer(const reconcilers::ContainerLaunch& launch,
                               const std::string& hostname, int timeoutMs = 10000);

}  // namespace boxd::shim
