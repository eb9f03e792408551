// `boxctl exec`: run a command inside a running container, done by boxctl itself (root, same
// host; nothing streams through boxd). What `nsenter` + `chroot` do, in one process tree:
//
//   boxctl                                        exec child (forked after setns(pid))
//   ──────                                        ───────────────────────────────────
//   describe POD (boxd) → container pid, cgroup.procs files
//   open /proc/PID (dirfd) → ns/{ipc,uts,net,pid,mnt}, root, environ
//   verify via the same dirfd: pid 1 of its pid ns, in the container's cgroup
//   block signals (signalfd); -it: terminal raw
//   setns(pid) (only pid_for_children changes)
//   fork ─────────────────────────────────────▶   join cgroups (write own pid to cgroup.procs)
//                                                 setns ipc, uts, net, mnt
//                                                 fchdir(root) + chroot(".") + chdir("/")
//                                                 -t: open the container's /dev/ptmx,
//                                                     send the master back, slave = ctty + stdio
//                                                 container security: seccomp filter,
//                                                 credentials, no_new_privs (as the shim)
//                                                 signals reset → execvpe (container env + PATH)
//   read the error pipe (CLOEXEC) until EOF ◀──   one line "what failed", exit 126 / 127
//   relay pty ↔ terminal, forward signals,
//   SIGWINCH → window size; wait → exit code
//
// The child is boxctl's own child inside the container's pid namespace, so its wait status is the
// command's: the exit code passes through, 128+N when killed by signal N. It is in the container's
// cgroup and pid namespace, so tearing the pod down (or the container init exiting) kills it.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::agent {

struct ExecOptions {
  std::string pod;
  std::string container;          // -c; empty = the pod's only container
  bool stdin = false;             // -i: pass boxctl's stdin (else the command reads /dev/null)
  bool tty = false;               // -t: a pty from the container's /dev/pts
  std::vector<std::string> env;   // -e KEY=VALUE, on top of the container's environment
  std::vector<std::string> argv;  // the command (after "--", or from the first word after POD)
  // > 0: the command runs in a process group of its own, killed (SIGKILL, the whole group) when
  // it runs longer (exec probes and hooks, agent/probe_check.h).
  int64_t timeoutMs = 0;
};

constexpr const char* kExecUsage =
    "usage: boxctl exec POD [-c CONTAINER] [-i] [-t] [-e KEY=VALUE]... -- CMD [ARGS...]";

// `exec` arguments (after the word "exec"). Options and POD may come in any order until "--" or
// the first word after POD, which starts the command. -it / -ti combine.
Result<ExecOptions> parseExecArgs(const std::vector<std::string>& args);

// Exit codes of boxctl exec besides the command's own (docker and kubectl use the same).
constexpr int kExecCannotRun = 126;  // found the container, could not start the command
constexpr int kExecNotFound = 127;   // the command is not in the container's PATH

// What a container's process is, from boxd's describe reply.
struct ExecTarget {
  std::string label;  // "web/a", for messages
  pid_t pid = 0;      // host pid of the container's init
  std::vector<std::string> cgroupProcs;
  // The container's uid, gid, groups, capabilities, no_new_privs and seccomp, as boxd resolved
  // them from its securityContext; the defaults when boxd's reply does not carry them.
  reconcilers::ContainerSecurity security;
};

// Picks the container (-c or the only one) from a describe reply. Errors are the same words as
// `boxctl logs`, and "container web/a is not running (state Terminated)".
Result<ExecTarget> pickExecTarget(const nlohmann::json& describe, const ExecOptions& opts);

// /proc/PID/environ (NUL-separated) into KEY=VALUE entries.
std::vector<std::string> parseEnviron(std::string_view raw);
// base with every KEY in overrides replaced (or added, in order).
std::vector<std::string> mergeEnv(std::vector<std::string> base,
                                  const std::vector<std::string>& overrides);
// /proc/PID/status says the process is pid 1 of a pid namespace below ours ("NSpid: 4242 1").
bool isPidNamespaceInit(std::string_view status);
// /proc/PID/cgroup names a cgroup whose cgroup.procs is one of procsFiles.
bool inCgroupOf(std::string_view procCgroup, const std::vector<std::string>& procsFiles);
// A wait status as a shell reports it: the exit code, or 128+signal.
int exitCodeFromWaitStatus(int wstatus);
// The exit code for an execve failure: 127 when the file is not there, else 126.
int execFailureExitCode(int err);

struct ExecOutcome {
  int exitCode = 0;
  std::string error;      // set when the command could not be run: "<what failed>"
  bool timedOut = false;  // killed at ExecOptions::timeoutMs
};

// Runs opts.argv in the target container with boxctl's stdio (see the diagram). Blocks until the
// command exits. Not reentrant: it changes boxctl's pid_for_children namespace, signal mask and
// (with -it) the terminal mode, and restores the terminal before returning.
ExecOutcome runExec(const ExecOptions& opts, const ExecTarget& target);

}  // namespace boxd::agent
