#include "agent/shim/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "agent/shim/mounts.h"
#include "agent/shim/security.h"
#include "common/fd.h"
#include "common/util.h"

extern char** environ;

namespace boxd::shim {
namespace {

using reconcilers::ContainerLaunch;

constexpr size_t kCloneStackBytes = 256 * 1024;

// Everything the child needs, prepared by the shim before clone so the child only does syscalls.
struct ChildArgs {
  const ContainerLaunch* launch = nullptr;
  std::string cwd;
  std::vector<std::string> env;
  std::vector<char*> argv, envp;
  int syncRead = -1, syncWrite = -1;  // shim → child: "go" once the cgroups are joined
  int errRead = -1, errWrite = -1;    // child → shim: one error line, or EOF at execve
  int logFd = -1, nullFd = -1;
  const SeccompFilter* seccomp = nullptr;  // built once per shim; null for a privileged container
  const ContainerSecurity& security() const { return launch->security; }
};

// ---- the container's filesystem: fixed tables (paths relative to the rootfs) ----

struct MountSpec {
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
  unsigned long notWhenPrivileged = 0;  // flags a privileged container does without
};

constexpr MountSpec kMounts[] = {
    {"proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
    {"tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755,size=65536k"},
    {"devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"},
    {"shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m"},
    {"sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, MS_RDONLY},
};

struct DeviceSpec {
  const char* path;
  unsigned major, minor;
};

constexpr DeviceSpec kDevices[] = {
    {"dev/null", 1, 3},   {"dev/zero", 1, 5},    {"dev/full", 1, 7},
    {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0},
};

struct LinkSpec {
  const char* target;
  const char* path;
};

constexpr LinkSpec kDevLinks[] = {
    {"/proc/self/fd", "dev/fd"},       {"/proc/self/fd/0", "dev/stdin"},
    {"/proc/self/fd/1", "dev/stdout"}, {"/proc/self/fd/2", "dev/stderr"},
    {"pts/ptmx", "dev/ptmx"},
};

std::string inRootfs(const ChildArgs& a, const char* rel) { return a.launch->rootfs + "/" + rel; }

// Creates a missing mount point; refuses symlinks (they could point anywhere).
Status ensureDir(const ChildArgs& a, const char* rel) {
  struct stat st {};
  if (::lstat(rel, &st) == 0) {
    if (S_ISLNK(st.st_mode))
      return makeError("mount target " + inRootfs(a, rel) + " is a symlink", ELOOP);
    if (!S_ISDIR(st.st_mode))
      return makeError("mount target " + inRootfs(a, rel) + " is not a directory", ENOTDIR);
    return {};
  }
  if (errno != ENOENT) return sysError("stat", inRootfs(a, rel));
  if (::mkdir(rel, 0755) != 0 && errno != EEXIST) return sysError("mkdir", inRootfs(a, rel));
  return {};
}

Status mountAll(const ChildArgs& a) {
  for (const auto& m : kMounts) {
    BOXD_TRY(ensureDir(a, m.target));
    unsigned long flags = m.flags & ~(a.security().privileged ? m.notWhenPrivileged : 0);
    if (::mount(m.source, m.target, m.fstype, flags, m.data) != 0)
      return sysError(std::string("mount ") + m.fstype + " on", inRootfs(a, m.target));
  }
  return {};
}

Status makeDevices(const ChildArgs& a) {
  for (const auto& d : kDevices) {
    if (::mknod(d.path, S_IFCHR | 0666, makedev(d.major, d.minor)) != 0)
      return sysError("mknod", inRootfs(a, d.path));
    if (::chmod(d.path, 0666) != 0) return sysError("chmod", inRootfs(a, d.path));
  }
  for (const auto& l : kDevLinks) {
    if (::symlink(l.target, l.path) != 0) return sysError("symlink", inRootfs(a, l.path));
  }
  return {};
}

// ---- the child's steps, in order ----

Status newSession(const ChildArgs&) {
  if (::setsid() < 0) return sysError("setsid", "");
  return {};
}

Status privatizeMounts(const ChildArgs&) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return sysError("make-rprivate", "/");
  return {};
}

Status bindRootfs(const ChildArgs& a) {
  const std::string& root = a.launch->rootfs;
  struct statx stx {};
  if (::statx(AT_FDCWD, root.c_str(), 0, STATX_BASIC_STATS, &stx) != 0)
    return sysError("stat rootfs", root);
  bool known = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0;
  if (known && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0) return {};
  if (::mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return sysError("bind rootfs", root);
  return {};
}

Status enterRootfs(const ChildArgs& a) {
  if (::chdir(a.launch->rootfs.c_str()) != 0) return sysError("chdir", a.launch->rootfs);
  return {};
}

// The pod's volumes and files (mounts.h), beneath the rootfs (the cwd), in this namespace only;
// before the rootfs may turn read-only, since missing mount points are created in it.
Status mountVolumes(const ChildArgs& a) {
  if (a.launch->mounts.empty()) return {};
  Fd root(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysError("open", a.launch->rootfs);
  return mountAllInto(root.get(), a.launch->mounts);
}

// readOnlyRootFilesystem: the rootfs mount itself, in this mount namespace only, keeping its
// other flags. The mounts under it (/proc, /dev, volumes) keep their own.
Status readOnlyRoot(const ChildArgs& a) {
  struct statvfs sv {};
  if (::statvfs(".", &sv) != 0) return sysError("statvfs", a.launch->rootfs);
  unsigned long kept = 0;
  for (auto [st, ms] :
       {std::pair{ST_NOSUID, MS_NOSUID}, std::pair{ST_NODEV, MS_NODEV},
        std::pair{ST_NOEXEC, MS_NOEXEC}, std::pair{ST_NOATIME, MS_NOATIME},
        std::pair{ST_NODIRATIME, MS_NODIRATIME}, std::pair{ST_RELATIME, MS_RELATIME}}) {
    if ((sv.f_flag & st) != 0) kept |= ms;
  }
  if (::mount(nullptr, ".", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, nullptr) != 0)
    return sysError("remount read-only", a.launch->rootfs);
  return {};
}

Status pivotRoot(const ChildArgs& a) {
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return sysError("pivot_root", a.launch->rootfs);
  if (::umount2(".", MNT_DETACH) != 0) return sysError("detach old root under", a.launch->rootfs);
  if (::chdir("/") != 0) return sysError("chdir", "/");
  return {};
}

Status enterCwd(const ChildArgs& a) {
  if (::chdir(a.cwd.c_str()) != 0) return sysError("chdir", a.cwd);
  return {};
}

Status redirectStdio(const ChildArgs& a) {
  if (::dup2(a.nullFd, 0) < 0) return sysError("dup2 stdin", "/dev/null");
  if (::dup2(a.logFd, 1) < 0 || ::dup2(a.logFd, 2) < 0)
    return sysError("dup2 stdout/stderr", a.launch->logPath);
  return {};
}

// The shim blocks SIGCHLD/SIGTERM/SIGINT (signalfd) and ignores SIGPIPE/SIGHUP; the container
// starts with a clean slate.
Status resetSignals(const ChildArgs&) { return shim::resetSignals(); }

// The security steps (security.h). Masks need CAP_SYS_ADMIN, so they come before the
// credentials change; applyProcessSecurity then orders credentials, no_new_privs and the seccomp
// filter, and is last, so that nothing the shim itself does afterwards meets the filter but execve.
Status maskPaths(const ChildArgs&) { return maskProcPaths(); }
Status processSecurity(const ChildArgs& a) { return applyProcessSecurity(a.security(), a.seccomp); }

// Which containers a step is for: most are for all; the rest follow the securityContext.
enum class When { Always, Confined, ReadOnlyRoot };

bool applies(When w, const ContainerSecurity& s) {
  switch (w) {
    case When::Always:
      return true;
    case When::Confined:  // not privileged
      return !s.privileged;
    case When::ReadOnlyRoot:
      return s.readOnlyRootfs;
  }
  return true;
}

struct ChildStep {
  Status (*run)(const ChildArgs&);
  When when = When::Always;
};

constexpr ChildStep kChildSteps[] = {
    {newSession},   {privatizeMounts},
    {bindRootfs},   {enterRootfs},
    {mountAll},     {makeDevices},
    {mountVolumes}, {readOnlyRoot, When::ReadOnlyRoot},
    {pivotRoot},    {maskPaths, When::Confined},
    {enterCwd},     {redirectStdio},
    {resetSignals}, {processSecurity},
};

[[noreturn]] void childFail(const ChildArgs& a, const std::string& message) {
  std::string line = message + "\n";
  ssize_t n = ::write(a.errWrite, line.data(), line.size());
  (void)n;
  ::_exit(127);
}

int childMain(void* p) {
  auto& a = *static_cast<ChildArgs*>(p);
  ::close(a.syncWrite);
  ::close(a.errRead);
  // Die with the shim. Set before waiting for "go": if the shim died already, the read sees EOF.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
    childFail(a, "prctl PDEATHSIG: " + std::string(strerror(errno)));
  char go = 0;
  ssize_t n;
  do n = ::read(a.syncRead, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(126);  // the shim gave up on us
  ::close(a.syncRead);
  for (const ChildStep& step : kChildSteps) {
    if (!applies(step.when, a.security())) continue;
    Status st = step.run(a);
    if (!st.ok()) childFail(a, st.error().message);
  }
  environ = a.envp.data();  // execvpe searches the PATH of the calling process's environment
  ::execvpe(a.argv[0], a.argv.data(), a.envp.data());
  childFail(a, "exec \"" + std::string(a.argv[0]) + "\": " + strerror(errno));
}

// ---- the shim's side ----

bool hasKey(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& kv : env) {
    if (startsWith(kv, key + "=")) return true;
  }
  return false;
}

std::vector<std::string> containerEnv(const ContainerLaunch& l, const std::string& hostname) {
  std::vector<std::string> env = l.env;
  if (!hasKey(env, "PATH"))
    env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!hasKey(env, "HOME")) env.emplace_back("HOME=/root");
  if (!hasKey(env, "HOSTNAME")) env.push_back("HOSTNAME=" + hostname);
  return env;
}

struct Pipe {
  Fd read, write;
};

Result<Pipe> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysError("pipe", "");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// The container's stdout and stderr: one pipe, so the two keep their order of arrival, drained
// by the shim into the log (log_writer.h); /dev/null when there is no log.
Result<Pipe> makeOutput(const std::string& logPath) {
  if (logPath.empty()) {
    Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!null) return sysError("open", "/dev/null");
    return Pipe{Fd(), std::move(null)};
  }
  auto p = makePipe();
  if (!p.ok()) return p.error();
  // Only the shim's end: the container's writes wait on a full pipe instead of failing.
  if (::fcntl(p->read.get(), F_SETFL, O_NONBLOCK) != 0)
    return sysError("set O_NONBLOCK on output pipe of", logPath);
  return p;
}

// The default seccomp filter, compiled on the first container start (in a throwaway child, so
// the shim keeps only the ~3 KiB program) and kept for the shim's life.
Result<const SeccompFilter*> defaultSeccomp() {
  static std::optional<SeccompFilter> filter;
  if (!filter) {
    auto built = SeccompFilter::buildInChild();
    if (!built.ok()) return built.error();
    filter.emplace(std::move(*built));
  }
  return &*filter;
}

// Kills and reaps a child that never became a container. Safe: it is our unreaped child.
void discardChild(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Status joinCgroups(pid_t pid, const std::vector<std::string>& procsFiles) {
  for (const auto& f : procsFiles) {
    Status st = writeFile(f, std::to_string(pid));
    if (!st.ok()) return st.error().wrap("join cgroup");
  }
  return {};
}

// Reads the child's error pipe until EOF. Empty = it exec'd.
Result<std::string> readChildError(int fd, int timeoutMs) {
  std::string out;
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0)
      return makeError("container did not exec within " + std::to_string(timeoutMs) + " ms",
                       ETIMEDOUT);
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return sysError("poll", "container error pipe");
    if (r <= 0) continue;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", "container error pipe");
    if (n == 0) return trim(out);
    if (out.size() < 4096) out.append(buf, static_cast<size_t>(n));
  }
}

struct Stack {
  void* base = MAP_FAILED;
  ~Stack() {
    if (base != MAP_FAILED) ::munmap(base, kCloneStackBytes);
  }
};

Result<pid_t> cloneChild(ChildArgs& args) {
  Stack stack;
  stack.base = ::mmap(nullptr, kCloneStackBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack.base == MAP_FAILED) return sysError("mmap", "clone stack");
  char* top = static_cast<char*>(stack.base) + kCloneStackBytes;
  // No CLONE_VM: the child gets a copy-on-write image of this single-threaded process, so the
  // stack (and args) may be released here as soon as clone returns.
  pid_t pid = ::clone(childMain, top, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, &args);
  if (pid < 0) return sysError("clone", "");
  return pid;
}

}  // namespace

Result<Started> startContainer(const ContainerLaunch& launch, const std::string& hostname,
                               int timeoutMs) {
  if (launch.argv.empty()) return makeError("argv is empty");
  if (launch.rootfs.empty() || launch.rootfs[0] != '/')
    return makeError("rootfs must be an absolute path");
  Result<const SeccompFilter*> seccomp = static_cast<const SeccompFilter*>(nullptr);
  if (!launch.security.privileged) seccomp = defaultSeccomp();
  if (!seccomp.ok()) return seccomp.error();
  auto log = makeOutput(launch.logPath);
  if (!log.ok()) return log.error();
  Fd devNull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devNull) return sysError("open", "/dev/null");
  auto sync = makePipe();
  if (!sync.ok()) return sync.error();
  auto err = makePipe();
  if (!err.ok()) return err.error();

  ChildArgs args;
  args.launch = &launch;
  args.cwd = launch.cwd.empty() ? "/" : launch.cwd;
  args.env = containerEnv(launch, hostname);
  for (const auto& s : launch.argv) args.argv.push_back(const_cast<char*>(s.c_str()));
  args.argv.push_back(nullptr);
  for (auto& s : args.env) args.envp.push_back(s.data());
  args.envp.push_back(nullptr);
  args.syncRead = sync->read.get();
  args.syncWrite = sync->write.get();
  args.errRead = err->read.get();
  args.errWrite = err->write.get();
  args.logFd = log->write.get();
  args.nullFd = devNull.get();
  args.seccomp = *seccomp;

  auto pid = cloneChild(args);
  if (!pid.ok()) return pid.error();
  sync->read.reset();
  err->write.reset();
  log->write.reset();  // the container holds the only write end: its exit means EOF
  if (Status st = joinCgroups(*pid, launch.cgroupProcs); !st.ok()) {
    discardChild(*pid);
    return st.error();
  }
  char go = 'g';
  if (::write(sync->write.get(), &go, 1) != 1) {
    Error e = sysError("release container", launch.name);
    discardChild(*pid);
    return e;
  }
  sync->write.reset();
  auto message = readChildError(err->read.get(), timeoutMs);
  if (!message.ok() || !message->empty()) {
    discardChild(*pid);
    return message.ok() ? makeError(*message) : message.error();
  }
  return Started{*pid, nowMs(), std::move(log->read)};
}

}  // namespace boxd::shim
