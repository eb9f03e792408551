// boxd-blockd: serves an iSCSI target's LUNs or an RBD image as files on a FUSE mount, for a
// loop device (protocol.h has the contract with boxd).
//
//   read config (fd) → log file → checks (mountpoint free, lock it) → mlockall, IO_FLUSHER →
//   connect the backend (bounded) → mount → pid file → ready line → serve until unmounted
//   → Backend::close (bounded) → exit
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "blockd/backends.h"
#include "blockd/fuse_server.h"
#include "blockd/protocol.h"
#include "common/fd.h"
#include "common/util.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

namespace boxd::blockd {
namespace {

constexpr int64_t kConfigReadMs = 10000;
constexpr int64_t kDeadlineMarginMs = 2000;

const char kUsage[] =
    "usage: boxd-blockd --config-fd N --ready-fd M\n"
    "  Serves an iSCSI target's LUNs or an RBD image as files in a FUSE directory.\n"
    "  --config-fd N   read the JSON config (blockd/protocol.h) from fd N until EOF\n"
    "  --ready-fd M    write one line to fd M: {\"ok\":true,\"pid\":P} once the files are\n"
    "                  served, or {\"ok\":false,\"error\":\"...\"} (then exit 1)\n"
    "  --max-background K  the FUSE connection's max_background (default max(threads, 12))\n"
    "  --session DIR   only names the session directory (so `ps` shows what a helper serves)\n"
    "  Stop: umount the mountpoint (or SIGTERM while no loop device uses it).\n";

struct Args {
  int configFd = -1, readyFd = -1;
  unsigned maxBackground = 0;
};

bool parseInt(const char* s, int& out) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < 0 || v > INT_MAX) return false;
  out = static_cast<int>(v);
  return true;
}

Result<Args> parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--session" && i + 1 < argc) {
      ++i;
      continue;
    }
    int* target = arg == "--config-fd" ? &a.configFd : arg == "--ready-fd" ? &a.readyFd : nullptr;
    int bg = 0;
    if (arg == "--max-background") target = &bg;
    if (target == nullptr) return makeError("unknown argument " + arg, EINVAL);
    if (i + 1 >= argc || !parseInt(argv[++i], *target)) {
      return makeError(arg + " needs a number", EINVAL);
    }
    if (arg == "--max-background") a.maxBackground = static_cast<unsigned>(bg);
  }
  if (a.configFd < 0 || a.readyFd < 0) return makeError("--config-fd and --ready-fd are required");
  return a;
}

// Reads fd to EOF, for at most kConfigReadMs.
Result<std::string> readConfigText(int fd) {
  std::string out;
  int64_t deadline = monotonicMs() + kConfigReadMs;
  for (;;) {
    int64_t left = deadline - monotonicMs();
    pollfd p{fd, POLLIN, 0};
    int rc = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return sysError("poll", "config fd");
    if (rc == 0)
      return makeError("config fd: no EOF within " + std::to_string(kConfigReadMs) + " ms");
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("read", "config fd");
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) return makeError("config fd: more than 1 MiB");
  }
}

void writeReady(int fd, const nlohmann::json& j) {
  std::string line = j.dump() + "\n";
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    spdlog::warn("ready fd: write failed: {}", std::strerror(errno));
  }
  ::close(fd);
}

[[noreturn]] void failStart(int readyFd, const std::string& error) {
  spdlog::error("start failed: {}", error);
  spdlog::default_logger()->flush();
  writeReady(readyFd, {{"ok", false}, {"error", error}});
  _exit(1);
}

// stderr (and so the log of librados and libfuse too) goes to the log file; stdin and stdout
// to /dev/null. Logs never go to the volume being served.
Status setupLogging(const Config& c) {
  Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (devnull) {
    ::dup2(devnull.get(), 0);
    ::dup2(devnull.get(), 1);
  }
  if (!c.logFile.empty()) {
    Fd log(::open(c.logFile.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!log) return sysError("open log file", c.logFile);
    ::dup2(log.get(), 2);
  }
  auto logger = spdlog::stderr_logger_mt("blockd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %L [%t] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return okStatus();
}

bool under(const std::string& path, const std::string& dir) {
  return path == dir || startsWith(path, dir + "/");
}

// The mountpoint must be a canonical directory; no file of ours may live below it. Returns the
// mountpoint's directory fd, flock'ed: a second helper on the same path fails here.
Result<Fd> checkMountpoint(const Config& c) {
  char real[PATH_MAX];
  if (::realpath(c.mountpoint.c_str(), real) == nullptr) return sysError("resolve", c.mountpoint);
  if (c.mountpoint != real) {
    return makeError("mountpoint " + c.mountpoint + " is not canonical (resolves to " + real + ")",
                     EINVAL);
  }
  for (const std::string& f : {c.logFile, c.pidFile}) {
    if (!f.empty() && under(f, c.mountpoint)) {
      return makeError(f + " is inside the mountpoint " + c.mountpoint, EINVAL);
    }
  }
  Fd dir(::open(c.mountpoint.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sysError("open mountpoint", c.mountpoint);
  if (::flock(dir.get(), LOCK_EX | LOCK_NB) != 0) {
    return makeError("mountpoint " + c.mountpoint + " is locked by another boxd-blockd", EBUSY);
  }
  return dir;
}

bool hasCapability(int cap) {
  auto status = readFile("/proc/self/status");
  if (!status) return false;
  for (const std::string& line : split(*status, '\n')) {
    if (!startsWith(line, "CapEff:")) continue;
    uint64_t mask = std::strtoull(trim(line.substr(7)).c_str(), nullptr, 16);
    return (mask >> cap) & 1;
  }
  return false;
}

// Keeps the data path out of memory reclaim as far as this process is allowed to.
void harden() {
  // MCL_ONFAULT: pages are locked once touched, so thread stacks are not populated whole.
  rlimit ml{};
  bool unlimited = ::getrlimit(RLIMIT_MEMLOCK, &ml) == 0 && ml.rlim_cur == RLIM_INFINITY;
  if (hasCapability(14 /* CAP_IPC_LOCK */) || unlimited) {
    if (::mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
      spdlog::warn("mlockall: {}, ignoring", std::strerror(errno));
    }
  } else {
    spdlog::info("mlockall: not permitted (no CAP_IPC_LOCK), skipped");
  }
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0) {
    spdlog::info("PR_SET_IO_FLUSHER: {} (needs CAP_SYS_RESOURCE), ignoring", std::strerror(errno));
  }
  rlimit nf{};
  if (::getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur < nf.rlim_max) {
    nf.rlim_cur = nf.rlim_max;  // up to the inherited hard limit, never above
    (void)::setrlimit(RLIMIT_NOFILE, &nf);
  }
}

// Backend::connect, bounded: a peer that never answers ends the start-up, not the caller.
Status connectBounded(Backend& backend, int64_t timeoutMs) {
  auto task =
      std::make_shared<std::packaged_task<Status()>>([&backend] { return backend.connect(); });
  auto result = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (result.wait_for(std::chrono::milliseconds(timeoutMs + kDeadlineMarginMs)) !=
      std::future_status::ready) {
    return makeError("connect did not finish within " + std::to_string(timeoutMs) + " ms",
                     ETIMEDOUT);
  }
  return result.get();
}

// Backend::close, bounded: past the limit the process exits anyway (the kernel side is gone).
void closeBounded(Backend& backend, int64_t timeoutMs) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  std::thread([&backend, done] {
    backend.close();
    done->set_value();
  }).detach();
  if (f.wait_for(std::chrono::milliseconds(timeoutMs)) != std::future_status::ready) {
    // The close thread still uses the backend: leave now rather than destroy it under it.
    spdlog::error("backend close did not finish within {} ms; exiting without it", timeoutMs);
    spdlog::default_logger()->flush();
    _exit(1);
  }
}

// SIGTERM/SIGINT: unmount our own mount (not lazily). While a loop device or an open file uses
// it the umount fails with EBUSY and the helper keeps serving: stopping then would turn the
// volume into EIO under a mounted filesystem. The server is reached through a guarded pointer
// that serve() clears before the server goes away.
struct SignalTarget {
  std::mutex mu;
  FuseServer* server = nullptr;
};

void signalThread(SignalTarget& target, sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::lock_guard lock(target.mu);
    if (target.server == nullptr) continue;
    spdlog::info("signal {}: unmounting", strsignal(sig));
    Status st = target.server->unmount();
    if (!st) spdlog::warn("signal {}: {}; still serving", strsignal(sig), st.error().message);
  }
}

int serve(const Args& args, const Config& config) {
  auto dir = checkMountpoint(config);
  if (!dir) failStart(args.readyFd, dir.error().message);
  harden();

  auto backend = makeBackend(config);
  if (!backend) failStart(args.readyFd, backend.error().message);
  Status st = connectBounded(**backend, config.connectTimeoutMs);
  if (!st) failStart(args.readyFd, st.error().message);

  FuseServerOptions fo;
  fo.mountpoint = config.mountpoint;
  fo.threads = config.threads;
  fo.maxBackground = args.maxBackground;
  fo.ioTimeoutMs = config.ioTimeoutMs;
  // After a watchdog abort the kernel side is gone; a worker stuck in the backend for good must
  // not keep the process alive.
  int64_t grace = 2 * config.ioTimeoutMs + kDeadlineMarginMs;
  fo.onAbort = [grace] {
    std::thread([grace] {
      std::this_thread::sleep_for(std::chrono::milliseconds(grace));
      spdlog::error("still running {} ms after the FUSE abort; exiting", grace);
      spdlog::default_logger()->flush();
      _exit(1);
    }).detach();
  };
  FuseServer server(**backend, fo);
  st = server.mount();
  if (!st) {
    closeBounded(**backend, config.ioTimeoutMs);
    failStart(args.readyFd, st.error().message);
  }
  if (!config.pidFile.empty()) {
    Status p = writeFileAtomic(config.pidFile, std::to_string(getpid()) + "\n", 0644,
                               Durability::ProcessLifetime);
    if (!p) spdlog::warn("pid file: {}", p.error().message);
  }
  writeReady(args.readyFd, {{"ok", true}, {"pid", getpid()}});
  spdlog::info("ready: serving {} on {}", config.backend, config.mountpoint);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  static SignalTarget target;  // outlives the detached signal thread
  {
    std::lock_guard lock(target.mu);
    target.server = &server;
  }
  std::thread(signalThread, std::ref(target), set).detach();

  st = server.run();
  {
    std::lock_guard lock(target.mu);
    target.server = nullptr;
  }
  if (!st) spdlog::error("{}", st.error().message);
  closeBounded(**backend, 2 * config.ioTimeoutMs + kDeadlineMarginMs);
  if (!config.pidFile.empty()) ::unlink(config.pidFile.c_str());
  bool clean = st.ok() && !server.aborted();
  spdlog::info("exit {}", clean ? 0 : 1);
  spdlog::default_logger()->flush();
  return clean ? 0 : 1;
}

int run(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto args = parseArgs(argc, argv);
  if (!args) {
    std::fprintf(stderr, "boxd-blockd: %s\n%s", args.error().message.c_str(), kUsage);
    return 2;
  }
  // Signals are taken by one thread (sigwait); every thread started later inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::fcntl(args->readyFd, F_SETFD, FD_CLOEXEC);

  auto text = readConfigText(args->configFd);
  ::close(args->configFd);
  std::optional<Config> config;
  std::string error;
  if (!text) {
    error = text.error().message;
  } else {
    auto j = nlohmann::json::parse(*text, nullptr, false);
    auto c = j.is_discarded() ? Result<Config>(makeError("blockd config: not valid JSON", EINVAL))
                              : configFromJson(j);
    if (c) {
      config = std::move(*c);
    } else {
      error = c.error().message;
    }
  }
  if (config) {
    Status st = setupLogging(*config);
    if (!st) error = st.error().message;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "boxd-blockd: %s\n", error.c_str());
    writeReady(args->readyFd, {{"ok", false}, {"error", error}});
    return 1;
  }
  spdlog::info("boxd-blockd pid {}: backend {}, mountpoint {}", getpid(), config->backend,
               config->mountpoint);
  return serve(*args, *config);
}

}  // namespace
}  // namespace boxd::blockd

int main(int argc, char** argv) {
  // Two malloc arenas instead of one per thread (8 per core). Each FUSE worker allocates the
  // 1 MiB receive buffers that writes take away; with an arena per worker, every arena kept
  // its own freed buffers and the helper grew to 100-190 MB resident under a write load.
  // With two it stays near 40 MB, with no page faults per request and the same throughput
  // (docs/storage.md, "The helper's memory").
  mallopt(M_ARENA_MAX, 2);
  int code = boxd::blockd::run(argc, argv);
  // Detached threads (signals, a backend stuck past its deadline) must not run static
  // destructors concurrently with us: leave without them.
  std::fflush(nullptr);
  _exit(code);
}
