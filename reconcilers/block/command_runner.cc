// RealCommandRunner: one bounded child process per call.
//
//   resolve argv[0] in the fixed PATH ──▶ pipes (O_CLOEXEC, fds >= 3), stdin pre-filled + closed
//   posix_spawn: own process group, default signals, empty mask, fds 0-2 only, clean environment
//   loop: poll(stdout, stderr, pidfd) until the child exits or the deadline passes
//         deadline ─▶ SIGKILL the group, reap (bounded), timedOut = true
//   drain what is left in the pipes (bounded), exit code = status or 128 + signal
#include "reconcilers/block/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <thread>

#include "common/fd.h"
#include "common/spawn_setup.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

constexpr size_t kOutputCap = 64 * 1024;
constexpr size_t kMaxInput = 1024 * 1024;
constexpr size_t kMaxDrain = 1024 * 1024;  // bytes read per stream after the child is gone
constexpr int64_t kReapGraceMs = 2000;
constexpr int64_t kTickMs = 20;  // poll period when pidfd_open is unavailable
constexpr const char* kPath = "/usr/sbin:/usr/bin:/sbin:/bin";

Result<std::string> resolveProgram(const std::string& name) {
  if (name.empty()) return makeError("run: empty argv[0]", EINVAL);
  if (name.find('/') != std::string::npos) return name;
  for (const auto& dir : split(kPath, ':')) {
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0)
      return path;
  }
  return makeError("run " + name + ": not found in " + kPath, ENOENT);
}

// Moves fd to a number >= 3, so dup2 onto 0-2 in the child never meets itself.
Result<Fd> aboveStdio(Fd fd) {
  if (fd.get() >= 3) return fd;
  Fd moved(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  if (!moved) return sysError("fcntl F_DUPFD_CLOEXEC", "pipe");
  return moved;
}

struct Pipe {
  Fd read, write;
};

Result<Pipe> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysError("pipe2", "");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  auto r = aboveStdio(std::move(p.read));
  if (!r.ok()) return r.error();
  auto w = aboveStdio(std::move(p.write));
  if (!w.ok()) return w.error();
  return Pipe{std::move(*r), std::move(*w)};
}

// The child's stdin: a pipe holding all of `input`, its write end closed (EOF after the input).
// Filling it before the spawn means no write can ever meet a closed reader (no SIGPIPE).
Result<Fd> inputPipe(const std::string& input) {
  if (input.size() > kMaxInput)
    return makeError("run: input of " + std::to_string(input.size()) + " bytes exceeds 1 MiB",
                     E2BIG);
  auto p = makePipe();
  if (!p.ok()) return p.error();
  if (input.size() > 65536 &&
      ::fcntl(p->write.get(), F_SETPIPE_SZ, static_cast<int>(input.size())) < 0)
    return sysError("fcntl F_SETPIPE_SZ", "stdin pipe");
  if (::fcntl(p->write.get(), F_SETFL, O_NONBLOCK) != 0) return sysError("fcntl", "stdin pipe");
  size_t off = 0;
  while (off < input.size()) {
    ssize_t n = ::write(p->write.get(), input.data() + off, input.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("write", "stdin pipe");
    off += static_cast<size_t>(n);
  }
  return std::move(p->read);
}

Status prepare(SpawnSetup& s, int in, int out, int err) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  int rc = posix_spawnattr_setsigmask(&s.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&s.attr, &all);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&s.attr, 0);
  if (rc == 0)
    rc = posix_spawnattr_setflags(
        &s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, in, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, out, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, err, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  // Also closes fds that some library opened without O_CLOEXEC.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&s.actions, 3);
#endif
  if (rc != 0) return sysError("prepare spawn", "", rc);
  return {};
}

// One captured stream: the parent's read end and what was kept of it.
struct Stream {
  Fd fd;
  std::string* text;
  bool eof = false;
};

// Reads what is available (non-blocking) up to `budget` bytes; keeps the first 64 KiB.
void readAvailable(Stream& s, size_t budget) {
  char buf[16384];
  size_t total = 0;
  while (!s.eof && total < budget) {
    ssize_t n = ::read(s.fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more for now
    if (n == 0) {
      s.eof = true;
      return;
    }
    total += static_cast<size_t>(n);
    size_t room = kOutputCap - std::min(kOutputCap, s.text->size());
    s.text->append(buf, std::min(room, static_cast<size_t>(n)));
  }
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Kills the child's process group (and the child, should it have left the group), then reaps it
// within a grace period; a child stuck in D state is left to a detached reaper thread.
int killAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  int64_t until = monotonicMs() + kReapGraceMs;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return 128 + SIGKILL;
    if (monotonicMs() >= until) break;
    ::usleep(5000);
  }
  try {
    std::thread([pid] {
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }).detach();
  } catch (...) {  // no thread to spare: the child stays a zombie until boxd exits
  }
  return 128 + SIGKILL;
}

// Waits for the child to exit while reading its output. Returns its wait status, or nullopt
// at the deadline (the child still running).
std::optional<int> superviseChild(pid_t pid, Stream& out, Stream& err, int64_t deadline) {
#ifdef SYS_pidfd_open
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
#else
  Fd pidfd;
#endif
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    int64_t remaining = deadline - monotonicMs();
    if (remaining <= 0) return std::nullopt;
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    for (Stream* s : {&out, &err})
      if (!s->eof) fds[n++] = pollfd{s->fd.get(), POLLIN, 0};
    if (pidfd) fds[n++] = pollfd{pidfd.get(), POLLIN, 0};
    int64_t wait = pidfd ? remaining : std::min(remaining, kTickMs);
    if (::poll(fds.data(), n, static_cast<int>(std::min<int64_t>(wait, 60000))) < 0 &&
        errno != EINTR)
      ::usleep(1000);  // poll cannot fail on valid fds; never spin if it does
    readAvailable(out, kOutputCap);
    readAvailable(err, kOutputCap);
  }
}

}  // namespace

Result<CommandResult> RealCommandRunner::run(const std::vector<std::string>& argv,
                                             int64_t timeoutMs, const std::string& input) {
  if (argv.empty()) return makeError("run: empty command line", EINVAL);
  if (timeoutMs <= 0) return makeError("run " + argv[0] + ": timeout must be positive", EINVAL);
  auto program = resolveProgram(argv[0]);
  if (!program.ok()) return program.error();
  auto in = inputPipe(input);
  if (!in.ok()) return in.error().wrap("run " + argv[0]);
  auto outPipe = makePipe();
  if (!outPipe.ok()) return outPipe.error().wrap("run " + argv[0]);
  auto errPipe = makePipe();
  if (!errPipe.ok()) return errPipe.error().wrap("run " + argv[0]);

  SpawnSetup setup;
  BOXD_TRY(prepare(setup, in->get(), outPipe->write.get(), errPipe->write.get()));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string envPath = std::string("PATH=") + kPath, envLang = "LC_ALL=C";
  std::array<char*, 3> env{envPath.data(), envLang.data(), nullptr};

  int64_t deadline = monotonicMs() + timeoutMs;
  pid_t pid = -1;
  int rc =
      ::posix_spawn(&pid, program->c_str(), &setup.actions, &setup.attr, args.data(), env.data());
  in->reset();
  outPipe->write.reset();
  errPipe->write.reset();
  if (rc != 0) return sysError("spawn", *program, rc);

  CommandResult result;
  Stream out{std::move(outPipe->read), &result.out};
  Stream err{std::move(errPipe->read), &result.err};
  for (Stream* s : {&out, &err}) ::fcntl(s->fd.get(), F_SETFL, O_NONBLOCK);
  auto status = superviseChild(pid, out, err, deadline);
  if (status) {
    result.exitCode = exitCodeOf(*status);
  } else {
    result.timedOut = true;
    result.exitCode = killAndReap(pid);
  }
  readAvailable(out, kMaxDrain);
  readAvailable(err, kMaxDrain);
  return result;
}

static std::string firstLine(const std::string& text) {
  std::string t = trim(text);
  auto nl = t.find('\n');
  return trim(nl == std::string::npos ? t : t.substr(0, nl));
}

std::string describeFailure(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (r.timedOut) return cmd + ": timed out (killed)";
  std::string msg = cmd + ": exit " + std::to_string(r.exitCode);
  std::string line = firstLine(r.err);
  if (line.empty()) line = firstLine(r.out);
  if (!line.empty()) msg += ": " + line;
  return msg;
}

}  // namespace boxd::reconcilers
