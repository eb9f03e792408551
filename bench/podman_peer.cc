#include "bench/podman_peer.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common/util.h"

namespace boxd::bench {

namespace {

constexpr const char* kPath = "/usr/sbin:/usr/bin:/sbin:/bin";

std::string makeDir(const std::string& tmpl) {
  std::string t = tmpl;
  if (::mkdtemp(t.data()) == nullptr)
    throw BenchError("mkdtemp " + tmpl + ": " + std::strerror(errno));
  return t;
}

void put(const std::string& path, const std::string& content) {
  Status st = writeFileAtomic(path, content);
  if (!st.ok()) throw BenchError(st.error().message);
}

bool mounted(const std::string& target) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, t;
    ss >> id >> parent >> dev >> root >> t;
    if (t == target) return true;
  }
  return false;
}

// root and every directory below it, parents before children.
void collectDirs(const std::string& root, std::vector<std::string>& out) {
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return;
  out.push_back(root);
  std::vector<std::string> subs;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_type == DT_DIR && e->d_name[0] != '.') subs.emplace_back(root + "/" + e->d_name);
  }
  ::closedir(d);
  for (const auto& s : subs) collectDirs(s, out);
}

std::string firstLine(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

bool PodmanRun::installed() {
  for (const char* c : {"podman", "crun", "conmon", "unshare", "nsenter"}) {
    if (!commandExists(c)) return false;
  }
  return true;
}

PodmanRun::PodmanRun() {
  runDir_ = makeDir("/run/boxd-bench-podman-XXXXXX");
  try {
    tmpDir_ = makeDir("/tmp/boxd-bench-podman-XXXXXX");
  } catch (const BenchError&) {
    ::rmdir(runDir_.c_str());
    throw;
  }
}

PodmanRun::~PodmanRun() { (void)cleanup(); }

// Directories podman, crun and the mount tools create on the host outside our own dirs:
// cgroups under libpod_parent (cgroupfs manager; the named systemd hierarchy keeps pod dirs
// after removal), crun's state root, libmount's /run/mount, the blob-cache mount point.
// Only what was absent before setup() is removed afterwards (rmdir: only if empty).
std::vector<std::string> PodmanRun::hostDirsPeerMayCreate() const {
  std::vector<std::string> out;
  DIR* d = ::opendir("/sys/fs/cgroup");
  while (d != nullptr) {
    struct dirent* e = ::readdir(d);
    if (e == nullptr) break;
    if (e->d_type == DT_DIR && e->d_name[0] != '.') {
      collectDirs(std::string("/sys/fs/cgroup/") + e->d_name + "/libpod_parent", out);
    }
  }
  if (d != nullptr) ::closedir(d);
  collectDirs("/sys/fs/cgroup/libpod_parent", out);
  for (const char* p : {"/run/crun", "/run/containers", "/run/libpod", "/run/mount",
                        "/var/lib/containers", "/var/lib/cni"}) {
    collectDirs(p, out);
  }
  return out;
}

void PodmanRun::setup(const std::string& rootfs) {
  for (const auto& p : hostDirsPeerMayCreate()) existedBefore_.insert(p);
  snapshotTaken_ = true;
  put(runDir_ + "/containers.conf",
      "[containers]\n"
      "log_driver = \"k8s-file\"\n"
      "default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n"
      "[engine]\n"
      "cgroup_manager = \"cgroupfs\"\n"
      "events_logger = \"file\"\n"
      "runtime = \"crun\"\n"
      "tmp_dir = \"" +
          runDir_ +
          "/libpod\"\n"
          "[network]\n"
          "network_config_dir = \"" +
          runDir_ + "/cni\"\n");
  put(runDir_ + "/storage.conf",
      "[storage]\n"
      "driver = \"overlay\"\n"
      "graphroot = \"" +
          tmpDir_ +
          "/storage\"\n"
          "runroot = \"" +
          runDir_ + "/storage\"\n");
  put(runDir_ + "/mntns", "");
  // podman keeps a host-wide blob-info cache in /var/lib/containers/cache whatever graphroot
  // says: give it a tmpfs there inside the namespace (the empty mount point, if we create it,
  // goes at cleanup with the other dirs that were not there before).
  Status mp = mkdirAll("/var/lib/containers", 0700);
  if (!mp.ok()) throw BenchError(mp.error().message);
  // A persistent mount namespace (bound on runDir_/mntns) without the hybrid cgroup2 mount.
  auto ns = runCmd(
      {"unshare", "--mount=" + runDir_ + "/mntns", "--propagation", "private", "sh", "-c",
       "set -e; if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then umount "
       "/sys/fs/cgroup/unified; fi; mount -t tmpfs -o mode=0700 boxd-bench /var/lib/containers"},
      {.timeoutMs = 10000});
  nsMounted_ = mounted(runDir_ + "/mntns");
  if (ns.code != 0 || !nsMounted_)
    throw BenchError("unshare --mount=" + runDir_ + "/mntns: " + ns.out);
  auto tar =
      runCmd({"tar", "-C", rootfs, "-cf", tmpDir_ + "/busybox.tar", "."}, {.timeoutMs = 60000});
  if (tar.code != 0) throw BenchError("tar " + rootfs + ": " + tar.out);
  auto imp = podman(
      {"import", "--change", std::string("ENV PATH=") + kPath, tmpDir_ + "/busybox.tar", image()},
      120000);
  if (imp.code != 0) throw BenchError("podman import: " + imp.out);
}

CmdResult PodmanRun::podman(const std::vector<std::string>& args, int timeoutMs,
                            bool cleanupPath) const {
  std::vector<std::string> argv = {"nsenter", "--mount=" + runDir_ + "/mntns", "podman"};
  argv.insert(argv.end(), args.begin(), args.end());
  CmdOptions opt;
  opt.timeoutMs = timeoutMs;
  opt.ignoreInterrupt = cleanupPath;
  opt.env = {{"CONTAINERS_CONF", runDir_ + "/containers.conf"},
             {"CONTAINERS_STORAGE_CONF", runDir_ + "/storage.conf"}};
  return runCmd(argv, opt);
}

std::string PodmanRun::version() {
  auto r = podman({"--version"}, 20000);
  return r.code == 0 ? trim(firstLine(r.out)) : "podman (version unknown)";
}

PodmanRun::Play PodmanRun::play(const std::string& file, const std::vector<std::string>& pods,
                                int timeoutMs) {
  Play out;
  int64_t t0 = nowMs();
  int64_t deadline = monotonicMs() + timeoutMs;
  auto r = podman({"kube", "play", "--network", "none", file}, timeoutMs);
  out.cmdMs = static_cast<double>(r.ms);
  if (r.timedOut) {
    out.timedOut = true;
    return out;
  }
  if (r.code != 0) throw BenchError("podman kube play " + file + ": " + r.out);
  std::map<std::string, bool> wanted;
  for (const auto& p : pods) wanted[p + "-a"] = wanted[p + "-b"] = false;
  int64_t lastStart = 0;
  for (;;) {
    throwIfInterrupted();
    auto ids = podman({"ps", "-aq"}, 60000);
    std::vector<std::string> args = {"inspect", "--format",
                                     "{{.Name}} {{.State.Status}} {{.State.StartedAt.UnixMilli}}"};
    for (const auto& id : split(ids.out, '\n')) {
      if (!trim(id).empty()) args.push_back(trim(id));
    }
    size_t running = 0;
    auto ins = args.size() > 3 ? podman(args, 60000) : CmdResult{};
    for (const auto& line : split(ins.out, '\n')) {
      auto f = split(trim(line), ' ');
      if (f.size() != 3 || wanted.count(f[0]) == 0 || f[1] != "running") continue;
      running++;
      lastStart = std::max<int64_t>(lastStart, std::atoll(f[2].c_str()));
    }
    if (running == wanted.size()) break;
    if (monotonicMs() > deadline) {
      out.timedOut = true;
      return out;
    }
    sleepMs(100);
  }
  out.upMs = static_cast<double>(lastStart - t0);
  return out;
}

double PodmanRun::down(const std::string& file, int timeoutMs) {
  auto r = podman({"kube", "down", file}, timeoutMs);
  if (r.timedOut) return -1;
  if (r.code != 0) throw BenchError("podman kube down " + file + ": " + r.out);
  auto left = podman({"ps", "-aq"}, 60000);
  auto pods = podman({"pod", "ps", "-q"}, 60000);
  if (!trim(left.out).empty() || !trim(pods.out).empty()) {
    throw BenchError("podman kube down " + file + " left pods/containers: " + left.out + pods.out);
  }
  return static_cast<double>(r.ms);
}

int64_t PodmanRun::conmonRssKb() const {
  int64_t sum = 0;
  for (pid_t p : pidsWhoseCmdlineContains(runDir_)) {
    auto comm = readFile("/proc/" + std::to_string(p) + "/comm");
    if (comm.ok() && trim(*comm) == "conmon") sum += std::max<int64_t>(0, rssKb(p));
  }
  return sum;
}

std::vector<std::string> PodmanRun::cleanup() {
  if (cleaned_) return {};
  cleaned_ = true;
  std::vector<std::string> forced;
  if (nsMounted_) {
    auto pr = podman({"pod", "rm", "--all", "--force", "--time", "0"}, 180000, true);
    auto cr = podman({"rm", "--all", "--force", "--time", "0"}, 180000, true);
    if (pr.code != 0 || cr.code != 0) forced.push_back("podman rm: " + pr.out + cr.out);
  }
  // conmon and its exit commands (`podman container cleanup`) name our dirs on their command line.
  auto ours = [&] {
    auto a = pidsWhoseCmdlineContains(runDir_), b = pidsWhoseCmdlineContains(tmpDir_);
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  if (!waitQuietly([&] { return ours().empty(); }, 20000, 50)) {
    for (pid_t p : ours()) {
      forced.push_back("process " + std::to_string(p));
      ::kill(p, SIGKILL);
    }
    waitQuietly([&] { return ours().empty(); }, 5000, 50);
  }
  if (mounted(runDir_ + "/mntns") && ::umount2((runDir_ + "/mntns").c_str(), MNT_DETACH) != 0) {
    forced.push_back("umount " + runDir_ + "/mntns: " + std::strerror(errno));
  }
  for (const auto& dir : {runDir_, tmpDir_}) {
    Status st = removeAll(dir);
    if (!st.ok()) forced.push_back("remove " + dir + ": " + st.error().message);
  }
  auto now = snapshotTaken_ ? hostDirsPeerMayCreate() : std::vector<std::string>{};
  for (auto it = now.rbegin(); it != now.rend(); ++it) {  // children before parents
    if (existedBefore_.count(*it) == 0 && ::rmdir(it->c_str()) != 0) {
      forced.push_back("rmdir " + *it + ": " + std::strerror(errno));
    }
  }
  return forced;
}

}  // namespace boxd::bench
