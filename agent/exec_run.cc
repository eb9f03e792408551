// The process half of `boxctl exec` (see the diagram in exec.h): open the container's
// namespaces from /proc, fork the exec child into them, relay a pty, pass the exit code on.
//
// The pty (-t) comes from the container's own devpts instance: the child opens /dev/ptmx after
// entering the container's mount namespace and root, and sends the master back over a socketpair.
// So the command's terminal is a /dev/pts/N of the container (`tty` and ttyname work there, as
// with runc's console socket), and nothing of the host's devpts is handed into the container.
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "agent/exec.h"
#include "agent/shim/security.h"
#include "common/fd.h"
#include "common/util.h"

extern char** environ;

namespace boxd::agent {
namespace {

struct Namespace {
  const char* name;
  int type;
};
// Entered in this order; pid is entered by boxctl itself before the fork (it only changes the
// namespace of boxctl's next child), mnt last because it takes the host's paths away.
constexpr Namespace kNamespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET},
    {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
};
constexpr size_t kNsCount = std::size(kNamespaces);
constexpr size_t kPidNs = 3;
static_assert(kNamespaces[kPidNs].type == CLONE_NEWPID);

// Signals boxctl takes over while the command runs (blocked, read from a signalfd).
constexpr int kSignals[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

constexpr int kPtyHandOverMs = 10000;
constexpr int kDrainQuietMs = 100;  // after the command exits, output still in the pty

// ---- what boxctl opens from /proc/PID before anything changes ----

struct Opened {
  std::array<Fd, kNsCount> ns;
  Fd root;
  std::vector<std::string> env;
};

std::string procPath(pid_t pid, const std::string& rel) {
  return "/proc/" + std::to_string(pid) + "/" + rel;
}

Result<std::string> readAt(int dir, pid_t pid, const std::string& rel) {
  Fd fd(::openat(dir, rel.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return sysError("open", procPath(pid, rel));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", procPath(pid, rel));
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Error gone(const ExecTarget& t) {
  return makeError("container process " + std::to_string(t.pid) +
                   " is gone (the container is not running any more)");
}

// The /proc/PID dirfd pins that one process: if it exits and the pid is reused, every lookup
// through the dirfd fails with ESRCH. So the namespaces opened through it and the checks read
// through it are about the same process.
Result<Opened> openTarget(const ExecTarget& t) {
  Fd dir(::open(procPath(t.pid, "").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return errno == ENOENT ? gone(t) : sysError("open", procPath(t.pid, ""));
  Opened o;
  for (size_t i = 0; i < kNsCount; ++i) {
    std::string rel = std::string("ns/") + kNamespaces[i].name;
    o.ns[i].reset(::openat(dir.get(), rel.c_str(), O_RDONLY | O_CLOEXEC));
    if (!o.ns[i]) return errno == ESRCH ? gone(t) : sysError("open", procPath(t.pid, rel));
  }
  o.root.reset(::openat(dir.get(), "root", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!o.root) return errno == ESRCH ? gone(t) : sysError("open", procPath(t.pid, "root"));
  auto status = readAt(dir.get(), t.pid, "status");
  auto cgroup = readAt(dir.get(), t.pid, "cgroup");
  auto environ = readAt(dir.get(), t.pid, "environ");
  for (const auto* r : {&status, &cgroup, &environ}) {
    if (!r->ok()) return r->error().code == ESRCH ? gone(t) : r->error();
  }
  if (!isPidNamespaceInit(*status) || !inCgroupOf(*cgroup, t.cgroupProcs)) {
    return makeError("process " + std::to_string(t.pid) + " is no longer the container's init " +
                     "(the container restarted?); try again");
  }
  o.env = parseEnviron(*environ);
  return o;
}

// ---- the exec child: prepared before fork, then only syscalls ----

struct ChildArgs {
  const Opened* opened = nullptr;
  const std::vector<std::string>* cgroupProcs = nullptr;
  const reconcilers::ContainerSecurity* security = nullptr;
  std::vector<std::string> env;
  std::vector<char*> argv, envp;
  int errWrite = -1;  // one line on failure; closed by execve (CLOEXEC)
  int nullFd = -1;    // stdin without -i
  int ptySock = -1;   // -t: the master goes back to boxctl here
  bool tty = false;
  bool ownGroup = false;  // a deadline kills the command's process group
  winsize ws{};
};

Status joinCgroups(const ChildArgs& a) {
  for (const auto& f : *a.cgroupProcs) {
    Status st = writeFile(f, std::to_string(::getpid()));  // our pid as the container sees it
    if (!st.ok()) return st.error().wrap("join cgroup");
  }
  return {};
}

Status enterNamespaces(const ChildArgs& a) {
  for (size_t i = 0; i < kNsCount; ++i) {
    if (kNamespaces[i].type == CLONE_NEWPID) continue;  // entered by the fork
    if (::setns(a.opened->ns[i].get(), kNamespaces[i].type) != 0)
      return sysError(std::string("setns ") + kNamespaces[i].name, "");
  }
  return {};
}

// The container's root as its init sees it (/proc/PID/root), as chroot(1) would.
Status enterRoot(const ChildArgs& a) {
  if (::fchdir(a.opened->root.get()) != 0) return sysError("chdir", "container root");
  if (::chroot(".") != 0) return sysError("chroot", "container root");
  if (::chdir("/") != 0) return sysError("chdir", "/");
  return {};
}

// One byte carrying one fd (SCM_RIGHTS): the pty master's hand-over, both ways.
struct FdMessage {
  char byte = 'm';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

Status sendFd(int sock, int fd) {
  FdMessage m;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (::sendmsg(sock, &m.msg, MSG_NOSIGNAL) != 1) return sysError("send pty master", "to boxctl");
  return {};
}

// A pty of the container's devpts (its /dev/ptmx, checked to be one: the container owns that
// path). The master goes to boxctl; the slave becomes our controlling terminal and stdio.
Status setupPty(const ChildArgs& a) {
  Fd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!master) return sysError("open", "/dev/ptmx in the container");
  struct stat st {};
  struct statfs sfs {};
  if (::fstat(master.get(), &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 ||
      minor(st.st_rdev) != 2 || ::fstatfs(master.get(), &sfs) != 0 ||
      sfs.f_type != DEVPTS_SUPER_MAGIC)
    return makeError("/dev/ptmx in the container is not a devpts pty multiplexer");
  if (::unlockpt(master.get()) != 0) return sysError("unlockpt", "/dev/ptmx");
  Fd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return sysError("open pty slave of", "/dev/ptmx");
  if (a.ws.ws_row != 0 && ::ioctl(slave.get(), TIOCSWINSZ, &a.ws) != 0)
    return sysError("set window size of", "pty");
  BOXD_TRY(sendFd(a.ptySock, master.get()));
  master.reset();
  if (::setsid() < 0) return sysError("setsid", "");
  if (::ioctl(slave.get(), TIOCSCTTY, 0) != 0) return sysError("set controlling terminal", "pty");
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(slave.get(), fd) < 0) return sysError("dup2", "pty");
  }
  return {};
}

Status setupStdio(const ChildArgs& a) {
  if (a.tty) return setupPty(a);  // setsid: a process group of its own already
  if (a.ownGroup && ::setpgid(0, 0) != 0) return sysError("setpgid", "");
  if (a.nullFd >= 0 && ::dup2(a.nullFd, 0) < 0) return sysError("dup2 stdin", "/dev/null");
  return {};
}

// The same restrictions as the container's own processes, in the same order (the shim applies
// them there): seccomp filter, uid/gid/groups and capability sets, no_new_privs.
Status applyContainerSecurity(const ChildArgs& a) {
  std::optional<shim::SeccompFilter> filter;
  if (!a.security->privileged) {
    auto built = shim::SeccompFilter::build();
    if (!built.ok()) return built.error();
    filter.emplace(std::move(*built));
  }
  return shim::applyProcessSecurity(*a.security, filter ? &*filter : nullptr);
}

Status resetSignals(const ChildArgs&) { return shim::resetSignals(); }

using ChildStep = Status (*)(const ChildArgs&);
constexpr ChildStep kChildSteps[] = {
    joinCgroups, enterNamespaces, enterRoot, setupStdio, applyContainerSecurity, resetSignals,
};

[[noreturn]] void childFail(const ChildArgs& a, const std::string& message, int code) {
  std::string line = message + "\n";
  ssize_t n = ::write(a.errWrite, line.data(), line.size());
  (void)n;
  ::_exit(code);
}

[[noreturn]] void childMain(const ChildArgs& a) {
  for (ChildStep step : kChildSteps) {
    Status st = step(a);
    if (!st.ok()) childFail(a, st.error().message, kExecCannotRun);
  }
  environ =
      const_cast<char**>(a.envp.data());  // execvpe searches the PATH of the current environment
  ::execvpe(a.argv[0], a.argv.data(), a.envp.data());
  int err = errno;
  std::string cmd = a.argv[0];
  bool searched = cmd.find('/') == std::string::npos;
  childFail(a,
            "exec \"" + cmd +
                "\": " + (err == ENOENT && searched ? "command not found" : std::strerror(err)),
            execFailureExitCode(err));
}

// ---- boxctl's side ----

// Blocks the signals boxctl handles while the command runs and reads them from a signalfd;
// restores the mask on return.
class SignalGuard {
 public:
  Status start() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kSignals) sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, &old_) != 0) return sysError("sigprocmask", "");
    blocked_ = true;
    fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) return sysError("signalfd", "");
    oldPipe_ = ::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error, not our death
    return {};
  }
  ~SignalGuard() {
    if (!blocked_) return;
    ::signal(SIGPIPE, oldPipe_);
    ::sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  int fd() const { return fd_.get(); }

 private:
  sigset_t old_{};
  bool blocked_ = false;
  sighandler_t oldPipe_ = SIG_DFL;
  Fd fd_;
};

// The user's terminal in raw mode while -it relays keystrokes; restored on every way out of
// runExec (boxctl's fatal signals are all routed through the signalfd meanwhile).
class RawTerminal {
 public:
  Status enable(int fd) {
    if (::tcgetattr(fd, &saved_) != 0) return sysError("tcgetattr", "stdin");
    termios raw = saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) return sysError("tcsetattr", "stdin");
    fd_ = fd;
    return {};
  }
  ~RawTerminal() {
    if (fd_ >= 0) ::tcsetattr(fd_, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  int fd_ = -1;
};

Result<Fd> receiveFd(int sock) {
  pollfd p{sock, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, kPtyHandOverMs);
  while (r < 0 && errno == EINTR);
  if (r == 0) return makeError("the exec child did not hand over the pty", ETIMEDOUT);
  FdMessage m;
  ssize_t n = ::recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) return Fd();  // the child failed first; its error pipe says why
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return makeError("no pty in the hand-over");
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return Fd(fd);
}

bool writeAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Waits for the command, relays the pty when there is one, forwards signals.
class Supervisor {
 public:
  Supervisor(pid_t child, int sigFd, Fd errRead, Fd master, bool relayStdin, int64_t timeoutMs)
      : deadline_(timeoutMs > 0 ? monotonicMs() + timeoutMs : 0),
        child_(child),
        sigFd_(sigFd),
        err_(std::move(errRead)),
        master_(std::move(master)),
        readStdin_(relayStdin && master_.valid()) {}

  ExecOutcome run() {
    while (!reaped_ || err_ || master_) {
      std::array<pollfd, 4> fds{};
      nfds_t n = 0;
      fds[n++] = {sigFd_, POLLIN, 0};
      int errAt = err_ ? static_cast<int>(n++) : -1;
      if (errAt >= 0) fds[errAt] = {err_.get(), POLLIN, 0};
      int ptyAt = master_ ? static_cast<int>(n++) : -1;
      if (ptyAt >= 0)
        fds[ptyAt] = {master_.get(), static_cast<short>(POLLIN | (toPty_.empty() ? 0 : POLLOUT)),
                      0};
      int inAt = readStdin_ && toPty_.size() < 65536 ? static_cast<int>(n++) : -1;
      if (inAt >= 0) fds[inAt] = {0, POLLIN, 0};
      int wait = reaped_ ? kDrainQuietMs : -1;
      if (!reaped_ && deadline_ > 0) {
        int64_t left = deadline_ - monotonicMs();
        if (left <= 0) {
          killGroup();
          continue;
        }
        wait = static_cast<int>(std::min<int64_t>(left, 60000));
      }
      int r = ::poll(fds.data(), n, wait);
      if (r < 0 && errno != EINTR) break;
      if (r == 0) master_.reset();  // the command is gone and its pty has gone quiet
      if (r <= 0) continue;
      if (fds[0].revents != 0) onSignals();
      if (errAt >= 0 && fds[errAt].revents != 0) onErrorPipe();
      if (ptyAt >= 0 && fds[ptyAt].revents != 0) onPty(fds[ptyAt].revents);
      if (inAt >= 0 && fds[inAt].revents != 0) onStdin();
    }
    ExecOutcome out;
    out.exitCode = reaped_ ? exitCodeFromWaitStatus(status_) : kExecCannotRun;
    out.error = trim(error_);
    out.timedOut = timedOut_;
    return out;
  }

 private:
  // The deadline passed: the command and everything in its process group go (the group may not
  // exist yet if the child has not got that far: the child itself is killed too).
  void killGroup() {
    ::kill(-child_, SIGKILL);
    ::kill(child_, SIGKILL);
    timedOut_ = true;
    deadline_ = 0;
  }

  void onSignals() {
    signalfd_siginfo si{};
    while (::read(sigFd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      int sig = static_cast<int>(si.ssi_signo);
      if (sig == SIGCHLD) {
        reap();
      } else if (sig == SIGWINCH) {
        winsize ws{};
        if (master_ && ::ioctl(0, TIOCGWINSZ, &ws) == 0) ::ioctl(master_.get(), TIOCSWINSZ, &ws);
      } else if (!reaped_) {
        forward(sig, si.ssi_code);
      }
    }
  }

  // Without a pty the command shares boxctl's process group, so what the terminal sent
  // (SI_KERNEL) reached it already. With a pty it goes to the pty's foreground process group.
  void forward(int sig, int32_t code) {
    if (master_ && ::ioctl(master_.get(), TIOCSIG, sig) == 0) return;
    if (!master_ && code == SI_KERNEL) return;
    ::kill(child_, sig);
  }

  void reap() {
    if (reaped_) return;
    int st = 0;
    pid_t w;
    do w = ::waitpid(child_, &st, WNOHANG);
    while (w < 0 && errno == EINTR);
    if (w == child_) {
      reaped_ = true;
      status_ = st;
    }
  }

  void onErrorPipe() {
    char buf[1024];
    ssize_t n = ::read(err_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      err_.reset();
      return;
    }
    if (error_.size() < 4096) error_.append(buf, static_cast<size_t>(n));
  }

  void onPty(short revents) {
    if ((revents & POLLOUT) != 0 && !toPty_.empty()) {
      ssize_t n = ::write(master_.get(), toPty_.data(), toPty_.size());
      if (n > 0) toPty_.erase(0, static_cast<size_t>(n));
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
    char buf[16384];
    ssize_t n = ::read(master_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {  // EIO: every slave fd is closed
      master_.reset();
      return;
    }
    if (stdoutOk_) stdoutOk_ = writeAll(1, buf, static_cast<size_t>(n));
  }

  void onStdin() {
    char buf[4096];
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      readStdin_ = false;
      return;
    }
    toPty_.append(buf, static_cast<size_t>(n));
  }

  int64_t deadline_;
  bool timedOut_ = false;
  pid_t child_;
  int sigFd_;
  Fd err_, master_;
  bool readStdin_;
  bool reaped_ = false, stdoutOk_ = true;
  int status_ = 0;
  std::string error_, toPty_;
};

Status makePipes(Fd& errRead, Fd& errWrite, Fd& sockParent, Fd& sockChild, bool tty) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return sysError("pipe", "");
  errRead.reset(p[0]);
  errWrite.reset(p[1]);
  if (!tty) return {};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0)
    return sysError("socketpair", "");
  sockParent.reset(p[0]);
  sockChild.reset(p[1]);
  return {};
}

ExecOutcome failure(const Error& e, int code = kExecCannotRun) { return {code, e.message}; }

}  // namespace

ExecOutcome runExec(const ExecOptions& opts, const ExecTarget& target) {
  if (opts.argv.empty()) return failure(makeError("no command given"));
  if (opts.tty && ::isatty(0) == 0) return failure(makeError("exec -t needs a terminal"), 1);
  auto opened = openTarget(target);
  if (!opened.ok()) return failure(opened.error());

  ChildArgs args;
  args.opened = &*opened;
  args.cgroupProcs = &target.cgroupProcs;
  args.security = &target.security;
  args.env = mergeEnv(opened->env, opts.env);
  for (const auto& s : opts.argv) args.argv.push_back(const_cast<char*>(s.c_str()));
  args.argv.push_back(nullptr);
  for (auto& s : args.env) args.envp.push_back(s.data());
  args.envp.push_back(nullptr);
  args.tty = opts.tty;
  args.ownGroup = opts.timeoutMs > 0;
  Fd devNull;
  if (!opts.stdin && !opts.tty) {
    devNull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devNull) return failure(sysError("open", "/dev/null"));
    args.nullFd = devNull.get();
  }
  Fd errRead, errWrite, sockParent, sockChild;
  if (Status st = makePipes(errRead, errWrite, sockParent, sockChild, opts.tty); !st.ok())
    return failure(st.error());
  args.errWrite = errWrite.get();
  args.ptySock = sockChild.get();

  SignalGuard signals;  // before reading the window size: a resize from now on is not lost
  if (Status st = signals.start(); !st.ok()) return failure(st.error());
  if (opts.tty) ::ioctl(0, TIOCGWINSZ, &args.ws);
  RawTerminal terminal;
  if (opts.tty && opts.stdin) {
    if (Status st = terminal.enable(0); !st.ok()) return failure(st.error());
  }
  // Not dumpable until execve: from the fork on, the child is visible in the container's pid
  // namespace while it still holds host state (the host's mount namespace until setns), and a
  // non-dumpable process cannot be ptraced or have its /proc files opened by the container's
  // processes once they lack CAP_SYS_PTRACE. execve makes the command dumpable again.
  if (::prctl(PR_SET_DUMPABLE, 0) != 0) return failure(sysError("prctl PR_SET_DUMPABLE", ""));
  if (::setns(opened->ns[kPidNs].get(), CLONE_NEWPID) != 0)
    return failure(sysError("setns pid", procPath(target.pid, "ns/pid")));
  pid_t child = ::fork();
  if (child < 0) {
    if (errno == ENOMEM) return failure(gone(target));  // the pid namespace has lost its init
    return failure(sysError("fork", ""));
  }
  if (child == 0) childMain(args);
  errWrite.reset();
  sockChild.reset();
  Fd master;
  if (opts.tty) {
    auto m = receiveFd(sockParent.get());
    if (!m.ok()) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
      }
      return failure(m.error());
    }
    master = std::move(*m);
    if (master) ::fcntl(master.get(), F_SETFL, O_NONBLOCK);
  }
  Supervisor supervisor(child, signals.fd(), std::move(errRead), std::move(master), opts.stdin,
                        opts.timeoutMs);
  return supervisor.run();
}

}  // namespace boxd::agent
