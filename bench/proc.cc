#include "bench/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/fd.h"
#include "common/util.h"

extern char** environ;

namespace boxd::bench {

namespace {

std::atomic<bool> g_interrupted{false};

void onSignal(int) { g_interrupted.store(true); }

// The environment for a child: ours, with `extra` replacing or adding keys.
std::vector<std::string> childEnv(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string key = kv.substr(0, kv.find('='));
    if (extra.count(key) == 0) out.push_back(kv);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> cStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn attributes shared by every child: own process group, default signal dispositions.
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() {
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

// Reads what is there now; true at end of file.
bool drain(int fd, std::string& out) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n == 0;
  }
}

void killGroup(pid_t pid) {
  ::kill(-pid, SIGKILL);  // the group this child leads (it was spawned with its own pgid)
  ::kill(pid, SIGKILL);
}

}  // namespace

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

bool interrupted() { return g_interrupted.load(); }

void throwIfInterrupted() {
  if (interrupted()) throw BenchError("interrupted");
}

CmdResult runCmd(const std::vector<std::string>& argv, const CmdOptions& opt) {
  CmdResult r;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw BenchError("pipe: " + std::string(std::strerror(errno)));
  Fd rd(p[0]), wr(p[1]);
  ::fcntl(rd.get(), F_SETFL, O_NONBLOCK);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (opt.discardOutput) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  } else {
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  }
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  SpawnAttr attr;
  std::vector<std::string> env = childEnv(opt.env), args = argv;
  auto cenv = cStrings(env), cargv = cStrings(args);
  pid_t pid = -1;
  int64_t start = monotonicMs();
  int rc = posix_spawnp(&pid, cargv[0], &fa, &attr.attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  wr.reset();
  if (rc != 0) {
    r.out = "spawn " + argv[0] + ": " + std::strerror(rc);
    return r;
  }
  int64_t deadline = start + opt.timeoutMs;
  // A pidfd wakes us the moment the child exits (no polling bias in the timings); the pipe
  // may stay open after that if the child left daemons holding it (conmon), so it is not
  // the exit signal.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  bool pipeOpen = true;
  int status = 0;
  for (;;) {
    pollfd fds[2] = {{pipeOpen ? rd.get() : -1, POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    ::poll(fds, 2, pidfd ? 50 : 2);
    if (pipeOpen && drain(rd.get(), r.out)) pipeOpen = false;
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    bool stop = interrupted() && !opt.ignoreInterrupt;
    if (stop || monotonicMs() > deadline) {
      killGroup(pid);
      ::waitpid(pid, &status, 0);
      if (stop) throw BenchError("interrupted");
      r.ms = monotonicMs() - start;
      r.timedOut = true;
      drain(rd.get(), r.out);
      return r;
    }
  }
  r.ms = monotonicMs() - start;
  drain(rd.get(), r.out);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

pid_t spawnDaemon(const std::vector<std::string>& argv, const std::string& logPath) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  SpawnAttr attr;
  std::vector<std::string> env = childEnv({}), args = argv;
  auto cenv = cStrings(env), cargv = cStrings(args);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, cargv[0], &fa, &attr.attr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw BenchError("spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

bool childRunning(pid_t pid) {
  if (pid <= 0) return false;
  int status = 0;
  pid_t w = ::waitpid(pid, &status, WNOHANG);
  return w == 0;
}

void stopChild(pid_t pid, int graceMs) {
  if (!childRunning(pid)) return;
  ::kill(pid, SIGTERM);
  if (!waitQuietly([&] { return !childRunning(pid); }, graceMs)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

void waitUntil(const std::function<bool()>& cond, int timeoutMs, const std::string& what,
               int pollMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    throwIfInterrupted();
    if (cond()) return;
    if (monotonicMs() > deadline) {
      throw BenchError("timed out after " + std::to_string(timeoutMs / 1000) + " s waiting for " +
                       what);
    }
    ::usleep(static_cast<useconds_t>(pollMs) * 1000);
  }
}

bool waitQuietly(const std::function<bool()>& cond, int timeoutMs, int pollMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (monotonicMs() < deadline) {
    if (cond()) return true;
    ::usleep(static_cast<useconds_t>(pollMs) * 1000);
  }
  return cond();
}

void sleepMs(int ms) {
  int64_t end = monotonicMs() + ms;
  while (monotonicMs() < end) {
    throwIfInterrupted();
    ::usleep(10 * 1000);
  }
}

int64_t rssKb(pid_t pid) {
  auto s = readFile("/proc/" + std::to_string(pid) + "/status");
  if (!s.ok()) return -1;
  std::istringstream in(*s);
  std::string line;
  while (std::getline(in, line)) {
    if (startsWith(line, "VmRSS:")) return std::atoll(line.c_str() + 6);
  }
  return 0;  // a zombie or kernel thread has no VmRSS line
}

int64_t cpuTicks(pid_t pid) {
  auto s = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!s.ok()) return -1;
  // Fields after the parenthesised command (which may hold spaces): state is field 3.
  size_t close = s->rfind(')');
  if (close == std::string::npos) return -1;
  auto f = split(trim(s->substr(close + 2)), ' ');
  if (f.size() < 13) return -1;
  return std::atoll(f[11].c_str()) + std::atoll(f[12].c_str());  // utime (14), stime (15)
}

int64_t cpuNs(pid_t pid) {
  clockid_t clock;
  timespec ts{};
  if (::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::vector<pid_t> pidsWhoseCmdlineContains(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  pid_t self = ::getpid();
  while (struct dirent* e = ::readdir(proc)) {
    pid_t p = std::atoi(e->d_name);
    if (p <= 0 || p == self) continue;
    auto cmd = readFile("/proc/" + std::to_string(p) + "/cmdline");
    if (cmd.ok() && cmd->find(needle) != std::string::npos && processAlive(p)) out.push_back(p);
  }
  ::closedir(proc);
  return out;
}

bool ArgReader::next() {
  if (++i_ >= argc_) return false;
  arg_ = argv_[i_];
  return true;
}

std::string ArgReader::value() {
  if (i_ + 1 >= argc_) throw BenchError(arg_ + " needs a value");
  return argv_[++i_];
}

int ArgReader::positive() {
  int v = std::atoi(value().c_str());
  if (v < 1) throw BenchError(arg_ + " needs a positive number");
  return v;
}

std::string selfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string p(buf, n > 0 ? static_cast<size_t>(n) : 0);
  return p.substr(0, p.find_last_of('/'));
}

bool commandExists(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<std::string> listDirNames(const std::string& dir, bool dirsOnly) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    if (dirsOnly && e->d_type != DT_DIR) continue;
    out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentileNearestRank(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace boxd::bench
