// `boxctl exec` end to end: a private boxd runs a two-container pod; commands run inside a
// container through boxctl, as an operator runs them (stdio, exit codes, a real pty).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <functional>
#include <optional>

#include "common/fd.h"
#include "common/util.h"
#include "tests/integration/harness.h"

extern char** environ;

namespace boxd::testing {
namespace {

const char* kWebPod = R"(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  hostname: exec-host
  terminationGracePeriodSeconds: 2
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: a
    image: busybox
    env: [{name: FOO, value: bar}]
    command: [sh, -c, "echo made-by-a > /tmp/marker; trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: b
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]
    volumeMounts: [{name: shared, mountPath: /in, readOnly: true}]
)";

// A process this test started, killed (by pid) and reaped if the test ends before it does.
struct Child {
  pid_t pid = -1;
  int status = 0;
  bool exited() {
    if (pid <= 0) return true;
    if (::waitpid(pid, &status, WNOHANG) != pid) return false;
    pid = -1;
    return true;
  }
  int code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
  ~Child() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

struct Io {
  int code = -1;
  std::string out, err;
};

// Spawns argv with stdin from inPath, stdout and stderr into their own files.
pid_t spawnIo(const std::vector<std::string>& argv, const std::string& inPath,
              const std::string& outPath, const std::string& errPath) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, inPath.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Runs argv to completion (bounded): stdin from `input` (or /dev/null), stdout and stderr apart.
Io runIo(const std::vector<std::string>& argv, const std::optional<std::string>& input = {},
         int timeoutMs = 30000) {
  TempDir dir("exec-io");
  std::string in = "/dev/null";
  if (input) {
    in = dir / "in";
    (void)writeFileAtomic(in, *input);
  }
  Child c;
  c.pid = spawnIo(argv, in, dir / "out", dir / "err");
  Io io;
  if (c.pid < 0) return io;
  if (!waitFor([&] { return c.exited(); }, timeoutMs)) {
    io.err = "timed out";
    return io;
  }
  io.code = c.code();
  io.out = readFile(dir / "out").ok() ? *readFile(dir / "out") : "";
  io.err = readFile(dir / "err").ok() ? *readFile(dir / "err") : "";
  return io;
}

// Reads what the pty master has until `needle` shows up in out, or the deadline passes.
bool readUntil(int master, std::string& out, const std::string& needle, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (out.find(needle) == std::string::npos) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0) return false;
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100))) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  return true;
}

struct PtyRun {
  int code = -1;
  std::string out;
  termios before{}, after{};
};

// Runs argv as the session leader of a new pty (its controlling terminal and stdio), the way a
// user's terminal runs boxctl. `interact` talks to it through the master.
PtyRun runInPty(const std::vector<std::string>& argv, winsize ws,
                const std::function<void(int master, std::string& out)>& interact) {
  PtyRun r;
  int m = -1, s = -1;
  if (::openpty(&m, &s, nullptr, nullptr, &ws) != 0) return r;
  Fd master(m), slave(s);
  ::fcntl(m, F_SETFD, FD_CLOEXEC);
  ::fcntl(s, F_SETFD, FD_CLOEXEC);
  ::tcgetattr(s, &r.before);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  Child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::setsid();
    ::ioctl(s, TIOCSCTTY, 0);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(s, fd);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  if (c.pid < 0) return r;
  interact(m, r.out);
  if (!waitFor([&] { return c.exited(); }, 20000)) return r;
  readUntil(m, r.out, "\x01never", 200);  // drain what is left
  r.code = c.code();
  ::tcgetattr(s, &r.after);
  return r;
}

class ExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_->start();
    ASSERT_TRUE(b_->running()) << b_->log();
    b_->importBusybox();
    b_->writeSpec("web.yaml", kWebPod);
    ASSERT_TRUE(b_->waitPhase("web", "Running")) << b_->status().dump(2) << b_->log();
    ASSERT_TRUE(waitFor([&] { return b_->pod("web")["ready"] == "2/2"; }, 10000))
        << b_->status().dump(2);
  }

  std::vector<std::string> boxctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {b_->bin("boxctl"), "--run-dir", b_->runDir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  Io exec(const std::vector<std::string>& args, const std::optional<std::string>& input = {}) {
    std::vector<std::string> a = {"exec"};
    a.insert(a.end(), args.begin(), args.end());
    return runIo(boxctl(a), input);
  }
  nlohmann::json container(const std::string& name) {
    auto d =
        nlohmann::json::parse(b_->rawRequest(R"({"op":"describe","name":"web"})"), nullptr, false);
    if (d.is_discarded()) return nullptr;
    for (const auto& c : d["containers"]) {
      if (c["name"] == name) return c;
    }
    return nullptr;
  }
  std::string hostNs(pid_t pid, const std::string& ns) {
    char buf[256];
    std::string link = "/proc/" + std::to_string(pid) + "/ns/" + ns;
    ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  std::unique_ptr<Boxd> b_ = std::make_unique<Boxd>();
};

TEST_F(ExecTest, ExitCodeStdoutStderrAndStdinPassThrough) {
  auto seven = exec({"web", "-c", "a", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(seven.code, 7) << seven.err;
  EXPECT_EQ(seven.out, "");
  EXPECT_EQ(seven.err, "");

  auto streams = exec({"web", "-c", "a", "--", "sh", "-c", "echo to-out; echo to-err >&2"});
  EXPECT_EQ(streams.code, 0) << streams.err;
  EXPECT_EQ(streams.out, "to-out\n");
  EXPECT_EQ(streams.err, "to-err\n");

  auto withStdin = exec({"-i", "web", "-c", "a", "--", "cat"}, "hi\nthere\n");
  EXPECT_EQ(withStdin.code, 0) << withStdin.err;
  EXPECT_EQ(withStdin.out, "hi\nthere\n");

  // Without -i the command reads /dev/null, whatever boxctl's stdin holds.
  auto noStdin = exec({"web", "-c", "a", "--", "cat"}, "ignored\n");
  EXPECT_EQ(noStdin.code, 0) << noStdin.err;
  EXPECT_EQ(noStdin.out, "");

  auto killed = exec({"web", "-c", "a", "--", "sh", "-c", "kill -9 $$"});
  EXPECT_EQ(killed.code, 128 + SIGKILL) << killed.err;

  auto other = exec({"web", "-c", "b", "--", "sh", "-c", "echo in-b; exit 3"});
  EXPECT_EQ(other.code, 3) << other.err;
  EXPECT_EQ(other.out, "in-b\n");
}

TEST_F(ExecTest, SignalsToBoxctlReachTheCommand) {
  TempDir dir("exec-sig");
  Child c;
  c.pid = spawnIo(boxctl({"exec", "web", "-c", "a", "--", "sh", "-c",
                          "trap 'echo got-term; exit 42' TERM; echo up; "
                          "while true; do sleep 1 & wait; done"}),
                  "/dev/null", dir / "out", dir / "err");
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(waitFor(
      [&] {
        auto o = readFile(dir / "out");
        return o.ok() && o->find("up") != std::string::npos;
      },
      10000))
      << *readFile(dir / "err");
  ::kill(c.pid, SIGTERM);
  ASSERT_TRUE(waitFor([&] { return c.exited(); }, 10000));
  EXPECT_EQ(c.code(), 42);
  EXPECT_EQ(*readFile(dir / "out"), "up\ngot-term\n");
}

TEST_F(ExecTest, CommandIsRestrictedLikeTheContainer) {
  auto a = container("a");
  ASSERT_FALSE(a.is_null());
  auto hostStatus = readFile("/proc/" + std::to_string(a["pid"].get<pid_t>()) + "/status");
  ASSERT_TRUE(hostStatus.ok());
  auto inside = exec({"web", "-c", "a", "--", "cat", "/proc/self/status"});
  ASSERT_EQ(inside.code, 0) << inside.err;
  for (const char* field : {"CapBnd:", "CapEff:", "CapPrm:", "NoNewPrivs:", "Seccomp:"}) {
    auto line = [&](const std::string& text) {
      auto at = text.find(field);
      return at == std::string::npos ? std::string() : text.substr(at, text.find('\n', at) - at);
    };
    EXPECT_FALSE(line(*hostStatus).empty()) << field;
    EXPECT_EQ(line(inside.out), line(*hostStatus))
        << "exec'd command and container differ in " << field;
  }
  auto blocked = exec({"web", "-c", "a", "--", "unshare", "-n", "true"});
  EXPECT_NE(blocked.code, 0) << "the container's seccomp filter applies to exec'd commands too";
}

TEST_F(ExecTest, CommandSeesTheContainersView) {
  auto a = container("a");
  ASSERT_FALSE(a.is_null());
  pid_t pid = a["pid"].get<pid_t>();
  ASSERT_GT(pid, 0);

  EXPECT_EQ(exec({"web", "-c", "a", "--", "hostname"}).out, "exec-host\n");
  auto init = exec({"web", "-c", "a", "--", "cat", "/proc/1/cmdline"});
  EXPECT_NE(init.out.find("made-by-a"), std::string::npos) << init.out << init.err;

  // The same namespaces as the container's init, seen from the host.
  for (const std::string ns : {"net", "pid", "mnt", "uts", "ipc"}) {
    auto inside = exec({"web", "-c", "a", "--", "readlink", "/proc/self/ns/" + ns});
    EXPECT_EQ(trim(inside.out), hostNs(pid, ns)) << ns << ": " << inside.err;
  }
  EXPECT_NE(hostNs(pid, "net"), hostNs(::getpid(), "net"));

  // Its root filesystem: what the container wrote, and what the command writes lands there.
  EXPECT_EQ(exec({"web", "-c", "a", "--", "cat", "/tmp/marker"}).out, "made-by-a\n");
  auto write = exec({"web", "-c", "a", "--", "sh", "-c", "echo from-exec > /tmp/exec-file"});
  EXPECT_EQ(write.code, 0) << write.err;
  auto seen = readFile("/proc/" + std::to_string(pid) + "/root/tmp/exec-file");
  ASSERT_TRUE(seen.ok()) << seen.error().message;
  EXPECT_EQ(*seen, "from-exec\n");
  EXPECT_NE(exec({"web", "-c", "b", "--", "cat", "/tmp/exec-file"}).code, 0)
      << "container b has a rootfs of its own";

  // Its volumes and pod files: mounted in the container's own mount namespace, which exec joins.
  auto shared = exec({"web", "-c", "a", "--", "sh", "-c", "echo via-exec > /shared/f"});
  EXPECT_EQ(shared.code, 0) << shared.err;
  EXPECT_EQ(exec({"web", "-c", "b", "--", "cat", "/in/f"}).out, "via-exec\n");
  auto ro = exec({"web", "-c", "b", "--", "touch", "/in/g"});
  EXPECT_NE(ro.code, 0);
  EXPECT_NE(ro.err.find("Read-only file system"), std::string::npos) << ro.err;
  EXPECT_EQ(exec({"web", "-c", "b", "--", "cat", "/etc/hostname"}).out, "exec-host\n");
  auto hosts = exec({"web", "-c", "a", "--", "cat", "/etc/hosts"});
  EXPECT_NE(hosts.out.find("\texec-host\n"), std::string::npos) << hosts.out << hosts.err;

  // Its cgroup.
  std::string uid8 = b_->pod("web")["uid"].get<std::string>().substr(0, 8);
  auto cg = exec({"web", "-c", "a", "--", "cat", "/proc/self/cgroup"});
  EXPECT_NE(cg.out.find(b_->cgroupParent() + "/web-" + uid8 + "/a\n"), std::string::npos) << cg.out;

  // Its environment (PATH included), with -e on top.
  std::string path;
  auto initEnv = readFile("/proc/" + std::to_string(pid) + "/environ");
  ASSERT_TRUE(initEnv.ok()) << initEnv.error().message;
  for (const auto& kv : split(*initEnv, '\0')) {
    if (startsWith(kv, "PATH=")) path = kv.substr(5);
  }
  ASSERT_FALSE(path.empty());
  auto env = exec({"web", "-c", "a", "--", "sh", "-c", "echo $FOO $HOSTNAME $PATH"});
  EXPECT_EQ(env.out, "bar exec-host " + path + "\n") << env.err;
  auto over =
      exec({"-e", "FOO=baz", "-e", "NEW=1", "web", "-c", "a", "--", "sh", "-c", "echo $FOO $NEW"});
  EXPECT_EQ(over.out, "baz 1\n") << over.err;
  EXPECT_EQ(exec({"web", "-c", "a", "--", "pwd"}).out, "/\n");
}

TEST_F(ExecTest, ErrorsAreOneClearLine) {
  auto missing = exec({"web", "-c", "a", "--", "no-such-command", "x"});
  EXPECT_EQ(missing.code, 127);
  EXPECT_EQ(missing.err, "boxctl: exec web/a: exec \"no-such-command\": command not found\n");
  auto notExec = exec({"web", "-c", "a", "--", "/etc/passwd"});
  EXPECT_EQ(notExec.code, 126);
  EXPECT_EQ(notExec.err, "boxctl: exec web/a: exec \"/etc/passwd\": Permission denied\n");

  auto several = exec({"web", "--", "true"});
  EXPECT_EQ(several.code, 1);
  EXPECT_EQ(several.err, "boxctl: pod web has several containers; choose one with -c (a, b)\n");
  auto unknown = exec({"web", "-c", "zz", "--", "true"});
  EXPECT_EQ(unknown.err, "boxctl: pod web has no container \"zz\" (a, b)\n");
  auto noPod = exec({"nope", "--", "true"});
  EXPECT_EQ(noPod.err, "boxctl: pod \"nope\" not found in namespace \"default\"\n");
  auto noCmd = exec({"web", "-c", "a"});
  EXPECT_NE(noCmd.err.find("no command given"), std::string::npos) << noCmd.err;
  auto tty = exec({"-t", "web", "-c", "a", "--", "true"});
  EXPECT_EQ(tty.code, 1);
  EXPECT_EQ(tty.err, "boxctl: exec -t needs a terminal (stdin is not a tty)\n");

  b_->writeSpec("done.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: done}\nspec:\n  restartPolicy: "
                "Never\n  containers:\n  - name: c\n    image: busybox\n    command: [\"true\"]\n");
  ASSERT_TRUE(b_->waitPhase("done", "Succeeded")) << b_->status().dump(2);
  auto stopped = exec({"done", "--", "true"});
  EXPECT_EQ(stopped.code, 1);
  EXPECT_EQ(stopped.err, "boxctl: container done/c is not running (state Terminated)\n");
}

TEST_F(ExecTest, PtyRelaysTheTerminalAndItsWindowSize) {
  auto r =
      runInPty(boxctl({"exec", "-it", "web", "-c", "a", "--", "sh", "-c",
                       "tty; stty size; echo ready; read x; echo got:$x; stty size; exit 3"}),
               winsize{33, 77, 0, 0}, [](int master, std::string& out) {
                 if (!readUntil(master, out, "ready", 10000)) return;
                 winsize bigger{40, 100, 0, 0};
                 ::ioctl(master, TIOCSWINSZ, &bigger);  // SIGWINCH to boxctl, which passes it on
                 ssize_t n = ::write(master, "go\r", 3);
                 (void)n;
                 readUntil(master, out, "got:go", 10000);
               });
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("/dev/pts/0"), std::string::npos) << "a pty of the container's: " << r.out;
  EXPECT_NE(r.out.find("33 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("got:go"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("40 100"), std::string::npos) << r.out;
  // The user's terminal is back in the mode it was in (raw only while the command ran).
  EXPECT_EQ(r.after.c_lflag, r.before.c_lflag);
  EXPECT_EQ(r.after.c_iflag, r.before.c_iflag);
  EXPECT_EQ(r.after.c_oflag, r.before.c_oflag);

  // -t without -i: a terminal for the output, the keyboard stays with boxctl.
  auto t = runInPty(boxctl({"exec", "-t", "web", "-c", "a", "--", "sh", "-c",
                            "tty; [ -t 0 ] && echo stdin-is-tty; exit 4"}),
                    winsize{24, 80, 0, 0}, [](int, std::string&) {});
  EXPECT_EQ(t.code, 4) << t.out;
  EXPECT_NE(t.out.find("/dev/pts/"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("stdin-is-tty"), std::string::npos) << t.out;
}

TEST_F(ExecTest, ExecdProcessesEndWithThePod) {
  auto a = container("a");
  ASSERT_FALSE(a.is_null());
  ASSERT_FALSE(a["cgroupProcs"].empty()) << a.dump();
  std::string procs = a["cgroupProcs"][0];
  TempDir dir("exec-leak");
  Child bg;
  bg.pid = spawnIo(boxctl({"exec", "web", "-c", "a", "--", "sleep", "1000"}), "/dev/null",
                   dir / "out", dir / "err");
  ASSERT_GT(bg.pid, 0);
  pid_t sleeper = -1;
  ASSERT_TRUE(waitFor(
      [&] {
        auto list = readFile(procs);
        if (!list.ok()) return false;
        for (const auto& p : split(*list, '\n')) {
          if (p.empty()) continue;
          auto cmd = readFile("/proc/" + p + "/cmdline");
          if (cmd.ok() && *cmd == std::string("sleep\0"
                                              "1000\0",
                                              11))
            sleeper = std::stoi(p);
        }
        return sleeper > 0;
      },
      10000))
      << "the exec'd command is in the container's cgroup; " << *readFile(dir / "err");

  b_->removeSpec("web.yaml");
  ASSERT_TRUE(b_->waitGone("web")) << b_->status().dump(2);
  ASSERT_TRUE(waitFor([&] { return bg.exited(); }, 10000)) << "boxctl exec outlived the pod";
  EXPECT_GE(bg.code(), 128) << "the command was killed with the pod";
  EXPECT_FALSE(processAlive(sleeper));
  EXPECT_EQ(b_->leftovers(), std::vector<std::string>{});
}

}  // namespace
}  // namespace boxd::testing
