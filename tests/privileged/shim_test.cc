// boxd-shim end to end, as root: a real shim per test over a busybox rootfs in a unique temp dir.
// Every process a test starts (shim, containers) is recorded with its start time and SIGKILLed
// in TearDown if still alive; the temp dir is removed (nothing is mounted in the host namespace:
// all container mounts live in the containers' own mount namespaces).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <set>
#include <thread>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/sandbox/shim_client.h"
#include "reconcilers/sandbox/shim_launcher.h"
#include "reconcilers/sandbox/shim_step.h"
#include "specs/capabilities.h"

namespace boxd::reconcilers {
namespace {

std::string shimBinary() {
#ifdef BOXD_SHIM_BINARY
  if (::access(BOXD_SHIM_BINARY, X_OK) == 0) return BOXD_SHIM_BINARY;
#endif
  const char* build = std::getenv("BOXD_BUILD_DIR");
  std::string base = build != nullptr ? build : ".";
  for (const char* rel : {"/agent/shim/boxd-shim", "/bin/boxd-shim"}) {
    if (::access((base + rel).c_str(), X_OK) == 0) return base + rel;
  }
  return base + "/agent/shim/boxd-shim";
}

bool waitUntil(const std::function<bool()>& cond, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (!cond()) {
    if (monotonicMs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string statusField(pid_t pid, const std::string& key) {
  auto text = readFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return "";
  for (const auto& line : split(*text, '\n')) {
    if (startsWith(line, key + ":")) return trim(line.substr(key.size() + 1));
  }
  return "";
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string content(const std::string& path) {
  auto text = readFile(path);
  return text.ok() ? *text : "<missing " + path + ">";
}

// Sends raw bytes on a fresh connection and returns what comes back within timeoutMs.
std::string rawExchange(const std::string& socketPath, const std::string& bytes, size_t lines,
                        int timeoutMs = 3000) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socketPath.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return "connect failed";
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(bytes.size()))
    return "send failed";
  std::string out;
  char buf[4096];
  while (static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) < lines) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    id_ = randomHex(4);
    dir_ = "/tmp/boxd-shim-test-" + id_;
    rootfs_ = dir_ + "/rootfs";
    ASSERT_TRUE(mkdirAll(rootfs_ + "/bin").ok());
    // Installed from inside the rootfs so the applet links point at /bin/busybox there.
    ASSERT_EQ(run("cp /bin/busybox " + rootfs_ + "/bin/busybox"), 0);
    ASSERT_EQ(run("chroot " + rootfs_ + " /bin/busybox --install -s /bin"), 0);
    for (const char* d : {"etc", "tmp", "proc", "dev", "sys"})
      ASSERT_TRUE(mkdirAll(rootfs_ + "/" + d).ok());
    cfg_.shimBinary = shimBinary();
    ASSERT_EQ(::access(cfg_.shimBinary.c_str(), X_OK), 0) << cfg_.shimBinary;
    cfg_.podName = "web";
    cfg_.podUid = "uid-" + id_;
    cfg_.socketPath = dir_ + "/run/shim.sock";
    cfg_.pidFile = dir_ + "/run/shim.pid";
    cfg_.logFile = dir_ + "/shim.log";
    cfg_.hostname = "web-" + id_;
  }

  void TearDown() override {
    for (const auto& p : tracked_) {
      auto start = processStartTime(p.pid);
      if (processAlive(p.pid) && start.ok() && *start == p.startTime) ::kill(p.pid, SIGKILL);
    }
    for (const auto& p : tracked_)
      EXPECT_TRUE(waitUntil([&] { return !processAlive(p.pid); }, 5000)) << p.pid;
    for (const auto& cg : cgroups_) ::rmdir(cg.c_str());
    if (!dir_.empty()) {
      EXPECT_TRUE(removeAll(dir_).ok());
    }
  }

  void track(pid_t pid) {
    auto start = processStartTime(pid);
    if (start.ok()) tracked_.push_back({pid, *start});
  }

  ShimIdentity launch() {
    auto id = launchShim(cfg_);
    EXPECT_TRUE(id.ok()) << id.error().message;
    if (!id.ok()) return {};
    tracked_.push_back(*id);
    return *id;
  }

  ContainerLaunch container(const std::string& name, std::vector<std::string> argv) {
    ContainerLaunch l;
    l.name = name;
    l.rootfs = rootfs_;
    l.argv = std::move(argv);
    l.logPath = dir_ + "/" + name + ".log";
    return l;
  }

  Result<ContainerStatus> start(ShimClient& client, const ContainerLaunch& l) {
    auto st = client.start(l);
    if (st.ok()) track(st->pid);
    return st;
  }

  // Polls state() until the container is no longer running.
  ContainerStatus waitExited(ShimClient& client, const std::string& name, int timeoutMs = 5000) {
    ContainerStatus found;
    bool done = waitUntil(
        [&] {
          auto st = client.state();
          if (!st.ok()) return false;
          for (const auto& c : *st) {
            if (c.name == name && !c.running) {
              found = c;
              return true;
            }
          }
          return false;
        },
        timeoutMs);
    EXPECT_TRUE(done) << name << " did not exit";
    return found;
  }

  // Runs a container to completion and returns its output.
  std::string runToEnd(ShimClient& client, ContainerLaunch l, int timeoutMs = 5000) {
    auto st = start(client, l);
    EXPECT_TRUE(st.ok()) << st.error().message;
    if (!st.ok()) return "";
    waitExited(client, l.name, timeoutMs);
    auto out = readFile(l.logPath);
    return out.ok() ? *out : "";
  }

  std::string id_, dir_, rootfs_;
  ShimConfig cfg_;
  std::vector<ShimIdentity> tracked_;
  std::vector<std::string> cgroups_;
};

TEST_F(ShimTest, LaunchLeavesADetachedShimHoldingThePodNamespaces) {
  ShimIdentity id = launch();
  ASSERT_GT(id.pid, 0);
  EXPECT_TRUE(processAlive(id.pid));
  EXPECT_NE(statusField(id.pid, "PPid"), std::to_string(::getpid()))
      << "the shim must not be the launcher's child";
  EXPECT_EQ(trim(readFile(cfg_.pidFile).value()), std::to_string(id.pid));
  struct stat st {};
  ASSERT_EQ(::stat(cfg_.socketPath.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string pidNs = "/proc/" + std::to_string(id.pid) + "/ns/";
  for (const char* ns : {"net", "ipc", "uts"}) {
    char a[64] = {}, b[64] = {};
    ASSERT_GT(::readlink((pidNs + ns).c_str(), a, sizeof a - 1), 0);
    ASSERT_GT(::readlink((std::string("/proc/self/ns/") + ns).c_str(), b, sizeof b - 1), 0);
    EXPECT_STRNE(a, b) << ns;
  }
  EXPECT_EQ(statusField(id.pid, "Threads"), "1");
  // Lean: it runs once per pod.
  std::string rss = statusField(id.pid, "VmRSS");
  EXPECT_LT(std::stol(rss), 8 * 1024) << rss;
}

TEST_F(ShimTest, ShimSurvivesTheDeathOfItsLauncher) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Fd readEnd(fds[0]), writeEnd(fds[1]);
  pid_t launcher = ::fork();
  ASSERT_GE(launcher, 0);
  if (launcher == 0) {
    auto id = launchShim(cfg_);
    ShimIdentity out = id.ok() ? *id : ShimIdentity{};
    ssize_t n = ::write(writeEnd.get(), &out, sizeof out);
    ::_exit(n == sizeof out && id.ok() ? 0 : 1);
  }
  writeEnd.reset();
  ShimIdentity id{};
  ASSERT_EQ(::read(readEnd.get(), &id, sizeof id), static_cast<ssize_t>(sizeof id));
  if (id.pid > 0) tracked_.push_back(id);
  int status = 0;
  ASSERT_EQ(::waitpid(launcher, &status, 0), launcher);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_GT(id.pid, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(processAlive(id.pid));
  std::string ppid = statusField(id.pid, "PPid");
  EXPECT_NE(ppid, std::to_string(launcher));
  EXPECT_NE(ppid, std::to_string(::getpid()));
  EXPECT_TRUE(ShimClient(cfg_.socketPath).state().ok());
}

TEST_F(ShimTest, LaunchFailureNamesTheCause) {
  cfg_.hostname = std::string(100, 'h');  // longer than HOST_NAME_MAX
  auto id = launchShim(cfg_);
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().message.rfind("start shim for pod web: sethostname", 0), 0u)
      << id.error().message;
  EXPECT_NE(id.error().message.find("Invalid argument"), std::string::npos) << id.error().message;
  EXPECT_FALSE(exists(cfg_.pidFile));
  EXPECT_FALSE(exists(cfg_.socketPath));

  cfg_.hostname = "web";
  cfg_.cgroupProcs = {dir_ + "/no-such-cgroup/cgroup.procs"};
  id = launchShim(cfg_);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().message.find("join cgroup"), std::string::npos) << id.error().message;
  EXPECT_NE(id.error().message.find("No such file or directory"), std::string::npos)
      << id.error().message;
}

TEST_F(ShimTest, ContainerSeesPodHostnameItsOwnPid1AndWritesTheLog) {
  launch();
  ShimClient client(cfg_.socketPath);
  std::string out = runToEnd(
      client, container("app", {"sh", "-c",
                                "echo hello; hostname; echo pid=$$; cat /proc/1/cmdline; echo"}));
  auto lines = split(out, '\n');
  ASSERT_GE(lines.size(), 4u) << out;
  EXPECT_EQ(lines[0], "hello");
  EXPECT_EQ(lines[1], cfg_.hostname);
  EXPECT_EQ(lines[2], "pid=1");
  EXPECT_EQ(lines[3].substr(0, 6), std::string("sh\0-c\0", 6)) << out;
}

TEST_F(ShimTest, ContainersOfAPodShareNetIpcUtsButNotMountOrPid) {
  launch();
  ShimClient client(cfg_.socketPath);
  // Both stay up while compared: the kernel reuses a freed namespace's inode number.
  std::vector<std::string> argv = {"sh", "-c",
                                   "for n in net ipc uts mnt pid; do echo $n=$(readlink "
                                   "/proc/self/ns/$n); done; exec sleep 1000"};
  std::string out[2];
  for (int i = 0; i < 2; ++i) {
    ContainerLaunch l = container(i == 0 ? "a" : "b", argv);
    auto st = start(client, l);
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_TRUE(waitUntil(
        [&] {
          auto text = readFile(l.logPath);
          out[i] = text.ok() ? *text : "";
          return std::count(out[i].begin(), out[i].end(), '\n') == 5;
        },
        5000))
        << out[i];
  }
  auto field = [](const std::string& text, const std::string& ns) {
    for (const auto& l : split(text, '\n')) {
      if (startsWith(l, ns + "=")) return l.substr(ns.size() + 1);
    }
    return std::string("missing " + ns);
  };
  char host[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", host, sizeof host - 1), 0);
  EXPECT_EQ(field(out[0], "net").substr(0, 4), "net:") << out[0];
  EXPECT_NE(field(out[0], "net"), host);
  for (const char* ns : {"net", "ipc", "uts"}) {
    EXPECT_EQ(field(out[0], ns), field(out[1], ns)) << ns << "\n" << out[0] << out[1];
  }
  for (const char* ns : {"mnt", "pid"}) {
    EXPECT_NE(field(out[0], ns), field(out[1], ns)) << ns << "\n" << out[0] << out[1];
  }
  EXPECT_TRUE(client.shutdown(0).ok());
}

TEST_F(ShimTest, MinimalDevReadOnlySysEnvAndCwd) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l =
      container("app", {"sh", "-c",
                        "ls /dev | tr '\\n' ' '; echo; touch /sys/x 2>/dev/null; echo sys=$?; "
                        "echo foo=$FOO home=$HOME host=$HOSTNAME; echo path=$PATH; pwd"});
  l.env = {"FOO=bar", "HOME=/home/app"};
  l.cwd = "/tmp";
  auto lines = split(runToEnd(client, l), '\n');
  ASSERT_GE(lines.size(), 5u);
  std::set<std::string> dev;
  for (const auto& e : split(trim(lines[0]), ' ')) dev.insert(e);
  std::set<std::string> want = {"fd",     "full",  "null",   "ptmx", "pts",     "random", "shm",
                                "stderr", "stdin", "stdout", "tty",  "urandom", "zero"};
  EXPECT_EQ(dev, want) << lines[0];
  EXPECT_EQ(lines[1], "sys=1");
  EXPECT_EQ(lines[2], "foo=bar home=/home/app host=" + cfg_.hostname);
  EXPECT_EQ(lines[3], "path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(lines[4], "/tmp");
}

// ---- container output: pipe → log file (agent/shim/log_writer.h) ----

std::string seqLines(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += std::to_string(i) + "\n";
  return out;
}

int64_t fileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST_F(ShimTest, StdoutAndStderrShareTheLogInOrderOfArrival) {
  launch();
  ShimClient client(cfg_.socketPath);
  std::string out = runToEnd(
      client, container("app", {"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"}));
  EXPECT_EQ(out, "out1\nerr1\nout2\nerr2\n");
}

TEST_F(ShimTest, OutputWrittenRightBeforeExitIsInTheLogWhenTheExitIsReported) {
  launch();
  ShimClient client(cfg_.socketPath);
  auto sub = client.subscribe();
  ASSERT_TRUE(sub.ok()) << sub.error().message;
  // Several pipe buffers' worth, the last line written just before exit.
  ContainerLaunch big = container("big", {"sh", "-c", "seq 1 60000; echo LAST"});
  ASSERT_TRUE(start(client, big).ok());
  auto ev = sub->next(10000);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->name, "big");
  std::string got = content(big.logPath);
  // EXPECT_TRUE, not EXPECT_EQ: gtest's line diff of two 350 KB texts needs gigabytes.
  EXPECT_TRUE(got == seqLines(1, 60000) + "LAST\n")
      << got.size() << " bytes, ending "
      << got.substr(got.size() - std::min<size_t>(got.size(), 20));

  // A child left running is killed with the pid namespace; the exit is not held up by it.
  ContainerLaunch bg = container("bg", {"sh", "-c", "sleep 1000 & echo bye"});
  int64_t t0 = monotonicMs();
  ASSERT_TRUE(start(client, bg).ok());
  ev = sub->next(5000);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->name, "bg");
  EXPECT_LT(monotonicMs() - t0, 2000);
  EXPECT_EQ(content(bg.logPath), "bye\n");
}

TEST_F(ShimTest, APipeHeldOpenAfterTheExitIsReadForAWhileThenClosed) {
  ::signal(SIGPIPE, SIG_IGN);  // the write after the shim closes its end must fail, not kill us
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("app", {"sh", "-c", "echo start; exec sleep 1000"});
  auto st = start(client, l);
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_TRUE(waitUntil([&] { return content(l.logPath) == "start\n"; }, 5000));
  // Something outside the container holds the write end, as a leaked fd would.
  Fd held(::open(("/proc/" + std::to_string(st->pid) + "/fd/1").c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(held) << std::strerror(errno);
  int64_t t0 = monotonicMs();
  ASSERT_TRUE(client.stop("app", 0).ok());
  EXPECT_LT(monotonicMs() - t0, 1000) << "the exit is not held up by the open pipe";
  ASSERT_EQ(::write(held.get(), "late\n", 5), 5);
  EXPECT_TRUE(waitUntil([&] { return content(l.logPath) == "start\nlate\n"; }, 1500))
      << content(l.logPath);
  bool closed = waitUntil([&] { return ::write(held.get(), "x", 1) < 0 && errno == EPIPE; }, 5000);
  EXPECT_TRUE(closed) << "the shim closes its end in the end";
  EXPECT_GE(monotonicMs() - t0, 1500);
  EXPECT_NE(content(cfg_.logFile).find("app: its output pipe is still open"), std::string::npos)
      << content(cfg_.logFile);
}

TEST_F(ShimTest, LogsRotateAtTheBoundAndTheShimStaysSmall) {
  ShimIdentity id = launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("chatty", {"seq", "1", "450000"});  // about 2.9 MiB
  l.logMaxBytes = 1 << 20;
  l.logMaxFiles = 2;
  ASSERT_TRUE(start(client, l).ok());
  ContainerStatus st = waitExited(client, "chatty", 20000);
  EXPECT_EQ(st.exitCode, 0);
  std::string rotated = l.logPath + ".1";
  EXPECT_FALSE(exists(l.logPath + ".2"));
  int64_t current = fileSize(l.logPath), older = fileSize(rotated);
  // Within the bound but for the end of a line begun before it (7 bytes here).
  EXPECT_LE(current, l.logMaxBytes + 7);
  EXPECT_LE(older, l.logMaxBytes + 7);
  EXPECT_GT(older, l.logMaxBytes - 16) << "a rotated file is full, up to whole lines";
  EXPECT_LE(current + older, l.logMaxBytes * l.logMaxFiles + (64 << 10));
  // The newest output, whole lines, in order, up to the last one.
  std::string kept = content(rotated) + content(l.logPath);
  auto lines = split(trim(kept), '\n');
  ASSERT_FALSE(lines.empty());
  int first = std::stoi(lines.front());
  EXPECT_TRUE(kept == seqLines(first, 450000)) << kept.size() << " bytes from " << first;
  // Copying never grows the shim: one fixed buffer, no queue.
  std::string peak = statusField(id.pid, "VmHWM");
  EXPECT_LT(std::stol(peak), 8 * 1024) << peak;
}

TEST_F(ShimTest, StartingAContainerAgainKeepsItsPreviousRunsLog) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("app", {"sh", "-c", "echo run 1"});
  std::string previous = dir_ + "/app.previous.log";
  EXPECT_EQ(runToEnd(client, l), "run 1\n");
  EXPECT_FALSE(exists(previous)) << "a first run has no previous one";
  l.argv = {"sh", "-c", "echo run 2"};
  EXPECT_EQ(runToEnd(client, l), "run 2\n") << "the new run starts a fresh file";
  EXPECT_EQ(content(previous), "run 1\n");
  l.argv = {"sh", "-c", "echo run 3"};
  EXPECT_EQ(runToEnd(client, l), "run 3\n");
  EXPECT_EQ(content(previous), "run 2\n");
}

// ---- security defaults (agent/shim/security.h, docs/security.md) ----

// "Key:\tvalue" lines → value of key ("" if absent).
std::string lineValue(const std::string& text, const std::string& key) {
  for (const auto& line : split(text, '\n')) {
    if (startsWith(line, key + ":")) return trim(line.substr(key.size() + 1));
  }
  return "";
}

uint64_t hexMask(const std::string& s) {
  return s.empty() ? ~uint64_t{0} : std::stoull(s, nullptr, 16);
}

TEST_F(ShimTest, ContainerGetsTheDefaultCapabilitiesNoNewPrivsAndSeccomp) {
  launch();
  ShimClient client(cfg_.socketPath);
  std::string out = runToEnd(client, container("app", {"cat", "/proc/self/status"}));
  // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT
  // SETFCAP; limited by what the host's own bounding set still has.
  const uint64_t want = 0x800405fbULL & hexMask(statusField(::getpid(), "CapBnd"));
  for (const char* set : {"CapBnd", "CapPrm", "CapEff"})
    EXPECT_EQ(hexMask(lineValue(out, set)), want) << set << "\n" << out;
  EXPECT_EQ(hexMask(lineValue(out, "CapInh")), 0u) << out;
  EXPECT_EQ(hexMask(lineValue(out, "CapAmb")), 0u) << out;
  EXPECT_EQ(lineValue(out, "NoNewPrivs"), "1") << out;
  EXPECT_EQ(lineValue(out, "Seccomp"), "2") << out;  // filter mode
}

// ---- securityContext (launch.security, resolved by boxd) ----

uint64_t capBit(int n) { return uint64_t{1} << n; }
constexpr int kNetAdmin = 12, kNetBindService = 10;

TEST_F(ShimTest, RunAsUserGetsItsIdsGroupsAndNoEffectiveCapabilities) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("user", {"sh", "-c", "id -u; id -g; id -G; cat /proc/self/status"});
  l.security.uid = 1000;
  l.security.gid = 3000;
  l.security.groups = {4000, 5000};
  std::string out = runToEnd(client, l);
  auto lines = split(out, '\n');
  ASSERT_GE(lines.size(), 3u) << out;
  EXPECT_EQ(lines[0], "1000");
  EXPECT_EQ(lines[1], "3000");
  EXPECT_EQ(lines[2], "3000 4000 5000");
  const uint64_t host = hexMask(statusField(::getpid(), "CapBnd"));
  EXPECT_EQ(hexMask(lineValue(out, "CapBnd")), specs::kDefaultCapabilities & host) << out;
  for (const char* set : {"CapPrm", "CapEff", "CapInh", "CapAmb"})
    EXPECT_EQ(hexMask(lineValue(out, set)), 0u) << set << "\n" << out;
  EXPECT_EQ(lineValue(out, "NoNewPrivs"), "1") << out;
  EXPECT_EQ(lineValue(out, "Seccomp"), "2") << out;
}

TEST_F(ShimTest, CapabilitiesFollowTheLaunch) {
  launch();
  ShimClient client(cfg_.socketPath);
  const uint64_t host = hexMask(statusField(::getpid(), "CapBnd"));
  for (uint64_t want :
       {specs::kDefaultCapabilities | capBit(kNetAdmin), capBit(kNetBindService), uint64_t{0}}) {
    ContainerLaunch l = container("caps" + std::to_string(want), {"cat", "/proc/self/status"});
    l.security.capabilities = want;
    std::string out = runToEnd(client, l);
    for (const char* set : {"CapBnd", "CapPrm", "CapEff"})
      EXPECT_EQ(hexMask(lineValue(out, set)), want & host) << set << "\n" << out;
  }
  // NET_ADMIN is usable: the pod's loopback can be taken down and up again.
  ContainerLaunch net = container(
      "net", {"sh", "-c", "ip link set lo down; echo down=$?; ip link set lo up; echo up=$?"});
  net.security.capabilities = specs::kDefaultCapabilities | capBit(kNetAdmin);
  std::string out = runToEnd(client, net);
  EXPECT_NE(out.find("down=0\nup=0"), std::string::npos) << out;
}

TEST_F(ShimTest, PrivilegedHasEverythingAndNoMasksOrFilter) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("priv", {"sh", "-c", "cat /proc/self/status /proc/self/mountinfo"});
  l.security.privileged = true;
  l.security.noNewPrivs = false;
  l.security.capabilities = ~uint64_t{0};
  std::string out = runToEnd(client, l);
  const uint64_t host = hexMask(statusField(::getpid(), "CapBnd"));
  for (const char* set : {"CapBnd", "CapPrm", "CapEff"})
    EXPECT_EQ(hexMask(lineValue(out, set)), host) << set << "\n" << out;
  EXPECT_EQ(lineValue(out, "NoNewPrivs"), "0") << out;
  EXPECT_EQ(lineValue(out, "Seccomp"), "0") << out;
  auto mountOptions = [&](const std::string& target) {
    for (const auto& line : split(out, '\n')) {
      auto f = split(line, ' ');
      if (f.size() > 5 && f[4] == target) return f[5];
    }
    return std::string("not a mount point");
  };
  EXPECT_EQ(mountOptions("/sys").substr(0, 3), "rw,") << out;
  for (const char* p : {"/proc/kcore", "/proc/sys", "/proc/sysrq-trigger"})
    EXPECT_EQ(mountOptions(p), "not a mount point") << p << "\n" << out;
}

TEST_F(ShimTest, EscalationAllowedKeepsTheFilterWithoutNoNewPrivs) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("esc", {"sh", "-c",
                                        "grep -E 'NoNewPrivs|Seccomp:' /proc/self/status; "
                                        "unshare -U true; echo userns=$?"});
  l.security.noNewPrivs = false;
  l.security.uid = 1000;
  std::string out = runToEnd(client, l);
  EXPECT_EQ(lineValue(out, "NoNewPrivs"), "0") << out;
  EXPECT_EQ(lineValue(out, "Seccomp"), "2") << out;
  EXPECT_NE(out.find("userns=1"), std::string::npos) << out;
}

TEST_F(ShimTest, ReadOnlyRootfsKeepsItsSubmountsWritable) {
  launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container(
      "ro", {"sh", "-c",
             "touch /x; echo root=$?; touch /tmp/x; echo tmp=$?; echo a > /dev/shm/a; "
             "echo shm=$?; awk '$5 == \"/\" { print substr($6, 1, 3) }' /proc/self/mountinfo"});
  l.security.readOnlyRootfs = true;
  std::string out = runToEnd(client, l);
  EXPECT_NE(out.find("Read-only file system"), std::string::npos) << out;
  for (const char* want : {"\nroot=1\n", "\ntmp=1\n", "\nshm=0\nro,\n"})
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  struct stat st {};
  EXPECT_NE(::stat((rootfs_ + "/x").c_str(), &st), 0) << "nothing written through to the rootfs";
  std::string rw = runToEnd(client, container("rw", {"sh", "-c", "touch /y; echo root=$?"}));
  EXPECT_NE(rw.find("root=0"), std::string::npos) << "the host's rootfs mount stayed writable\n"
                                                  << rw;
}

// ---- volumes and pod files: mounted by the container's child in its own namespace ----

// Mount points at or below dir in this process's (the host's) mount table.
std::vector<std::string> hostMountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  auto table = readFile("/proc/self/mountinfo");
  for (const auto& line : split(table.ok() ? *table : "", '\n')) {
    auto fields = split(line, ' ');
    if (fields.size() > 4 && (fields[4] == dir || startsWith(fields[4], dir + "/")))
      out.push_back(fields[4]);
  }
  return out;
}

TEST_F(ShimTest, VolumesAndPodFilesAreMountedInTheContainerOnly) {
  launch();
  ShimClient client(cfg_.socketPath);
  ASSERT_TRUE(mkdirAll(dir_ + "/vol").ok());
  ASSERT_TRUE(writeFileAtomic(dir_ + "/vol/in", "from the host\n").ok());
  ASSERT_TRUE(writeFileAtomic(dir_ + "/hosts", "10.0.0.9\tweb\n").ok());
  ASSERT_TRUE(mkdirAll(dir_ + "/conf").ok());
  ASSERT_TRUE(writeFileAtomic(dir_ + "/conf/app.conf", "setting=1\n").ok());
  ContainerLaunch l = container(
      "v", {"sh", "-c",
            "cat /data/in; echo out > /data/out; echo deep > /deep/sub/f; cat /etc/hosts; "
            "cat /etc/app.conf; touch /etc/app.conf; echo file=$?; touch /ro/x; echo dir=$?; "
            "grep ' /ro ' /proc/self/mountinfo"});
  l.mounts = {{dir_ + "/vol", "", "/data", false, false},
              {dir_ + "/vol", "a/b", "/deep/sub", false, true},
              {dir_ + "/hosts", "", "/etc/hosts", false, false},
              {dir_ + "/conf", "app.conf", "/etc/app.conf", true, false},
              {dir_ + "/conf", "", "/ro", true, false}};
  std::string out = runToEnd(client, l);
  for (const char* want : {"from the host\n", "10.0.0.9\tweb\n", "setting=1\n", "file=1\n",
                           "dir=1\n", " ro,nosuid,nodev"})
    EXPECT_NE(out.find(want), std::string::npos) << want << "\n" << out;
  EXPECT_EQ(content(dir_ + "/vol/out"), "out\n");
  EXPECT_EQ(content(dir_ + "/vol/a/b/f"), "deep\n") << "the subPath was created in the volume";
  EXPECT_EQ(hostMountsUnder(dir_), std::vector<std::string>{})
      << "nothing of the container's is mounted on the host";
}

TEST_F(ShimTest, VolumesOfAReadOnlyRootfsGetTheirMountPointsFirst) {
  launch();
  ShimClient client(cfg_.socketPath);
  ASSERT_TRUE(mkdirAll(dir_ + "/vol").ok());
  ContainerLaunch l = container(
      "v", {"sh", "-c", "echo w > /new/dir/f; echo vol=$?; touch /x 2>/dev/null; echo root=$?"});
  l.security.readOnlyRootfs = true;
  l.mounts = {{dir_ + "/vol", "", "/new/dir", false, false}};
  std::string out = runToEnd(client, l);
  EXPECT_NE(out.find("vol=0\nroot=1\n"), std::string::npos) << out;
  EXPECT_EQ(content(dir_ + "/vol/f"), "w\n");
}

// A symlink in the image (or a previous run's rootfs) or in the volume that leads outside is
// refused, whatever the kind; one that stays inside is followed.
TEST_F(ShimTest, MountPathsAndSubPathsLeadingOutsideAreRefused) {
  launch();
  ShimClient client(cfg_.socketPath);
  const std::string outside = dir_ + "/outside";
  ASSERT_EQ(::symlink(("../../../../../../../.." + outside).c_str(), (rootfs_ + "/up").c_str()), 0);
  ASSERT_EQ(::symlink(outside.c_str(), (rootfs_ + "/abs").c_str()), 0);
  ASSERT_EQ(::symlink("tmp", (rootfs_ + "/inner").c_str()), 0);
  ASSERT_TRUE(mkdirAll(dir_ + "/vol").ok());
  ASSERT_EQ(::symlink("/etc", (dir_ + "/vol/evil").c_str()), 0);
  ASSERT_EQ(::symlink("../outside", (dir_ + "/vol/sneaky").c_str()), 0);
  struct Case {
    ContainerMount mount;
    std::string error;
  } cases[] = {
      {{dir_ + "/vol", "", "/up/x", false, false}, "mountPath /up/x leads outside"},
      {{dir_ + "/vol", "", "/abs/x", false, false}, "mountPath /abs/x leads outside"},
      {{dir_ + "/vol", "", "/tmp/../../x", false, false}, "mountPath /tmp/../../x leads outside"},
      {{dir_ + "/vol", "evil", "/v", false, false},
       "subPath evil of " + dir_ + "/vol leads outside"},
      {{dir_ + "/vol", "sneaky/x", "/v", false, true}, "subPath sneaky/x of"},
      {{dir_ + "/vol", "../outside", "/v", false, true}, "subPath ../outside of"},
  };
  for (const auto& c : cases) {
    ContainerLaunch l = container("bad", {"true"});
    l.mounts = {c.mount};
    auto st = start(client, l);
    ASSERT_FALSE(st.ok()) << c.error;
    EXPECT_NE(st.error().message.find(c.error), std::string::npos) << st.error().message;
    EXPECT_NE(st.error().message.find("refused"), std::string::npos) << st.error().message;
  }
  EXPECT_FALSE(exists(outside)) << "nothing was created outside";
  EXPECT_FALSE(exists(rootfs_ + "/etc/v"));

  ContainerLaunch ok = container("ok", {"sh", "-c", "echo in > /inner/v/f && echo done"});
  ok.mounts = {{dir_ + "/vol", "", "/inner/v", false, false}};
  EXPECT_EQ(runToEnd(client, ok), "done\n");
  EXPECT_EQ(content(dir_ + "/vol/f"), "in\n") << "a symlink that stays inside is followed";
  EXPECT_EQ(hostMountsUnder(dir_), std::vector<std::string>{});
}

TEST_F(ShimTest, BlockedSyscallsFailWithEpermWhileNormalWorkRuns) {
  launch();
  ShimClient client(cfg_.socketPath);
  // A user namespace needs no capability at all: only the seccomp filter stops this one.
  // The others would need CAP_SYS_ADMIN too; the filter answers first.
  std::string out = runToEnd(
      client, container("blocked", {"sh", "-c",
                                    "unshare -U true; echo userns=$?; "
                                    "unshare -n true; echo netns=$?; "
                                    "mkdir -p /mnt; mount -t tmpfs none /mnt; echo mount=$?; "
                                    "hostname renamed; echo hostname=$?; hostname; "
                                    "mknod /tmp/blk b 7 0; echo mknod=$?; "
                                    "linux32 -R true; echo norandom=$?"}));
  EXPECT_NE(out.find("unshare(0x10000000): Operation not permitted"), std::string::npos) << out;
  EXPECT_NE(out.find("unshare(0x40000000): Operation not permitted"), std::string::npos) << out;
  // personality: ADDR_NO_RANDOMIZE is outside the allowed execution domains.
  EXPECT_NE(out.find("personality(0x40008): Operation not permitted"), std::string::npos) << out;
  for (const char* rc : {"userns=1", "netns=1", "mount=1", "hostname=1", "mknod=1", "norandom=1"})
    EXPECT_NE(out.find(rc), std::string::npos) << rc << "\n" << out;
  EXPECT_NE(out.find("\n" + cfg_.hostname + "\n"), std::string::npos) << "pod hostname kept\n"
                                                                      << out;

  // Ordinary work: a shell, files, a web server on loopback and a client, sleep, the 32-bit
  // execution domain. (Debian's busybox-static has no inotifyd; inotify is not filtered.)
  std::string work = runToEnd(
      client,
      container("work", {"sh", "-c",
                         "mkdir -p /www && echo served > /www/index.html && echo written=$?; "
                         "httpd -f -p 127.0.0.1:8080 -h /www & "
                         "for i in $(seq 50); do wget -q -O - http://127.0.0.1:8080/ && break; "
                         "sleep 0.1; done; "
                         "kill %1; sleep 0.1; linux32 uname -m; echo done"}),
      10000);
  EXPECT_NE(work.find("written=0"), std::string::npos) << work;
  EXPECT_NE(work.find("\nserved\n"), std::string::npos) << work;
  EXPECT_NE(work.find("\ni686\n"), std::string::npos) << work;
  EXPECT_NE(work.find("done"), std::string::npos) << work;
}

TEST_F(ShimTest, HostProcPathsAreMaskedOrReadOnly) {
  launch();
  ShimClient client(cfg_.socketPath);
  // Only the paths this host's kernel has can be checked; the others are skipped by the shim.
  std::vector<std::string> files, dirs;
  for (const char* p : {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                        "/proc/latency_stats", "/proc/timer_stats"}) {
    if (exists(p)) files.push_back(p);
  }
  for (const char* p : {"/proc/acpi", "/proc/scsi", "/sys/firmware", "/sys/dev/block"}) {
    if (exists(p)) dirs.push_back(p);
  }
  ASSERT_FALSE(files.empty() && dirs.empty()) << "nothing to check on this host";
  std::string script;
  for (const auto& f : files) script += "echo " + f + "=$(wc -c < " + f + "); ";
  for (const auto& d : dirs) script += "echo " + d + "=$(ls -A " + d + " | wc -l); ";
  // Writing back the value it has: harmless even if it were writable (the pod's own UTS ns).
  script +=
      "cat /proc/sys/kernel/hostname > /tmp/h; cat /tmp/h > /proc/sys/kernel/hostname; "
      "echo procsys=$?; ";
  script += "cat /proc/self/mountinfo";
  std::string out = runToEnd(client, container("app", {"sh", "-c", script}));
  for (const auto& p : files)
    EXPECT_NE(out.find(p + "=0\n"), std::string::npos) << p << "\n" << out;
  for (const auto& p : dirs) EXPECT_NE(out.find(p + "=0\n"), std::string::npos) << p << "\n" << out;
  EXPECT_NE(out.find("Read-only file system"), std::string::npos) << out;
  EXPECT_NE(out.find("procsys=1"), std::string::npos) << out;
  // Never written to: /proc/sysrq-trigger must sit on a read-only mount (when the kernel has it).
  auto mountOptions = [&](const std::string& target) {
    for (const auto& line : split(out, '\n')) {
      auto f = split(line, ' ');
      if (f.size() > 5 && f[4] == target) return f[5];
    }
    return std::string("not a mount point");
  };
  for (const char* p : {"/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq"}) {
    if (!exists(p)) continue;
    EXPECT_EQ(mountOptions(p).substr(0, 3), "ro,") << p << "\n" << out;
  }
  EXPECT_EQ(mountOptions("/sys").substr(0, 3), "ro,") << out;
}

TEST_F(ShimTest, StartErrorsAreClear) {
  launch();
  ShimClient client(cfg_.socketPath);
  auto missing = start(client, container("app", {"no-such-binary"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("exec \"no-such-binary\": No such file or directory"),
            std::string::npos)
      << missing.error().message;
  ContainerLaunch badCwd = container("app", {"true"});
  badCwd.cwd = "/nope";
  auto cwd = start(client, badCwd);
  ASSERT_FALSE(cwd.ok());
  EXPECT_NE(cwd.error().message.find("chdir /nope: No such file or directory"), std::string::npos)
      << cwd.error().message;

  auto first = start(client, container("app", {"sleep", "100"}));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto again = start(client, container("app", {"true"}));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already running"), std::string::npos)
      << again.error().message;
  ASSERT_TRUE(client.stop("app", 0).ok());
  auto replaced = start(client, container("app", {"true"}));
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_NE(replaced->pid, first->pid);
  ContainerStatus st = waitExited(client, "app");
  EXPECT_EQ(st.pid, replaced->pid);
  EXPECT_EQ(st.exitCode, 0);
}

TEST_F(ShimTest, MalformedRequestsGetErrorsAndTheShimKeepsServing) {
  launch();
  std::string out = rawExchange(
      cfg_.socketPath,
      "garbage\n[1,2]\n{\"op\":\"fly\"}\n{\"op\":\"start\",\"name\":7}\n"
      "{\"op\":\"start\",\"name\":\"x\",\"rootfs\":\"/\",\"argv\":[]}\n{\"op\":\"stop\"}\n",
      6);
  auto lines = split(trim(out), '\n');
  ASSERT_EQ(lines.size(), 6u) << out;
  for (const auto& l : lines) EXPECT_NE(l.find("\"ok\":false"), std::string::npos) << l;
  EXPECT_NE(lines[2].find("unknown op"), std::string::npos);
  EXPECT_NE(lines[3].find("must be a string"), std::string::npos) << lines[3];
  std::string huge(2 << 20, 'x');
  rawExchange(cfg_.socketPath, huge, 1);
  EXPECT_TRUE(ShimClient(cfg_.socketPath).state().ok());
}

TEST_F(ShimTest, ExitCodesAndSignalsReachStateAndSubscribers) {
  launch();
  ShimClient client(cfg_.socketPath);
  auto sub1 = client.subscribe();
  ASSERT_TRUE(sub1.ok()) << sub1.error().message;
  {
    auto vanishing = client.subscribe();  // closed right away: the shim must drop it
    ASSERT_TRUE(vanishing.ok());
  }
  auto sub2 = client.subscribe();
  ASSERT_TRUE(sub2.ok());

  ASSERT_TRUE(start(client, container("three", {"sh", "-c", "exit 3"})).ok());
  for (auto* sub : {&*sub1, &*sub2}) {
    auto ev = sub->next(5000);
    ASSERT_TRUE(ev.ok()) << ev.error().message;
    EXPECT_EQ(ev->name, "three");
    EXPECT_EQ(ev->exitCode, 3);
    EXPECT_EQ(ev->signal, 0);
    EXPECT_GT(ev->finishedAtMs, 0);
  }
  auto sleeper = start(client, container("sleeper", {"sleep", "100"}));
  ASSERT_TRUE(sleeper.ok());
  ASSERT_EQ(::kill(sleeper->pid, SIGKILL), 0);
  auto ev = sub1->next(5000);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->name, "sleeper");
  EXPECT_EQ(ev->signal, SIGKILL);
  EXPECT_EQ(ev->exitCode, 128 + SIGKILL);

  ContainerStatus three = waitExited(client, "three");
  EXPECT_EQ(three.exitCode, 3);
  EXPECT_EQ(three.signal, 0);
  EXPECT_GE(three.finishedAtMs, three.startedAtMs);
  ContainerStatus killed = waitExited(client, "sleeper");
  EXPECT_FALSE(killed.running);
  EXPECT_EQ(killed.signal, SIGKILL);
}

TEST_F(ShimTest, StopHonoursTheGracePeriodAndKeepsServing) {
  launch();
  ShimClient client(cfg_.socketPath);
  auto polite = start(
      client,
      container("polite", {"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"}));
  ASSERT_TRUE(polite.ok()) << polite.error().message;
  auto stubborn =
      start(client, container("stubborn", {"sleep", "1000"}));  // pid 1 without a TERM handler
  ASSERT_TRUE(stubborn.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the trap be installed

  int64_t t0 = monotonicMs();
  ASSERT_TRUE(client.stop("polite", 10).ok());
  EXPECT_LT(monotonicMs() - t0, 3000);
  ContainerStatus p = waitExited(client, "polite");
  EXPECT_EQ(p.exitCode, 0);
  EXPECT_EQ(p.signal, 0);

  t0 = monotonicMs();
  auto stopping = std::async(std::launch::async,
                             [&] { return ShimClient(cfg_.socketPath).stop("stubborn", 2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int64_t s0 = monotonicMs();
  auto st = client.state();  // served while the stop is still waiting out its grace
  EXPECT_TRUE(st.ok());
  EXPECT_LT(monotonicMs() - s0, 500);
  Status stopped = stopping.get();
  int64_t took = monotonicMs() - t0;
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  EXPECT_GE(took, 1900);
  EXPECT_LT(took, 5000);
  ContainerStatus s = waitExited(client, "stubborn");
  EXPECT_EQ(s.signal, SIGKILL);
  EXPECT_FALSE(processAlive(stubborn->pid));
}

TEST_F(ShimTest, ShutdownLeavesNoProcessSocketOrPidfile) {
  ShimIdentity id = launch();
  ShimClient client(cfg_.socketPath);
  auto a = start(client, container("a", {"sleep", "1000"}));
  auto b = start(
      client, container("b", {"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"}));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(client.shutdown(1).ok());
  for (pid_t pid : {id.pid, a->pid, b->pid}) {
    EXPECT_TRUE(waitUntil([&] { return !processAlive(pid); }, 3000)) << pid;
  }
  EXPECT_FALSE(exists(cfg_.socketPath));
  EXPECT_FALSE(exists(cfg_.pidFile));
}

TEST_F(ShimTest, SigtermStopsContainersGracefullyAndExits) {
  ShimIdentity id = launch();
  ShimClient client(cfg_.socketPath);
  auto polite = start(
      client,
      container("polite", {"sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done"}));
  ASSERT_TRUE(polite.ok()) << polite.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(id.pid, SIGTERM), 0);
  EXPECT_TRUE(waitUntil([&] { return !processAlive(id.pid); }, 5000));
  EXPECT_FALSE(processAlive(polite->pid));
  EXPECT_FALSE(exists(cfg_.socketPath));
  EXPECT_FALSE(exists(cfg_.pidFile));
  auto log = readFile(cfg_.logFile);
  ASSERT_TRUE(log.ok());
  EXPECT_NE(log->find("polite (pid " + std::to_string(polite->pid) + ") exited: code 7"),
            std::string::npos)
      << *log;
}

TEST_F(ShimTest, ContainersJoinTheirCgroup) {
  std::string cg = "/sys/fs/cgroup/pids/boxd-shim-test-" + id_;
  if (!exists("/sys/fs/cgroup/pids")) GTEST_SKIP() << "no cgroup v1 pids controller";
  ASSERT_TRUE(mkdirAll(cg + "/shim").ok());
  ASSERT_TRUE(mkdirAll(cg + "/app").ok());
  cgroups_ = {cg + "/shim", cg + "/app", cg};  // removed in this order by TearDown
  cfg_.cgroupProcs = {cg + "/shim/cgroup.procs"};
  ShimIdentity id = launch();
  ShimClient client(cfg_.socketPath);
  ContainerLaunch l = container("app", {"sleep", "100"});
  l.cgroupProcs = {cg + "/app/cgroup.procs"};
  auto st = start(client, l);
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto shimCg = readFile("/proc/" + std::to_string(id.pid) + "/cgroup");
  auto appCg = readFile("/proc/" + std::to_string(st->pid) + "/cgroup");
  ASSERT_TRUE(shimCg.ok() && appCg.ok());
  EXPECT_NE(shimCg->find("pids:/boxd-shim-test-" + id_ + "/shim\n"), std::string::npos) << *shimCg;
  EXPECT_NE(appCg->find("pids:/boxd-shim-test-" + id_ + "/app\n"), std::string::npos) << *appCg;
  ASSERT_TRUE(client.shutdown(0).ok());
  EXPECT_TRUE(waitUntil([&] { return !processAlive(id.pid); }, 3000));
}

TEST_F(ShimTest, ShimStepAppliesAdoptsAndUndoes) {
  ShimStep step(cfg_, 1);
  ASSERT_FALSE(step.observe().value());
  ASSERT_TRUE(step.apply().ok());
  ShimIdentity id = step.identity();
  tracked_.push_back(id);
  EXPECT_TRUE(step.observe().value());
  nlohmann::json p = step.params();
  EXPECT_EQ(p["pid"], id.pid);
  EXPECT_EQ(p["startTime"], id.startTime);
  EXPECT_EQ(p["socket"], cfg_.socketPath);

  ShimStep again(cfg_, 1);  // a retried apply adopts the running shim
  ASSERT_TRUE(again.apply().ok());
  EXPECT_EQ(again.identity().pid, id.pid);

  auto rebuilt = shimStepFromParams(p);
  ASSERT_NE(rebuilt, nullptr);
  EXPECT_EQ(rebuilt->kind(), "shim");
  EXPECT_TRUE(rebuilt->observe().value());
  ShimClient client(cfg_.socketPath);
  auto app = start(client, container("app", {"sleep", "1000"}));
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(rebuilt->undo().ok());
  EXPECT_FALSE(processAlive(id.pid));
  EXPECT_TRUE(waitUntil([&] { return !processAlive(app->pid); }, 3000));
  EXPECT_FALSE(exists(cfg_.socketPath));
  EXPECT_FALSE(exists(cfg_.pidFile));
  EXPECT_FALSE(rebuilt->observe().value());
  EXPECT_TRUE(rebuilt->undo().ok()) << "undo of an absent shim succeeds";
  EXPECT_EQ(shimStepFromParams(nlohmann::json{{"podName", "x"}}), nullptr);
}

TEST_F(ShimTest, ShimStepUndoCleansUpAfterTheShimWasKilled) {
  ShimStep step(cfg_, 5);
  ASSERT_TRUE(step.apply().ok());
  ShimIdentity id = step.identity();
  tracked_.push_back(id);
  ShimClient client(cfg_.socketPath);
  auto app = start(client, container("app", {"sleep", "1000"}));
  ASSERT_TRUE(app.ok());
  ASSERT_EQ(::kill(id.pid, SIGKILL), 0);
  ASSERT_TRUE(waitUntil([&] { return !processAlive(id.pid); }, 3000));
  // Its containers die with it instead of running on unsupervised.
  EXPECT_TRUE(waitUntil([&] { return !processAlive(app->pid); }, 3000));
  EXPECT_FALSE(step.observe().value());
  EXPECT_TRUE(exists(cfg_.socketPath));  // left behind by the killed shim

  auto rebuilt = shimStepFromParams(step.params());
  ASSERT_NE(rebuilt, nullptr);
  int64_t t0 = monotonicMs();
  ASSERT_TRUE(rebuilt->undo().ok());
  EXPECT_LT(monotonicMs() - t0, 2000) << "no grace period to wait for a dead shim";
  EXPECT_FALSE(exists(cfg_.socketPath));
  EXPECT_FALSE(exists(cfg_.pidFile));

  ASSERT_TRUE(step.apply().ok()) << "a new shim binds over what is left";
  tracked_.push_back(step.identity());
  EXPECT_NE(step.identity().pid, id.pid);
  EXPECT_TRUE(step.undo().ok());
}

TEST_F(ShimTest, SecondShimRefusesALiveSocket) {
  launch();
  ShimConfig other = cfg_;
  other.pidFile = dir_ + "/run/other.pid";
  auto second = launchShim(other);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use by a running shim"), std::string::npos)
      << second.error().message;
  EXPECT_TRUE(ShimClient(cfg_.socketPath).state().ok());
}

}  // namespace
}  // namespace boxd::reconcilers
