#include "bench/boxd_peer.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bench/proc.h"
#include "common/fd.h"
#include "common/line_client.h"
#include "common/util.h"

namespace boxd::bench {

using nlohmann::json;

namespace {

// Mount points at or under dir, deepest first.
std::vector<std::string> mountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, target;
    ss >> id >> parent >> dev >> root >> target;
    if (target == dir || startsWith(target, dir + "/")) out.push_back(target);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return out;
}

// Loop devices whose backing file is at or under dir ("/dev/loopN").
std::vector<std::string> loopsBackedUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& name : listDirNames("/sys/block")) {
    if (!startsWith(name, "loop")) continue;
    auto backing = readFile("/sys/block/" + name + "/loop/backing_file");
    if (backing.ok() && startsWith(trim(*backing), dir + "/")) out.push_back("/dev/" + name);
  }
  return out;
}

// Every directory under root (root included), deepest first.
std::vector<std::string> dirsDepthFirst(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& sub : listDirNames(root, true)) {
    auto below = dirsDepthFirst(root + "/" + sub);
    out.insert(out.end(), below.begin(), below.end());
  }
  if (::access(root.c_str(), F_OK) == 0) out.push_back(root);
  return out;
}

std::string makeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw BenchError("mkdtemp " + tmpl + ": " + std::strerror(errno));
  return tmpl;
}

}  // namespace

json socketCall(const std::string& socketPath, const json& req, int timeoutMs) {
  auto line = requestLine(socketPath, req.dump(), timeoutMs);
  if (!line.ok()) throw BenchError("boxd " + req.value("op", "") + ": " + line.error().message);
  json reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded()) throw BenchError("malformed answer from boxd");
  if (!reply.value("ok", false))
    throw BenchError("boxd: " + reply.value("error", std::string("request failed")));
  return reply;
}

PodStepTimes parseStepTimes(const std::string& logText) {
  PodStepTimes out;
  for (const auto& line : split(logText, '\n')) {
    size_t pod = line.find("pod "), step = line.find(": step "), in = line.find(" applied in ");
    if (pod == std::string::npos || step == std::string::npos || in == std::string::npos ||
        !(pod < step && step < in))
      continue;
    // ": step N KIND" → KIND is the word after N
    std::string nk = line.substr(step + 7, in - step - 7);
    size_t sp = nk.find(' ');
    if (sp == std::string::npos) continue;
    StepTime& t = out[line.substr(pod + 4, step - pod - 4)][nk.substr(sp + 1)];
    t.us += std::strtod(line.c_str() + in + 12, nullptr);
    t.count++;
  }
  return out;
}

BoxdRun::BoxdRun(std::string binDir, std::string sourceDir, BenchNetwork net)
    : binDir_(std::move(binDir)), sourceDir_(std::move(sourceDir)), net_(std::move(net)) {
  dir_ = makeTempDir("boxd-bench");
  cgroupParent_ = "boxd-bench-" + randomHex(4);
  for (const auto& d : {specsDir(), dir_ + "/state", runDir()}) {
    Status st = mkdirAll(d);
    if (!st.ok()) {
      (void)removeAll(dir_);
      throw BenchError(st.error().message);
    }
  }
}

BoxdRun::~BoxdRun() { (void)cleanup(); }

void BoxdRun::start() {
  if (!launch())
    throw BenchError("boxd did not answer on its socket within 10 s; see " + dir_ + "/boxd.log");
}

bool BoxdRun::launch() {
  // Defaults for everything timing-related (no test overrides): what an operator gets. Debug
  // level adds one log line per step, with its apply time (stepTimes()).
  Status st =
      writeFileAtomic(dir_ + "/boxd.yaml", "logLevel: debug\n" + net_.configYaml() + extraConfig_);
  if (!st.ok()) return false;
  try {
    pid_ = spawnDaemon(
        {binDir_ + "/boxd", "--config", dir_ + "/boxd.yaml", "--specs", specsDir(), "--state-dir",
         dir_ + "/state", "--run-dir", runDir(), "--cgroup-parent", cgroupParent_},
        dir_ + "/boxd.log");
  } catch (const BenchError&) {
    return false;
  }
  return waitQuietly(
             [&] {
               if (!childRunning(pid_)) return true;
               try {
                 call({{"op", "config"}}, 1000);
                 return true;
               } catch (const BenchError&) {
                 return false;
               }
             },
             10000, 10) &&
         childRunning(pid_);
}

void BoxdRun::importBusybox(const std::string& rootfs) {
  auto r = runCmd({boxctl(), "--run-dir", runDir(), "image", "import", "busybox", rootfs},
                  {.timeoutMs = 120000});
  if (r.code != 0) throw BenchError("boxctl image import: " + r.out);
}

json BoxdRun::call(const json& req, int timeoutMs) const {
  return socketCall(runDir() + "/boxd.sock", req, timeoutMs);
}

void BoxdRun::stageSpec(const std::string& name, const std::string& content) const {
  std::string stage = specsDir() + "/." + name + ".yaml.stage";
  Fd fd(::open(stage.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) throw BenchError("create " + stage + ": " + std::strerror(errno));
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size()) ||
      ::fsync(fd.get()) != 0) {
    throw BenchError("write " + stage + ": " + std::strerror(errno));
  }
}

int64_t BoxdRun::commitSpec(const std::string& name) const {
  std::string stage = specsDir() + "/." + name + ".yaml.stage";
  int64_t t0 = nowMs();
  if (::rename(stage.c_str(), (specsDir() + "/" + name + ".yaml").c_str()) != 0) {
    throw BenchError("rename " + stage + ": " + std::strerror(errno));
  }
  return t0;
}

void BoxdRun::removeSpec(const std::string& name) const {
  std::string path = specsDir() + "/" + name + ".yaml";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    throw BenchError("remove " + path + ": " + std::strerror(errno));
}

void BoxdRun::writeSecrets(const std::string& file, const std::string& content) const {
  Status st = writeFileAtomic(specsDir() + "/" + file, content, 0600);
  if (!st.ok()) throw BenchError("write " + file + ": " + st.error().message);
}

bool BoxdRun::allRunning(const std::vector<std::string>& pods) const {
  json s = call({{"op", "status"}});
  size_t running = 0;
  for (const auto& p : s["pods"]) {
    if (std::find(pods.begin(), pods.end(), p.value("name", "")) == pods.end()) continue;
    bool all = !p["containers"].empty();
    for (const auto& c : p["containers"]) all = all && c.value("state", "") == "Running";
    if (all) running++;
  }
  return running == pods.size();
}

int64_t BoxdRun::lastEventMs(const std::string& pod, const std::string& reason) const {
  json evs = call({{"op", "events"}, {"name", pod}, {"limit", 50}})["events"];
  int64_t last = 0;
  for (const auto& e : evs) {
    if (e.value("reason", "") == reason && e.value("pod", "") == pod)
      last = std::max(last, e.value("timeMs", int64_t{0}));
  }
  return last;
}

bool BoxdRun::hasPod(const std::string& pod) const {
  json s = call({{"op", "status"}});  // named: a range over call(...)["pods"] would dangle
  for (const auto& p : s["pods"]) {
    if (p.value("name", "") == pod) return true;
  }
  return false;
}

bool BoxdRun::noPods() const { return call({{"op", "status"}})["pods"].empty() && podsDirEmpty(); }

bool BoxdRun::podsDirEmpty() const { return listDirNames(podsDir(), false).empty(); }

std::vector<pid_t> BoxdRun::shimPids() const {
  std::vector<pid_t> out;
  for (const auto& f : listDirNames(runDir() + "/shims", false)) {
    if (!endsWith(f, ".pid")) continue;
    auto content = readFile(runDir() + "/shims/" + f);
    pid_t p = content.ok() ? std::atoi(trim(*content).c_str()) : 0;
    if (p > 0 && processAlive(p)) out.push_back(p);
  }
  return out;
}

PodStepTimes BoxdRun::stepTimes() const {
  auto log = readFile(dir_ + "/boxd.log");
  return log.ok() ? parseStepTimes(*log) : PodStepTimes{};
}

std::vector<std::string> BoxdRun::cgroupDirs() const {
  std::vector<std::string> out;
  for (const auto& h : listDirNames("/sys/fs/cgroup", true))
    out.push_back("/sys/fs/cgroup/" + h + "/" + cgroupParent_);
  out.push_back("/sys/fs/cgroup/" + cgroupParent_);  // a pure cgroup2 host
  return out;
}

std::vector<std::string> BoxdRun::cleanup() {
  if (cleaned_) return {};
  cleaned_ = true;
  // The operator's way: empty the specs dir and let boxd tear every pod down. If boxd died,
  // start it again: it re-adopts the shims and tears down pods that are no longer declared.
  for (const auto& f : listDirNames(specsDir(), false)) ::unlink((specsDir() + "/" + f).c_str());
  for (const auto& f : listDirNames(specsDir(), false)) ::unlink((specsDir() + "/" + f).c_str());
  bool hadPods = !podsDirEmpty() || !shimPids().empty();
  if (hadPods && !childRunning(pid_) && pid_ > 0) {
    (void)launch();
  }
  if (childRunning(pid_)) {
    waitQuietly(
        [&] {
          try {
            return noPods();
          } catch (const BenchError&) {
            return false;
          }
        },
        60000, 50);
    stopChild(pid_, 10000);
  }
  std::vector<std::string> forced = forceCleanup();
  for (const auto& d : cgroupDirs()) ::rmdir(d.c_str());
  if (!keepLogDir_.empty()) {
    auto log = readFile(dir_ + "/boxd.log");
    Status st = log.ok() ? writeFileAtomic(keepLogDir_ + "/" + keepLogName_ + ".log", *log)
                         : Status(log.error());
    if (!st.ok()) forced.push_back("could not keep boxd.log: " + st.error().message);
  }
  // After the mounts are gone (pinned netns freed, veths with them) and boxd has stopped.
  for (auto& l : net_.remove()) forced.push_back(std::move(l));
  std::vector<std::string> mounts = mountsUnder(dir_);
  if (mounts.empty()) {
    Status st = removeAll(dir_);
    if (!st.ok()) forced.push_back("could not remove " + dir_ + ": " + st.error().message);
  } else {
    forced.push_back("left " + dir_ + " in place: still mounted " + mounts.front());
  }
  return forced;
}

// Whatever a clean teardown should have removed: processes naming our run dir (shims,
// containers), processes in our cgroups, mounts under our dir, our cgroup dirs.
std::vector<std::string> BoxdRun::forceCleanup() {
  std::vector<std::string> forced;
  for (int round = 0; round < 3; ++round) {
    std::vector<pid_t> pids = pidsWhoseCmdlineContains(runDir());
    for (const auto& cg : cgroupDirs()) {
      for (const auto& d : dirsDepthFirst(cg)) {
        auto procs = readFile(d + "/cgroup.procs");
        if (!procs.ok()) continue;
        for (const auto& l : split(*procs, '\n')) {
          if (!trim(l).empty()) pids.push_back(std::atoi(l.c_str()));
        }
      }
    }
    if (pids.empty()) break;
    for (pid_t p : pids) {
      if (round == 0) forced.push_back("process " + std::to_string(p));
      ::kill(p, SIGKILL);
    }
    waitQuietly([&] { return std::none_of(pids.begin(), pids.end(), processAlive); }, 3000);
  }
  // The filesystems first (their loop devices are busy until then), then the loops, then the
  // FUSE mounts the loops stood on.
  std::vector<std::string> loops = loopsBackedUnder(dir_);
  for (const auto& m : mountsUnder(dir_)) {
    forced.push_back("mount " + m);
    ::umount2(m.c_str(), MNT_DETACH);
  }
  for (const auto& l : loops) {
    forced.push_back("loop device " + l);
    Fd fd(::open(l.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd) ::ioctl(fd.get(), LOOP_CLR_FD, 0);
  }
  for (const auto& cg : cgroupDirs()) {
    for (const auto& d : dirsDepthFirst(cg)) {
      if (d != cg) forced.push_back("cgroup " + d);
      ::rmdir(d.c_str());
    }
  }
  return forced;
}

}  // namespace boxd::bench
