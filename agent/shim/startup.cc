#include "agent/shim/startup.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/util.h"

namespace boxd::shim {
namespace {

std::string dirName(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status joinCgroups(const std::vector<std::string>& procsFiles) {
  for (const auto& f : procsFiles) {
    Status st = writeFile(f, std::to_string(::getpid()));
    if (!st.ok()) return st.error().wrap("join cgroup");
  }
  return {};
}

Status bringLoopbackUp() {
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s) return sysError("socket", "AF_INET");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) != 0) return sysError("get flags of", "lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) != 0) return sysError("bring up", "lo");
  return {};
}

Status enterNamespaces(const Options& o) {
  if (o.netns == "host") {
    // hostNetwork: the host's network and hostname, as kubelet gives such pods.
    if (::unshare(CLONE_NEWIPC) != 0) return sysError("unshare", "ipc");
    return {};
  }
  if (o.netns.empty()) {
    if (::unshare(CLONE_NEWNET) != 0) return sysError("unshare", "net");
  } else {
    Fd ns(::open(o.netns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return sysError("open network namespace", o.netns);
    if (::setns(ns.get(), CLONE_NEWNET) != 0) return sysError("join network namespace", o.netns);
  }
  if (::unshare(CLONE_NEWIPC | CLONE_NEWUTS) != 0) return sysError("unshare", "ipc,uts");
  if (::sethostname(o.hostname.data(), o.hostname.size()) != 0)
    return sysError("sethostname", o.hostname);
  return bringLoopbackUp();
}

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return makeError("socket path too long or empty: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// A socket file nobody listens on is left over from a dead shim; a live one is never stolen.
Status removeStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status() : sysError("stat", path);
  if (!S_ISSOCK(st.st_mode)) return makeError(path + " exists and is not a socket", EEXIST);
  Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return sysError("socket", path);
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
    return makeError(path + " is in use by a running shim", EADDRINUSE);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("remove stale socket", path);
  return {};
}

Result<Fd> listenOn(const std::string& path, ino_t* inode) {
  auto addr = unixAddress(path);
  if (!addr.ok()) return addr.error();
  BOXD_TRY(mkdirAll(dirName(path), 0755));
  BOXD_TRY(removeStaleSocket(path, *addr));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sysError("socket", path);
  mode_t old = ::umask(0177);  // the socket file is created 0600
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  int err = errno;
  ::umask(old);
  if (rc != 0) return sysError("bind", path, err);
  if (::listen(fd.get(), 64) != 0) return sysError("listen", path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sysError("stat", path);
  *inode = st.st_ino;
  return fd;
}

Result<Fd> openOwnLog(const std::string& path) {
  if (path.empty()) {
    Fd fd(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    if (!fd) return sysError("open", "/dev/null");
    return fd;
  }
  BOXD_TRY(mkdirAll(dirName(path), 0755));
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW,
               0640));
  if (!fd) return sysError("open log", path);
  return fd;
}

// Reads the child's verdict: "ok\n" or an error line; EOF without one means it died.
std::string readVerdict(int fd) {
  std::string out;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.find('\n') != std::string::npos || out.size() > 4096) break;
  }
  return trim(out);
}

}  // namespace

Result<Options> parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return makeError("missing value for " + flag);
    std::string v = argv[++i];
    if (flag == "--pod-name")
      o.podName = v;
    else if (flag == "--pod-uid")
      o.podUid = v;
    else if (flag == "--socket")
      o.socketPath = v;
    else if (flag == "--pid-file")
      o.pidFile = v;
    else if (flag == "--log-file")
      o.logFile = v;
    else if (flag == "--hostname")
      o.hostname = v;
    else if (flag == "--netns")
      o.netns = v;
    else if (flag == "--cgroup-procs")
      o.cgroupProcs.push_back(v);
    else if (flag == "--term-grace")
      o.termGraceSeconds = std::atoi(v.c_str());
    else
      return makeError("unknown flag " + flag);
  }
  if (o.socketPath.empty() || o.pidFile.empty())
    return makeError("--socket and --pid-file are required");
  if (o.hostname.empty()) o.hostname = o.podName.empty() ? "pod" : o.podName;
  return o;
}

Result<Sandbox> prepareSandbox(const Options& o) {
  Sandbox sb;
  auto log = openOwnLog(o.logFile);
  if (!log.ok()) return log.error();
  sb.log = std::move(*log);
  BOXD_TRY(joinCgroups(o.cgroupProcs));
  BOXD_TRY(enterNamespaces(o));
  auto listen = listenOn(o.socketPath, &sb.socketInode);
  if (!listen.ok()) return listen.error();
  sb.listen = std::move(*listen);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  if (::setsid() < 0) return sysError("setsid", "");
  return sb;
}

int detach(Fd* ready) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "pipe: %s\n", std::strerror(errno));
    return 1;
  }
  Fd readEnd(fds[0]), writeEnd(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    *ready = std::move(writeEnd);
    return -1;
  }
  writeEnd.reset();
  std::string verdict = readVerdict(readEnd.get());
  if (verdict == "ok") return 0;
  if (verdict.empty()) verdict = "shim exited during start-up";
  std::fprintf(stderr, "%s\n", verdict.c_str());
  return 1;
}

Status reportReady(Fd& ready, const std::string& errorOrEmpty) {
  std::string line = (errorOrEmpty.empty() ? std::string("ok") : errorOrEmpty) + "\n";
  ssize_t n = ::write(ready.get(), line.data(), line.size());
  int err = errno;
  ready.reset();
  if (n != static_cast<ssize_t>(line.size())) return sysError("report ready", "", err);
  return {};
}

void removeRuntimeFiles(const Options& o, ino_t socketInode) {
  struct stat st {};
  if (::lstat(o.socketPath.c_str(), &st) == 0 && st.st_ino == socketInode)
    ::unlink(o.socketPath.c_str());
  auto pid = readFile(o.pidFile);
  if (pid.ok() && trim(*pid) == std::to_string(::getpid())) ::unlink(o.pidFile.c_str());
}

}  // namespace boxd::shim
