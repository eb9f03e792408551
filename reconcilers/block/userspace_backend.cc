#include "reconcilers/block/userspace_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <thread>

#include "blockd/mountinfo.h"
#include "blockd/protocol.h"
#include "common/fd.h"
#include "common/hash.h"
#include "common/util.h"
#include "reconcilers/block/loop_device.h"
#include "reconcilers/cgroup/cgroups.h"

namespace boxd::reconcilers {

namespace {

bool fuseMounted(const std::string& dir) {
  auto mounts = blockd::readMountInfo();
  if (!mounts.ok()) return false;
  auto m = blockd::mountAt(*mounts, dir);
  return m && blockd::isFuse(*m);
}

struct HelperId {
  pid_t pid = 0;
  uint64_t startTime = 0;
};

std::optional<HelperId> readHelperId(const std::string& dir) {
  auto text = readFile(dir + "/helper.json");
  if (!text.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return HelperId{j.value("pid", 0), j.value("startTime", uint64_t{0})};
}

// The helper is ours only if the pid still runs the process that was started then.
bool helperAlive(const HelperId& id) {
  if (id.pid <= 0 || !processAlive(id.pid)) return false;
  auto st = processStartTime(id.pid);
  return st.ok() && *st == id.startTime;
}

std::string lastLines(const std::string& path, size_t n) {
  auto text = readFile(path);
  if (!text.ok()) return "";
  auto lines = split(trim(*text), '\n');
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i)
    out += (out.empty() ? "" : " | ") + lines[i];
  return out;
}

Status writeAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("write", "helper config pipe");
    off += static_cast<size_t>(n);
  }
  return {};
}

Result<std::string> readLine(int fd, int64_t timeoutMs) {
  std::string out;
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0)
      return makeError("not ready within " + std::to_string(timeoutMs) + " ms", ETIMEDOUT);
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno != EINTR) return sysError("poll", "helper ready pipe");
    if (r <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;  // EOF: the helper exited (or closed it)
    out.append(buf, static_cast<size_t>(n));
    if (auto nl = out.find('\n'); nl != std::string::npos) return out.substr(0, nl);
    if (out.size() > 65536) return makeError("helper ready line too long");
  }
}

struct Spawned {
  pid_t pid = 0;
};

// fork → setsid, join the cgroup → fork → exec: the helper is nobody's child but init's, so
// boxd exiting never signals it. Only async-signal-safe calls between fork and exec.
Result<pid_t> spawnDetached(const std::vector<std::string>& args, int configFd, int readyFd,
                            const std::vector<std::string>& procsFiles) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path, nullptr};
  int pidPipe[2];
  if (::pipe2(pidPipe, O_CLOEXEC) != 0) return sysError("pipe", "");
  Fd pidRead(pidPipe[0]), pidWrite(pidPipe[1]);
  pid_t first = ::fork();
  if (first < 0) return sysError("fork", "boxd-blockd");
  if (first == 0) {
    ::setsid();
    for (const auto& f : procsFiles) {
      int fd = ::open(f.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        (void)!::write(fd, "0", 1);
        ::close(fd);
      }
    }
    pid_t second = ::fork();
    if (second == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      // fds 3 and 4 for the helper; move them out of the way first.
      int c = ::fcntl(configFd, F_DUPFD, 10), r = ::fcntl(readyFd, F_DUPFD, 10);
      ::dup2(c, 3);
      ::dup2(r, 4);
      ::syscall(SYS_close_range, 5U, ~0U, 0U);
      ::execve(argv[0], argv.data(), envp);
      ::_exit(127);
    }
    (void)!::write(pidWrite.get(), &second, sizeof second);
    ::_exit(second > 0 ? 0 : 1);
  }
  pidWrite.reset();
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  pid_t helper = 0;
  if (::read(pidRead.get(), &helper, sizeof helper) != sizeof helper || helper <= 0)
    return makeError("could not start " + args[0], ECHILD);
  return helper;
}

void killHelper(const HelperId& id) {
  if (helperAlive(id)) ::kill(id.pid, SIGKILL);
}

bool waitGone(const HelperId& id, int64_t timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (helperAlive(id)) {
    if (monotonicMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

UserspaceBackend::UserspaceBackend(UserspaceSettings settings, Cgroups& cgroups)
    : settings_(std::move(settings)), cgroups_(cgroups) {}

std::string UserspaceBackend::sessionDir(const BlockVolume& v) const {
  return settings_.blockDir + "/" + sessionName(v);
}

std::string UserspaceBackend::file(const BlockVolume& v) const {
  return fuseMount(v) + "/" +
         (startsWith(v.backend, "rbd") ? std::string(blockd::kRbdImageFile)
                                       : blockd::iscsiLunFile(v.lun));
}

blockd::Config UserspaceBackend::helperConfig(const BlockVolume& v,
                                              const BlockCredentials& creds) const {
  blockd::Config c;
  c.mountpoint = fuseMount(v);
  c.pidFile = sessionDir(v) + "/blockd.pid";
  c.logFile = sessionDir(v) + "/blockd.log";
  c.connectTimeoutMs = settings_.connectTimeoutMs;
  c.ioTimeoutMs = settings_.ioTimeoutMs;
  if (startsWith(v.backend, "rbd")) {
    c.backend = "rbd";
    blockd::RbdConfig r;
    r.monHost = monHost(v.monitors);
    r.user = v.user;
    r.key = creds.cephKey;
    r.pool = v.pool;
    r.image = v.image;
    r.readOnly = v.readOnly;
    r.exclusive = !v.readOnly;
    c.rbd = r;
  } else {
    c.backend = "iscsi";
    blockd::IscsiConfig i;
    i.portals = v.portals;
    i.iqn = v.iqn;
    i.initiatorName = v.initiatorName;
    if (v.chapSession) i.chap = creds.chap;
    if (v.chapDiscovery) {
      i.discovery = true;
      i.discoveryChap = creds.discoveryChap;
    }
    c.iscsi = i;
  }
  return c;
}

Result<bool> UserspaceBackend::sessionOpen(const BlockVolume& v) {
  auto id = readHelperId(sessionDir(v));
  return id && helperAlive(*id) && fuseMounted(fuseMount(v));
}

Status UserspaceBackend::openSession(const BlockVolume& v, const BlockCredentials& creds) {
  if (!startsWith(v.backend, "rbd") && !v.iscsiInterface.empty() && v.iscsiInterface != "default")
    return makeError("iscsiInterface \"" + v.iscsiInterface +
                         "\" needs the kernel initiator (open-iscsi ifaces); this host has none, "
                         "and boxd's userspace initiator only has \"default\"",
                     EINVAL);
  auto open = sessionOpen(v);
  if (open.ok() && *open) return {};
  // A dead helper leaves a stale mount (ENOTCONN) and maybe loops: clear them first.
  BOXD_TRY(closeSession(v));
  Status st = startHelper(v, creds);
  if (!st.ok()) {
    (void)closeSession(v);
    return st;
  }
  return {};
}

Status UserspaceBackend::startHelper(const BlockVolume& v, const BlockCredentials& creds) {
  std::string dir = sessionDir(v), name = sessionName(v);
  BOXD_TRY(mkdirAll(fuseMount(v), 0700));
  std::string cg = settings_.cgroupParent + "/blockd-" + name;
  BOXD_TRY(cgroups_.create(cg, {}));
  int cfgPipe[2], readyPipe[2];
  if (::pipe2(cfgPipe, O_CLOEXEC) != 0) return sysError("pipe", "");
  Fd cfgRead(cfgPipe[0]), cfgWrite(cfgPipe[1]);
  if (::pipe2(readyPipe, O_CLOEXEC) != 0) return sysError("pipe", "");
  Fd readyRead(readyPipe[0]), readyWrite(readyPipe[1]);
  // --session only names the helper's directory, so `ps` shows what each helper serves.
  auto pid = spawnDetached(
      {settings_.helperBinary, "--config-fd", "3", "--ready-fd", "4", "--session", dir},
      cfgRead.get(), readyWrite.get(), cgroups_.procsFiles(cg));
  if (!pid.ok()) return pid.error();
  cfgRead.reset();
  readyWrite.reset();
  HelperId id{*pid, 0};
  auto start = processStartTime(*pid);
  if (start.ok()) id.startTime = *start;
  nlohmann::json ident = {{"pid", id.pid},
                          {"startTime", id.startTime},
                          {"backend", v.backend},
                          {"serves", startsWith(v.backend, "rbd") ? v.pool + "/" + v.image : v.iqn},
                          {"sessionKey", v.sessionKey}};
  BOXD_TRY(writeFileAtomic(dir + "/helper.json", ident.dump() + "\n", 0600,
                           Durability::ProcessLifetime));
  std::string config = blockd::toJson(helperConfig(v, creds)).dump();
  Status wrote = writeAll(cfgWrite.get(), config);
  std::fill(config.begin(), config.end(), '\0');
  cfgWrite.reset();
  if (!wrote.ok()) {
    killHelper(id);
    return wrote;
  }
  auto line = readLine(readyRead.get(), settings_.connectTimeoutMs + 5000);
  std::string what =
      "boxd-blockd for " +
      std::string(startsWith(v.backend, "rbd") ? "image " + v.pool + "/" + v.image : v.iqn);
  if (!line.ok()) {
    killHelper(id);
    return line.error().wrap(what);
  }
  auto reply = nlohmann::json::parse(*line, nullptr, false);
  if (reply.is_object() && reply.value("ok", false)) return {};
  killHelper(id);
  std::string err = reply.is_object() ? reply.value("error", "") : "";
  if (err.empty()) {
    err = "exited before it was ready";
    std::string log = lastLines(dir + "/blockd.log", 3);
    if (!log.empty()) err += " (log: " + log + ")";
  }
  return makeError(what + ": " + err, EIO);
}

Status UserspaceBackend::closeSession(const BlockVolume& v) { return stopSession(sessionName(v)); }

Status UserspaceBackend::stopSession(const std::string& name) {
  std::string dir = settings_.blockDir + "/" + name, fs = dir + "/fs";
  auto id = readHelperId(dir);
  if (fuseMounted(fs)) {
    // The helper ends its session when its mount goes: flush, unlock or log out, exit.
    if (::umount2(fs.c_str(), UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
      if (errno == EBUSY)
        return makeError("stop " + name + ": its FUSE mount " + fs +
                             " is still in use (a loop device or an open file on it)",
                         EBUSY);
      return sysError("unmount", fs);
    }
  }
  if (id && !waitGone(*id, settings_.stopTimeoutMs)) {
    killHelper(*id);
    waitGone(*id, 2000);
  }
  std::string cg = settings_.cgroupParent + "/blockd-" + name;
  Status rm = cgroups_.remove(cg);
  if (!rm.ok()) return rm.error().wrap("stop " + name);
  Status st = removeAll(dir);
  if (!st.ok()) return st.error().wrap("remove " + dir);
  return {};
}

std::vector<std::string> UserspaceBackend::sessionDirs() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(settings_.blockDir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (startsWith(n, "iscsi-") || startsWith(n, "rbd-")) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Result<std::string> UserspaceBackend::attachDevice(const BlockVolume& v) {
  auto existing = findDevice(v);
  if (!existing.ok()) return existing.error();
  if (*existing) return **existing;
  LoopOptions lo{.readOnly = v.readOnly};
  // RBD: one loop request is one whole helper write (1 MiB), so none straddles a 4 MiB object.
  // The kernel's default (1280 KiB) splits each request into a 1 MiB and a 256 KiB FUSE write:
  // 1.7 writes per MiB, each an OSD op (per replica on a real cluster). iSCSI keeps the default
  // (measured no better).
  if (v.backend == "rbd-user") lo.maxRequestKb = blockd::kMaxIoBytes / 1024;
  auto dev = attachLoop(file(v), lo);
  if (!dev.ok()) return dev.error().wrap("attach " + file(v));
  return dev;
}

Status UserspaceBackend::detachDevice(const BlockVolume& v) {
  for (const auto& dev : loopsBackedBy(file(v))) BOXD_TRY(detachLoop(dev, file(v)));
  return {};
}

Result<std::optional<std::string>> UserspaceBackend::findDevice(const BlockVolume& v) {
  auto loops = loopsBackedBy(file(v));
  if (loops.empty()) return std::optional<std::string>();
  return std::optional<std::string>(loops.front());
}

}  // namespace boxd::reconcilers
