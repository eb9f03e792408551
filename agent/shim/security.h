// The security defaults every container gets, applied by the container child after pivot_root
// and before execve (see container.h for the whole sequence and docs/security.md for why each
// default is what it is, and how it compares with podman + crun on the same host):
//
//   maskProcPaths       kernel files that leak host state: /dev/null bound over files, an empty
//                       read-only tmpfs over directories; a short list made read-only (/proc/sys,
//                       /proc/sysrq-trigger, ...). Paths the kernel does not have are skipped.
//   setCredentials      bounding = the container's capabilities (kDefaultCapabilities unless its
//                       securityContext changes them); supplementary groups, gid, uid; permitted
//                       = effective = the capabilities for uid 0, none for any other uid;
//                       inheritable and ambient empty.
//   setNoNewPrivs       PR_SET_NO_NEW_PRIVS: setuid binaries and file caps cannot add privilege.
//   SeccompFilter       a deny-list: the syscalls in one reviewed table answer EPERM (a few
//                       answer ENOSYS so callers fall back), everything else is allowed.
//
// A privileged container (securityContext.privileged) gets no masks and no filter, and all
// capabilities; applyProcessSecurity orders the last three for both kinds.
//
// Each step returns an Error whose message names the step and the object it failed on.
//
// Library target boxd_container_security. A process joining a running container (boxctl exec)
// is already under the masks (they live in the container's mount namespace) and needs, after
// its setns/chroot and before execve: SeccompFilter::build() (may allocate; build before forking
// if that matters) unless privileged, then applyProcessSecurity() with the container's settings.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::shim {

using reconcilers::ContainerSecurity;

// Bit n = capability n (linux/capability.h). The eleven podman 4.x ships on Debian (see
// docs/security.md): CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
// NET_BIND_SERVICE SYS_CHROOT SETFCAP. Docker's 14 add MKNOD, NET_RAW and AUDIT_WRITE; boxd
// leaves them out (no device cgroup confines MKNOD here).
inline constexpr uint64_t kDefaultCapabilities = specs::kDefaultCapabilities;

class SeccompFilter;

Status maskProcPaths();
Status setCredentials(const ContainerSecurity& sec);
Status setNoNewPrivs();
// The last steps before execve, for a container's process and an exec'd command alike:
//   [seccomp, when no_new_privs is off: loading a filter then needs CAP_SYS_ADMIN, still held]
//   → setCredentials → no_new_privs (if asked) → [seccomp, when no_new_privs is on: last, so
//   nothing but execve meets it]. Privileged: no filter (filter may be null).
Status applyProcessSecurity(const ContainerSecurity& sec, const SeccompFilter* filter);
// Every signal back to its default disposition and none blocked: a container process (or an
// exec'd command) starts with a clean slate whatever its launcher had set.
Status resetSignals();

// The default seccomp filter: libseccomp compiles the table to a BPF program (~400 instructions)
// and is released; only the program is kept. Each container child loads it as its last step
// before execve, with one syscall. Covers the x86-64, x86 (i386) and x32 ABIs so a 32-bit binary
// runs and meets the same table.
class SeccompFilter {
 public:
  static Result<SeccompFilter> build();
  // The same, compiled in a short-lived forked child that sends back only the program: the
  // caller's heap and resident pages never see libseccomp (~400 KiB of heap and its code pages,
  // which a shim, one per pod, would otherwise keep). Waits at most timeoutMs.
  static Result<SeccompFilter> buildInChild(int timeoutMs = 5000);
  Status load() const;
  size_t instructions() const { return program_.size(); }

 private:
  std::vector<sock_filter> program_;
};

// The syscalls the default filter denies, by name, as listed in its table (for docs and tests).
std::vector<std::string> deniedSyscalls();

}  // namespace boxd::shim
