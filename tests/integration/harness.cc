#include "tests/integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/ipam.h"
#include "common/line_client.h"
#include "common/util.h"

extern char** environ;

namespace boxd::testing {

namespace {

std::string buildDir() {
  const char* b = std::getenv("BOXD_BUILD_DIR");
  return b != nullptr ? b : BOXD_TEST_BUILD_DIR;
}

const std::vector<std::string> kControllers = {"memory", "cpu", "cpuacct", "pids"};

// Starts argv with stdin from /dev/null and stdout+stderr to outPath; extra env on top of ours.
pid_t spawnTo(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& outPath, bool append, std::string* error) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, outPath.c_str(),
                                   O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> cenv, cargv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  std::vector<std::string> args = argv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  // spawnp: tools such as ip, nft and sqlite3 are found on PATH.
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    if (error != nullptr) *error = "spawn " + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

// Mount points below dir, in mount order (unmount in reverse).
std::vector<std::string> mountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, target;
    ss >> id >> parent >> dev >> root >> target;
    if (startsWith(target, dir + "/")) out.push_back(target);
  }
  return out;
}

}  // namespace

CmdResult run(const std::vector<std::string>& argv, int timeoutMs,
              const std::map<std::string, std::string>& env) {
  CmdResult r;
  TempDir out("out");
  std::string outPath = out / "out";
  pid_t pid = spawnTo(argv, env, outPath, false, &r.out);
  if (pid < 0) return r;
  int status = 0;
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (monotonicMs() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.out = "timed out: " + argv[0];
      return r;
    }
    ::usleep(2000);
  }
  auto content = readFile(outPath);
  r.out = content.ok() ? *content : "";
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool waitFor(const std::function<bool()>& cond, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (monotonicMs() < deadline) {
    if (cond()) return true;
    ::usleep(20 * 1000);
  }
  return cond();
}

const std::string& busyboxRootfs() {
  static TempDir dir("busybox");  // removed when the test binary exits
  static std::string rootfs = [] {
    std::string r = dir / "rootfs";
    const char* src = std::getenv("BOXD_SOURCE_DIR");
    std::string script = std::string(src != nullptr ? src : BOXD_TEST_SOURCE_DIR) +
                         "/packaging/make-busybox-rootfs.sh";
    auto res = run({"/bin/sh", script, r});
    if (res.code != 0) std::fprintf(stderr, "make-busybox-rootfs failed: %s\n", res.out.c_str());
    return r;
  }();
  return rootfs;
}

namespace {

// A /24 of 10.240.0.0/12 that no route of the host overlaps (parallel test runs pick their own).
std::string freeTestSubnet() {
  auto text = readFile("/proc/net/route");
  auto routes = agent::parseRoutes(text.ok() ? *text : "", "");
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint32_t r = static_cast<uint32_t>(std::stoul(randomHex(2), nullptr, 16));
    agent::Ipv4Net candidate{(10u << 24) | ((240u + (r >> 12 & 15u)) << 16) | ((r & 255u) << 8),
                             24};
    bool taken = false;
    for (const auto& route : routes) taken = taken || route.overlaps(candidate);
    if (!taken) return candidate.str();
  }
  return "10.255.254.0/24";
}

}  // namespace

Boxd::Boxd() {
  cgroupParent_ = "boxd-test-" + randomHex(4);
  std::string id = randomHex(4);
  bridge_ = "bxt" + id;
  nftTable_ = "boxdt_" + id;
  subnet_ = freeTestSubnet();
  gateway_ = subnet_.substr(0, subnet_.rfind('.')) + ".1";
  (void)mkdirAll(specs());
  configPath_ = dir_ / "boxd.yaml";
  (void)writeFileAtomic(configPath_,
                        "restartBackoffSeconds: 1\nrescanSeconds: 2\nresyncSeconds: 1\n"
                        "network:\n  bridge: " +
                            bridge_ + "\n  subnet: " + subnet_ + "\n  nftTable: " + nftTable_ +
                            "\n  masquerade: false\n  ipForward: false\n");
}

Boxd::~Boxd() {
  if (running()) {
    // Tear everything down the way an operator would: empty the specs dir.
    (void)removeAll(specs());
    (void)mkdirAll(specs());
    waitFor([&] { return status()["pods"].empty(); }, 15000);
    stop();
  }
  if (!leftovers().empty()) forceCleanup();
  for (const auto& c : kControllers) ::rmdir(("/sys/fs/cgroup/" + c + "/" + cgroupParent_).c_str());
  // The shared network objects boxd keeps between pods, created by this test's boxd only.
  (void)run({"ip", "link", "delete", bridge_, "type", "bridge"});
  (void)run({"nft", "delete", "table", "ip", nftTable_});
}

void Boxd::addConfig(const std::string& yaml) {
  auto current = readFile(configPath_);
  (void)writeFileAtomic(configPath_, (current.ok() ? *current : "") + yaml);
}

std::string Boxd::bin(const std::string& name) const { return buildDir() + "/bin/" + name; }

void Boxd::start(const std::map<std::string, std::string>& env) {
  // Tests reach no registry but the ones they run: unless a test configures images itself,
  // boxd pulls nothing (a pod whose image is absent waits with ImageNotFound).
  if (auto cfg = readFile(configPath_); cfg.ok() && cfg->find("\nimages:") == std::string::npos)
    addConfig("images:\n  offline: true\n");
  std::vector<std::string> argv = {bin("boxd"), "--config",        configPath_,   "--specs",
                                   specs(),     "--state-dir",     stateDir(),    "--run-dir",
                                   runDir(),    "--cgroup-parent", cgroupParent_, "--log-level",
                                   "debug"};
  pid_ = spawnTo(argv, env, dir_ / "boxd.log", true, nullptr);
  if (pid_ < 0) return;
  // The socket answering, not just existing: a boxd killed before left its socket file behind.
  waitFor([&] { return !running() || !rawRequest("{\"op\":\"status\"}").empty(); }, 10000);
}

bool Boxd::running() const {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t w = ::waitpid(pid_, &status, WNOHANG);
  if (w == pid_) {
    const_cast<Boxd*>(this)->pid_ = -1;
    return false;
  }
  return true;
}

void Boxd::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!waitFor([&] { return !running(); }, 10000)) kill9();
}

void Boxd::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Boxd::log() const {
  auto l = readFile(dir_ / "boxd.log");
  return l.ok() ? *l : "";
}

CmdResult Boxd::boxctl(const std::vector<std::string>& args, int timeoutMs) {
  std::vector<std::string> argv = {bin("boxctl"), "--run-dir", runDir()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeoutMs);
}

nlohmann::json Boxd::status() {
  auto r = boxctl({"status", "-A", "-o", "json"});  // every namespace's pods
  if (r.code != 0)
    return nlohmann::json::object({{"pods", nlohmann::json::array()}, {"error", r.out}});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object({{"pods", nlohmann::json::array()}}) : j;
}

std::string Boxd::rawRequest(const std::string& line) {
  auto reply = requestLine(runDir() + "/boxd.sock", line, 5000);
  return reply.ok() ? *reply : "";
}

namespace {
// "name" in the default namespace, "namespace/name" elsewhere (specs::objectKey).
std::string podKey(const nlohmann::json& p) {
  std::string ns = p.value("namespace", std::string("default"));
  return (ns == "default" ? "" : ns + "/") + p.value("name", std::string());
}
}  // namespace

nlohmann::json Boxd::pod(const std::string& name) {
  nlohmann::json s = status();  // keep it alive: a range over status()["pods"] would dangle
  for (const auto& p : s["pods"]) {
    if (podKey(p) == name) return p;
  }
  return nullptr;
}

void Boxd::importBusybox(const std::string& name) {
  boxctl({"image", "import", name, busyboxRootfs()}, 120000);
}

void Boxd::writeSpec(const std::string& file, const std::string& content) {
  (void)writeFileAtomic(specs() + "/" + file, content);
}

void Boxd::removeSpec(const std::string& file) { ::unlink((specs() + "/" + file).c_str()); }

bool Boxd::waitPhase(const std::string& name, const std::string& phase, int timeoutMs) {
  return waitFor(
      [&] {
        auto p = pod(name);
        return !p.is_null() && p["phase"] == phase;
      },
      timeoutMs);
}

bool Boxd::waitContainersRunning(const std::string& name, int timeoutMs) {
  return waitFor(
      [&] {
        auto p = pod(name);
        if (p.is_null() || p["phase"] != "Running" || p["containers"].empty()) return false;
        for (const auto& c : p["containers"])
          if (c["state"] != "Running" || c.value("pid", 0) <= 0) return false;
        return true;
      },
      timeoutMs);
}

bool Boxd::waitGone(const std::string& name, int timeoutMs) {
  return waitFor(
      [&] {
        nlohmann::json s = status();
        if (s.contains("error")) return false;  // boxd not answering is not "gone"
        for (const auto& p : s["pods"]) {
          if (podKey(p) == name) return false;
        }
        return true;
      },
      timeoutMs);
}

std::vector<std::pair<int, std::string>> Boxd::planSteps(const std::string& pod,
                                                         const std::string& prefix) {
  std::vector<std::pair<int, std::string>> out;
  auto j = nlohmann::json::parse(boxctl({"describe", pod, "-o", "json"}).out, nullptr, false);
  if (!j.is_object() || !j.contains("resources")) return out;
  for (const auto& r : j["resources"]) {
    std::string kind = r.value("kind", "");
    if (startsWith(kind, prefix)) out.emplace_back(r.value("step", 0), kind);
  }
  return out;
}

std::vector<std::string> Boxd::leftovers() {
  std::vector<std::string> out;
  for (const auto& m : mountsUnder(dir_.path())) out.push_back("mount " + m);
  for (const auto& c : kControllers) {
    std::string d = "/sys/fs/cgroup/" + c + "/" + cgroupParent_;
    DIR* dir = ::opendir(d.c_str());
    if (dir == nullptr) continue;
    while (struct dirent* e = ::readdir(dir)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.')
        out.push_back("cgroup " + d + "/" + e->d_name);
    }
    ::closedir(dir);
  }
  DIR* proc = ::opendir("/proc");
  while (proc != nullptr && (errno = 0, true)) {
    struct dirent* e = ::readdir(proc);
    if (e == nullptr) break;
    pid_t p = std::atoi(e->d_name);
    if (p <= 0 || p == pid_) continue;
    auto cmd = readFile("/proc/" + std::to_string(p) + "/cmdline");
    if (cmd.ok() && cmd->find(runDir()) != std::string::npos && processAlive(p)) {
      out.push_back("process " + std::to_string(p));
    }
  }
  if (proc != nullptr) ::closedir(proc);
  auto links = run({"ip", "-o", "link", "show", "master", bridge_});
  for (const auto& l : split(links.code == 0 ? links.out : "", '\n')) {
    if (!trim(l).empty()) out.push_back("link " + trim(l).substr(0, 40));
  }
  // The hostPort maps only: the localnet guard's set of bridges stays, like the bridge.
  for (const char* map : {"hostports", "hostip_ports"}) {
    auto elements = run({"nft", "list", "map", "ip", nftTable_, map});
    if (elements.code == 0 && elements.out.find("elements = {") != std::string::npos)
      out.push_back("nftables mappings in map " + std::string(map) + " of table ip " + nftTable_);
  }
  for (const auto& loop : loopsUnder(dir_.path())) out.push_back("loop device " + loop);
  auto rows = run({"sqlite3", "-readonly", stateDir() + "/boxd.db",
                   "SELECT address || ' ' || pod FROM addresses"});
  for (const auto& l : split(rows.code == 0 ? rows.out : "", '\n')) {
    if (!trim(l).empty()) out.push_back("address " + trim(l));
  }
  return out;
}

void Boxd::forceCleanup() {
  for (const auto& l : leftovers()) {
    if (startsWith(l, "process ")) ::kill(std::atoi(l.c_str() + 8), SIGKILL);
  }
  // Kill everything in the test's cgroups, deepest first, then remove them.
  for (int round = 0; round < 3; ++round) {
    for (const auto& c : kControllers) {
      auto r = run({"/bin/sh", "-c",
                    "find /sys/fs/cgroup/" + c + "/" + cgroupParent_ +
                        " -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 "
                        "2>/dev/null; true"});
      (void)r;
    }
    ::usleep(100 * 1000);
  }
  (void)run({"/bin/sh", "-c",
             "ip -o link show master " + bridge_ +
                 " | awk -F': ' '{print $2}' | cut -d@ -f1 | xargs -r -n1 ip link delete"});
  auto targets = mountsUnder(dir_.path());
  for (auto it = targets.rbegin(); it != targets.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
  for (const auto& loop : loopsUnder(dir_.path())) {
    (void)run({"losetup", "-d", loop.substr(0, loop.find(' '))}, 10000);
  }
  for (const auto& c : kControllers) {
    run({"/bin/sh", "-c",
         "find /sys/fs/cgroup/" + c + "/" + cgroupParent_ +
             " -depth -type d -exec rmdir {} + 2>/dev/null; true"});
  }
}

// Loop devices whose backing file lies under dir ("/dev/loop3 (backing file)"): a block volume
// boxd did not detach.
std::vector<std::string> loopsUnder(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir("/sys/block");
  while (d != nullptr) {
    struct dirent* e = ::readdir(d);
    if (e == nullptr) break;
    std::string name = e->d_name;
    if (!startsWith(name, "loop")) continue;
    auto backing = readFile("/sys/block/" + name + "/loop/backing_file");
    if (backing.ok() && startsWith(trim(*backing), dir + "/"))
      out.push_back("/dev/" + name + " (" + trim(*backing) + ")");
  }
  if (d != nullptr) ::closedir(d);
  return out;
}

std::string twoContainerPod(const std::string& name, int grace) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: " + std::to_string(grace) +
         "\n  containers:\n"
         "  - name: a\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hello from a; trap "
         "'exit 0' TERM; "
         "while true; do sleep 1 & wait; done\"]\n"
         "    resources:\n      limits: {memory: 32Mi, cpu: 200m}\n"
         "  - name: b\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hello from b; trap "
         "'exit 0' TERM; "
         "while true; do sleep 1 & wait; done\"]\n";
}

}  // namespace boxd::testing
