#include "reconcilers/sandbox/shim_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/spawn_setup.h"
#include "common/util.h"

namespace boxd::reconcilers {
namespace {

std::vector<std::string> shimArgv(const ShimConfig& c) {
  std::vector<std::string> argv = {
      c.shimBinary, "--pod-name", c.podName,    "--pod-uid", c.podUid,     "--socket", c.socketPath,
      "--pid-file", c.pidFile,    "--log-file", c.logFile,   "--hostname", c.hostname};
  for (const auto& f : c.cgroupProcs) {
    argv.emplace_back("--cgroup-procs");
    argv.push_back(f);
  }
  if (!c.netns.empty()) {
    argv.emplace_back("--netns");
    argv.push_back(c.netns);
  }
  return argv;
}

// stdin/stdout /dev/null, stderr the pipe; no inherited signal mask or ignored signals.
Status prepareSpawn(SpawnSetup& s, int stderrFd) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  int rc = posix_spawnattr_setsigmask(&s.attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&s.attr, &all);
  if (rc == 0)
    rc = posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_addopen(&s.actions, 1, "/dev/null", O_WRONLY, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&s.actions, stderrFd, 2);
  if (rc != 0) return sysError("prepare spawn", "", rc);
  return {};
}

// Collects the intermediate's stderr until EOF (it and the detached shim closed it) or deadline.
std::string readUntilEof(int fd, int64_t deadline) {
  std::string out;
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0) return out;
    pollfd pfd{fd, POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    if (out.size() < 8192) out.append(buf, static_cast<size_t>(n));
  }
}

// Waits for the one child we spawned; kills it at the deadline. Returns its wait status.
Result<int> waitWithDeadline(pid_t pid, int64_t deadline, int timeoutMs) {
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return sysError("waitpid", std::to_string(pid));
    if (monotonicMs() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return makeError("shim did not become ready within " + std::to_string(timeoutMs) + " ms",
                       ETIMEDOUT);
    }
    ::usleep(2000);
  }
}

Result<ShimIdentity> readIdentity(const std::string& pidFile) {
  auto text = readFile(pidFile);
  if (!text.ok()) return text.error();
  std::string t = trim(*text);
  char* end = nullptr;
  long pid = std::strtol(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || pid <= 0)
    return makeError("malformed pid file " + pidFile + ": \"" + t + "\"");
  auto start = processStartTime(static_cast<pid_t>(pid));
  if (!start.ok()) return start.error().wrap("shim pid " + t + " from " + pidFile);
  return ShimIdentity{static_cast<pid_t>(pid), *start};
}

Result<ShimIdentity> spawnAndWait(const ShimConfig& config, int timeoutMs) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysError("pipe", "");
  Fd readEnd(fds[0]), writeEnd(fds[1]);
  SpawnSetup setup;
  BOXD_TRY(prepareSpawn(setup, writeEnd.get()));
  std::vector<std::string> args = shimArgv(config);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path, nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, config.shimBinary.c_str(), &setup.actions, &setup.attr, argv.data(),
                         envp);
  if (rc != 0) return sysError("spawn", config.shimBinary, rc);
  writeEnd.reset();
  int64_t deadline = monotonicMs() + timeoutMs;
  std::string stderrText = readUntilEof(readEnd.get(), deadline);
  auto status = waitWithDeadline(pid, deadline, timeoutMs);
  if (!status.ok()) return status.error();
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
    std::string msg = trim(stderrText);
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    if (msg.empty())
      msg = WIFSIGNALED(*status) ? "killed by signal " + std::to_string(WTERMSIG(*status))
                                 : "exited with status " + std::to_string(WEXITSTATUS(*status));
    return makeError(msg);
  }
  return readIdentity(config.pidFile);
}

}  // namespace

Result<ShimIdentity> launchShim(const ShimConfig& config, int timeoutMs) {
  std::string context = "start shim for pod " + config.podName;
  if (config.shimBinary.empty() || config.socketPath.empty() || config.pidFile.empty())
    return makeError(context + ": shim binary, socket and pid file are required", EINVAL);
  auto id = spawnAndWait(config, timeoutMs);
  if (!id.ok()) return id.error().wrap(context);
  return id;
}

}  // namespace boxd::reconcilers
