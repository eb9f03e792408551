#include "agent/shim/security.h"

#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::shim {
namespace {

constexpr uint64_t bit(int cap) { return uint64_t{1} << cap; }

// "<step> <path>: <what>: strerror" — one line naming the step, the object and the cause.
Error stepError(const char* step, const std::string& object, const char* what, int err) {
  return makeError(std::string(step) + " " + object + ": " + what + ": " + std::strerror(err), err);
}

// ---- /proc and /sys: what a container must not read, or must not write ----

// Hidden: a file reads empty (/dev/null is bound over it), a directory lists empty (an empty
// read-only tmpfs covers it).
constexpr const char* kMaskedPaths[] = {
    "/proc/acpi",                     // host ACPI state; some entries were writable (buttons)
    "/proc/asound",                   // the host's sound cards
    "/proc/kcore",                    // the host's physical memory as an ELF core file
    "/proc/keys",                     // kernel keyrings: not namespaced, lists other users' keys
    "/proc/latency_stats",            // host-wide scheduler latency records, writable to reset
    "/proc/sched_debug",              // every task on the host with its name and pid
    "/proc/scsi",                     // host SCSI devices (once writable to add/remove them)
    "/proc/timer_list",               // every armed timer on the host, with task names and pids
    "/proc/timer_stats",              // the same on older kernels
    "/sys/dev/block",                 // the host's block devices by major:minor
    "/sys/devices/virtual/powercap",  // energy counters (RAPL): a power side channel
    "/sys/firmware",                  // ACPI tables, EFI variables, DMI data of the host
};

// Visible but read-only: knobs that are host-wide (or pod-wide) and must not be turned.
constexpr const char* kReadOnlyPaths[] = {
    "/proc/bus",            // PCI/USB device config space of the host
    "/proc/fs",             // filesystem tunables (nfsd, xfs, ...) of the host
    "/proc/irq",            // IRQ affinity of the host's interrupts
    "/proc/sys",            // sysctls: most are host-wide, the rest belong to the whole pod
    "/proc/sysrq-trigger",  // one byte here reboots or crashes the host
};

// ENOENT means "this kernel does not have it": skipped, like runc and crun do.
Result<bool> present(const char* step, const char* path, bool* isDir) {
  struct stat st {};
  if (::lstat(path, &st) != 0) {
    if (errno == ENOENT) return false;
    return stepError(step, path, "stat", errno);
  }
  *isDir = S_ISDIR(st.st_mode);
  return true;
}

Status maskPath(const char* path) {
  bool isDir = false;
  auto found = present("mask", path, &isDir);
  if (!found.ok()) return found.error();
  if (!*found) return {};
  constexpr unsigned long kHidden = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (isDir) {
    if (::mount("tmpfs", path, "tmpfs", kHidden, "size=4k,mode=0555") != 0)
      return stepError("mask", path, "mount empty read-only tmpfs", errno);
    return {};
  }
  if (::mount("/dev/null", path, nullptr, MS_BIND, nullptr) != 0)
    return stepError("mask", path, "bind /dev/null", errno);
  // Device nodes stay usable (no MS_NODEV) so that reading gives EOF rather than EACCES.
  if (::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
              nullptr) != 0)
    return stepError("mask", path, "remount read-only", errno);
  return {};
}

Status readOnlyPath(const char* path) {
  bool isDir = false;
  auto found = present("make read-only", path, &isDir);
  if (!found.ok()) return found.error();
  if (!*found) return {};
  if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return stepError("make read-only", path, "bind onto itself", errno);
  if (::mount(nullptr, path, nullptr,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return stepError("make read-only", path, "remount read-only", errno);
  return {};
}

// ---- seccomp: the deny-list ----

enum class Match {
  Always,       // every call
  AnyBitOf,     // calls whose argument has any of the bits in `bits`
  BitsOutside,  // calls whose argument (its low 32 bits, as the kernel reads it) sets a bit
                // outside `bits`, except the all-ones value
};

struct ArgRule {
  Match match = Match::Always;
  unsigned arg = 0;
  uint64_t bits = 0;
};

constexpr ArgRule anyBitOf(unsigned arg, uint64_t mask) {
  ArgRule r;
  r.match = Match::AnyBitOf;
  r.arg = arg;
  r.bits = mask;
  return r;
}

constexpr ArgRule bitsOutside(unsigned arg, uint64_t allowedBits) {
  ArgRule r;
  r.match = Match::BitsOutside;
  r.arg = arg;
  r.bits = allowedBits;
  return r;
}

struct Denied {
  const char* syscall;
  int err;  // what the caller sees: EPERM, or ENOSYS where callers fall back on "not here"
  ArgRule when{};
};

constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

// Everything not listed is allowed. Most of these also need a capability the container does not
// have; the filter is the second wall (a kernel bug in a capability check, or a capability added
// later, does not open them). The table is the whole policy: review it line by line.
constexpr Denied kDenied[] = {
    // The host kernel itself.
    {"kexec_load", EPERM},          // replaces the running kernel
    {"kexec_file_load", EPERM},     // the same, from a file
    {"init_module", EPERM},         // loads code into the host kernel
    {"finit_module", EPERM},        // the same, from a file
    {"delete_module", EPERM},       // unloads host kernel modules
    {"create_module", EPERM},       // obsolete module calls (ENOSYS on today's kernels anyway)
    {"get_kernel_syms", EPERM},     //   "
    {"query_module", EPERM},        //   "
    {"reboot", EPERM},              // restarts or halts the host (or ctrl-alt-del behaviour)
    {"swapon", EPERM},              // host-wide swap configuration
    {"swapoff", EPERM},             //   "
    {"syslog", EPERM},              // reads or clears the host kernel log (dmesg)
    {"acct", EPERM},                // host-wide process accounting to a file
    {"lookup_dcookie", EPERM},      // kernel profiling cookies (oprofile), host paths
    {"bpf", EPERM},                 // BPF programs run in the host kernel
    {"perf_event_open", EPERM},     // host-wide tracing and a long history of kernel bugs
    {"userfaultfd", EPERM},         // stalls kernel page faults: a classic race-exploit helper
    {"io_uring_setup", ENOSYS},     // large attack surface (Docker and podman block it too);
    {"io_uring_enter", ENOSYS},     //   ENOSYS: callers fall back to ordinary syscalls
    {"io_uring_register", ENOSYS},  //   "
    {"iopl", EPERM},                // raw I/O port access on the host
    {"ioperm", EPERM},              //   "
    {"vm86", EPERM},                // i386 virtual-8086 mode
    {"vm86old", EPERM},             //   "
    {"uselib", EPERM},              // obsolete a.out loader
    {"nfsservctl", EPERM},          // removed NFS server control
    {"_sysctl", EPERM},             // removed binary sysctl interface
    {"ustat", EPERM},               // obsolete; reports on host filesystems by device number
    {"sysfs", EPERM},               // obsolete; lists the host's filesystem types
    // Mounts and namespaces: the container's view of the host is fixed at start.
    {"mount", EPERM},          // new mounts (could uncover masked paths, remount rw)
    {"umount", EPERM},         // i386 only; would uncover what a mask hides
    {"umount2", EPERM},        //   "
    {"pivot_root", EPERM},     // changes the root of the mount namespace
    {"fsopen", EPERM},         // the new mount API: same power as mount
    {"fsconfig", EPERM},       //   "
    {"fsmount", EPERM},        //   "
    {"fspick", EPERM},         //   "
    {"open_tree", EPERM},      //   "
    {"move_mount", EPERM},     //   "
    {"mount_setattr", EPERM},  //   " (could clear read-only)
    {"unshare", EPERM},        // new namespaces; user namespaces need no capability
    {"setns", EPERM},          // joins other namespaces through their fds
    {"clone", EPERM, anyBitOf(0, kNamespaceFlags)},  // the same as unshare, at fork time
    {"clone3", ENOSYS},        // flags sit in memory seccomp cannot read: ENOSYS makes
                               //   glibc fall back to clone, which the line above checks
    {"sethostname", EPERM},    // the UTS namespace belongs to the whole pod
    {"setdomainname", EPERM},  //   "
    // Files by handle: bypass the mount namespace and chroot (the "shocker" escape).
    {"open_by_handle_at", EPERM},  // opens any inode of a host filesystem by its handle
    {"name_to_handle_at", EPERM},  // the matching half
    // Kernel keyrings are not namespaced: keys would be shared with the host.
    {"add_key", EPERM},      // adds a key to a keyring shared with the host
    {"request_key", EPERM},  // asks the host's key upcall for a key
    {"keyctl", EPERM},       // reads, links, revokes keys of those keyrings
    // Host clock: one for the whole machine (reading it stays allowed, adjtimex included).
    {"settimeofday", EPERM},     // sets the host's wall clock
    {"clock_settime", EPERM},    //   "
    {"clock_settime64", EPERM},  // i386 time64 variant
    {"stime", EPERM},            // i386 only
    // Disk quotas are host-wide.
    {"quotactl", EPERM},     // sets limits on host filesystems
    {"quotactl_fd", EPERM},  //   "
    // NUMA placement: pages of other processes, host memory policy (Docker: CAP_SYS_NICE only).
    {"move_pages", EPERM},               // moves pages of (other) processes between nodes
    {"migrate_pages", EPERM},            //   "
    {"mbind", EPERM},                    // pins memory to nodes the host may need
    {"set_mempolicy", EPERM},            //   "
    {"set_mempolicy_home_node", EPERM},  //   "
    // Execution domains other than plain Linux: allowed are 0 (PER_LINUX), 0x8 (PER_LINUX32),
    // 0x20000 (UNAME26), 0x20008 and the query 0xffffffff; the other flags switch on old,
    // little-tested kernel paths (READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, no ASLR, ...).
    {"personality", EPERM, bitsOutside(0, 0x20008)},
    {"fanotify_init", EPERM},  // filesystem-wide event monitoring (host mounts)
    {"vhangup", EPERM},        // hangs up the controlling terminal
};

// Reads fd to EOF within timeoutMs.
Status readAll(int fd, int timeoutMs, std::string* out) {
  int64_t deadline = monotonicMs() + timeoutMs;
  char buf[4096];
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0) return makeError("seccomp: filter compiler timed out", ETIMEDOUT);
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return sysError("seccomp: poll", "filter compiler pipe");
    if (r <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("seccomp: read", "filter compiler pipe");
    if (n == 0) return {};
    out->append(buf, static_cast<size_t>(n));
  }
}

uint32_t action(const Denied& d) { return SCMP_ACT_ERRNO(static_cast<uint32_t>(d.err)); }

Status addRule(scmp_filter_ctx ctx, const Denied& d) {
  int nr = seccomp_syscall_resolve_name(d.syscall);
  if (nr == __NR_SCMP_ERROR)
    return makeError(std::string("seccomp: libseccomp does not know syscall ") + d.syscall, EINVAL);
  auto failed = [&](int rc) {
    return makeError(std::string("seccomp: rule for ") + d.syscall + ": " + std::strerror(-rc),
                     -rc);
  };
  const ArgRule& w = d.when;
  switch (w.match) {
    case Match::Always:
      if (int rc = seccomp_rule_add(ctx, action(d), nr, 0); rc < 0) return failed(rc);
      return {};
    case Match::AnyBitOf:
      for (int b = 0; b < 64; ++b) {
        uint64_t flag = uint64_t{1} << b;
        if ((w.bits & flag) == 0) continue;
        scmp_arg_cmp cmp = SCMP_CMP(w.arg, SCMP_CMP_MASKED_EQ, flag, flag);
        if (int rc = seccomp_rule_add_array(ctx, action(d), nr, 1, &cmp); rc < 0) return failed(rc);
      }
      return {};
    case Match::BitsOutside: {
      // libseccomp allows one comparison per argument in a rule, and rules are OR-ed. So:
      //   bit 31 clear and a bit b outside the allowed ones set   (one rule per such b), or
      //   bit 31 set and some bit c below it clear                (one rule per c: not all-ones).
      // Masks only cover the low 32 bits, so the upper half is ignored, as by the kernel.
      constexpr uint64_t kTop = uint64_t{1} << 31;
      auto add = [&](uint64_t mask, uint64_t value) {
        scmp_arg_cmp cmp = SCMP_CMP(w.arg, SCMP_CMP_MASKED_EQ, mask, value);
        return seccomp_rule_add_array(ctx, action(d), nr, 1, &cmp);
      };
      for (int b = 0; b < 31; ++b) {
        uint64_t flag = uint64_t{1} << b;
        if ((w.bits & flag) == 0) {
          if (int rc = add(kTop | flag, flag); rc < 0) return failed(rc);
        }
        if (int rc = add(kTop | flag, kTop); rc < 0) return failed(rc);
      }
      return {};
    }
  }
  return {};
}

}  // namespace

static_assert(kDefaultCapabilities ==
                  (bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_FOWNER) | bit(CAP_FSETID) |
                   bit(CAP_KILL) | bit(CAP_SETGID) | bit(CAP_SETUID) | bit(CAP_SETPCAP) |
                   bit(CAP_NET_BIND_SERVICE) | bit(CAP_SYS_CHROOT) | bit(CAP_SETFCAP)),
              "specs/capabilities.h numbers match linux/capability.h");
static_assert(specs::kCapabilities[CAP_LAST_CAP].number == CAP_LAST_CAP &&
              specs::kCapabilities[CAP_NET_ADMIN].name == "NET_ADMIN" &&
              specs::kCapabilities[CAP_SYS_ADMIN].name == "SYS_ADMIN");

Status maskProcPaths() {
  for (const char* p : kMaskedPaths) BOXD_TRY(maskPath(p));
  for (const char* p : kReadOnlyPaths) BOXD_TRY(readOnlyPath(p));
  return {};
}

Status setCredentials(const ContainerSecurity& sec) {
  const uint64_t keep = sec.capabilities;
  // Bounding set first: it needs CAP_SETPCAP, which capset below may remove.
  for (int cap = 0; cap < 64; ++cap) {
    if ((keep & bit(cap)) != 0) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the kernel's last capability
      return stepError("drop capabilities:", "bounding set", ("cap " + std::to_string(cap)).c_str(),
                       errno);
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return stepError("drop capabilities:", "ambient set", "clear", errno);
  // Groups, then gid, then uid: the first two need CAP_SETGID, which a non-root uid no longer
  // has. Leaving uid 0 empties the permitted and effective sets (no PR_SET_KEEPCAPS).
  std::vector<gid_t> groups(sec.groups.begin(), sec.groups.end());
  std::string who = "uid " + std::to_string(sec.uid) + " gid " + std::to_string(sec.gid);
  if (::setgroups(groups.size(), groups.data()) != 0)
    return stepError("set user:", who, "setgroups", errno);
  if (::setresgid(sec.gid, sec.gid, sec.gid) != 0)
    return stepError("set user:", who, "setresgid", errno);
  if (::setresuid(sec.uid, sec.uid, sec.uid) != 0)
    return stepError("set user:", who, "setresuid", errno);
  // root keeps the set (what it still has of it: boxd's own may be smaller than "all"); any
  // other uid starts with none, as execve would give it anyway.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0)
    return stepError("drop capabilities:", "permitted set", "capget", errno);
  const uint64_t held = data[0].permitted | (uint64_t{data[1].permitted} << 32);
  const uint64_t sets = sec.uid == 0 ? keep & held : 0;
  for (int half = 0; half < 2; ++half) {
    auto word = static_cast<uint32_t>(sets >> (32 * half));
    data[half].effective = word;
    data[half].permitted = word;
    data[half].inheritable = 0;
  }
  if (::syscall(SYS_capset, &header, data) != 0)
    return stepError("drop capabilities:", "effective/permitted/inheritable", "capset", errno);
  return {};
}

Status applyProcessSecurity(const ContainerSecurity& sec, const SeccompFilter* filter) {
  if (!sec.privileged && filter == nullptr)
    return makeError("container security: no seccomp filter for a confined container", EINVAL);
  const bool confined = !sec.privileged;
  if (confined && !sec.noNewPrivs) BOXD_TRY(filter->load());  // needs CAP_SYS_ADMIN: still root
  BOXD_TRY(setCredentials(sec));
  if (sec.noNewPrivs) BOXD_TRY(setNoNewPrivs());
  if (confined && sec.noNewPrivs) BOXD_TRY(filter->load());
  return {};
}

Status setNoNewPrivs() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return sysError("set no_new_privs:", "prctl");
  return {};
}

Result<SeccompFilter> SeccompFilter::build() {
  std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
  if (ctx == nullptr) return makeError("seccomp: init filter failed", ENOMEM);
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      int rc = seccomp_arch_add(ctx.get(), arch);
      if (rc < 0 && rc != -EEXIST)
        return makeError(std::string("seccomp: add 32-bit ABI: ") + std::strerror(-rc), -rc);
    }
  }
  for (const Denied& d : kDenied) BOXD_TRY(addRule(ctx.get(), d));
  // libseccomp 2.5 exports only to a file descriptor: a memfd, read back whole.
  Fd mem(::memfd_create("boxd-seccomp", MFD_CLOEXEC));
  if (!mem) return sysError("seccomp: memfd_create", "");
  if (int rc = seccomp_export_bpf(ctx.get(), mem.get()); rc < 0)
    return makeError(std::string("seccomp: export filter: ") + std::strerror(-rc), -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return makeError("seccomp: exported filter has size " + std::to_string(size), EINVAL);
  SeccompFilter f;
  f.program_.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), f.program_.data(), static_cast<size_t>(size), 0) != size)
    return sysError("seccomp: read exported filter", "");
  return f;
}

Result<SeccompFilter> SeccompFilter::buildInChild(int timeoutMs) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysError("seccomp: pipe", "");
  Fd readEnd(fds[0]), writeEnd(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return sysError("seccomp: fork filter compiler", "");
  if (pid == 0) {
    // Reply: 'P' + the program, or 'E' + the error message.
    auto built = build();
    std::string reply = built.ok() ? "P" : "E" + built.error().message;
    if (built.ok())
      reply.append(reinterpret_cast<const char*>(built->program_.data()),
                   built->program_.size() * sizeof(sock_filter));
    for (size_t off = 0; off < reply.size();) {
      ssize_t n = ::write(writeEnd.get(), reply.data() + off, reply.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) ::_exit(1);
      off += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  writeEnd.reset();
  std::string reply;
  Status got = readAll(readEnd.get(), timeoutMs, &reply);
  if (!got.ok()) ::kill(pid, SIGKILL);  // our own child, not yet reaped
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got.ok()) return got.error();
  if (reply.empty())
    return makeError("seccomp: filter compiler died (wait status " + std::to_string(status) + ")");
  if (reply[0] == 'E') return makeError(reply.substr(1), EINVAL);
  size_t bytes = reply.size() - 1;
  if (reply[0] != 'P' || bytes == 0 || bytes % sizeof(sock_filter) != 0)
    return makeError("seccomp: filter compiler sent " + std::to_string(reply.size()) + " bytes");
  SeccompFilter f;
  f.program_.resize(bytes / sizeof(sock_filter));
  std::memcpy(f.program_.data(), reply.data() + 1, bytes);
  return f;
}

Status SeccompFilter::load() const {
  sock_fprog prog{static_cast<unsigned short>(program_.size()),
                  const_cast<sock_filter*>(program_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    return sysError("load seccomp filter",
                    "(" + std::to_string(program_.size()) + " instructions)");
  return {};
}

std::vector<std::string> deniedSyscalls() {
  std::vector<std::string> out;
  for (const Denied& d : kDenied) out.emplace_back(d.syscall);
  return out;
}

Status resetSignals() {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return sysError("sigprocmask", "");
  return {};
}

}  // namespace boxd::shim
