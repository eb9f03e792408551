#include "reconcilers/sandbox/shim_step.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/util.h"
#include "reconcilers/host/host.h"
#include "reconcilers/sandbox/shim_client.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::reconcilers {

namespace proto = shimproto;

namespace {

bool sameProcess(const ShimIdentity& id) {
  if (id.pid <= 0 || !processAlive(id.pid)) return false;
  auto start = processStartTime(id.pid);
  return start.ok() && *start == id.startTime;
}

// True if /proc/PID/cmdline holds "--socket <socketPath>": that process is this pod's shim.
bool cmdlineNamesSocket(pid_t pid, const std::string& socketPath) {
  auto cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
  if (!cmdline.ok()) return false;
  auto args = split(*cmdline, '\0');
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--socket" && args[i + 1] == socketPath) return true;
  }
  return false;
}

std::optional<pid_t> pidFromFile(const std::string& path) {
  auto text = readFile(path);
  if (!text.ok()) return std::nullopt;
  std::string t = trim(*text);
  char* end = nullptr;
  long pid = std::strtol(t.c_str(), &end, 10);
  if (t.empty() || *end != '\0' || pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// Zombies count as gone: the shim's parent is init, which may reap late.
Status waitGone(pid_t pid, int timeoutMs) {
  int64_t deadline = monotonicMs() + timeoutMs;
  while (processAlive(pid)) {
    if (monotonicMs() >= deadline)
      return makeError("shim pid " + std::to_string(pid) + " still running after " +
                           std::to_string(timeoutMs) + " ms",
                       ETIMEDOUT);
    ::usleep(10000);
  }
  return {};
}

Status removeIfPresent(const std::string& path) {
  if (path.empty() || ::unlink(path.c_str()) == 0 || errno == ENOENT) return {};
  return sysError("remove", path);
}

bool socketExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

}  // namespace

ShimStep::ShimStep(ShimConfig config, int graceSeconds, ShimIdentity recorded)
    : config_(std::move(config)), graceSeconds_(graceSeconds), id_(recorded) {}

Result<std::unique_ptr<ShimStep>> ShimStep::fromParams(const nlohmann::json& p) {
  if (!p.is_object()) return makeError("shim step params: not an object");
  ShimConfig c;
  int grace = 30;
  ShimIdentity id;
  Status st = proto::getString(p, "socket", c.socketPath, true);
  if (st.ok()) st = proto::getString(p, "pidFile", c.pidFile, true);
  if (st.ok()) st = proto::getString(p, "podName", c.podName);
  if (st.ok()) st = proto::getString(p, "podUid", c.podUid);
  if (st.ok()) st = proto::getString(p, "logFile", c.logFile);
  if (st.ok()) st = proto::getString(p, "hostname", c.hostname);
  if (st.ok()) st = proto::getString(p, "shimBinary", c.shimBinary);
  if (st.ok()) st = proto::getString(p, "netns", c.netns);
  if (st.ok()) st = proto::getStrings(p, "cgroupProcs", c.cgroupProcs);
  if (st.ok()) st = proto::getInt(p, "graceSeconds", grace);
  if (st.ok()) st = proto::getInt(p, "pid", id.pid);
  if (st.ok()) st = proto::getInt(p, "startTime", id.startTime);
  if (!st.ok()) return st.error().wrap("shim step params");
  return std::make_unique<ShimStep>(std::move(c), grace, id);
}

Result<std::unique_ptr<ShimStep>> ShimStep::fromParams(const nlohmann::json& params, Host& host) {
  auto step = fromParams(params);
  if (step.ok() && (*step)->config_.shimBinary.empty())
    (*step)->config_.shimBinary = host.paths.shimBinary;
  return step;
}

nlohmann::json ShimStep::params() const {
  nlohmann::json p = {{"podName", config_.podName},         {"podUid", config_.podUid},
                      {"socket", config_.socketPath},       {"pidFile", config_.pidFile},
                      {"logFile", config_.logFile},         {"hostname", config_.hostname},
                      {"cgroupProcs", config_.cgroupProcs}, {"graceSeconds", graceSeconds_},
                      {"shimBinary", config_.shimBinary}};
  if (!config_.netns.empty()) p["netns"] = config_.netns;
  if (id_.pid > 0) {
    p["pid"] = id_.pid;
    p["startTime"] = id_.startTime;
  }
  return p;
}

std::optional<ShimIdentity> ShimStep::findRunning() const {
  if (sameProcess(id_)) return id_;
  auto pid = pidFromFile(config_.pidFile);
  if (!pid || !processAlive(*pid) || !cmdlineNamesSocket(*pid, config_.socketPath))
    return std::nullopt;
  auto start = processStartTime(*pid);
  if (!start.ok()) return std::nullopt;
  return ShimIdentity{*pid, *start};
}

Result<bool> ShimStep::observe() { return findRunning().has_value(); }

Status ShimStep::apply() {
  if (auto running = findRunning()) {
    id_ = *running;
    return {};
  }
  auto launched = launchShim(config_);
  if (!launched.ok()) return launched.error();
  id_ = *launched;
  return {};
}

Status ShimStep::undo() {
  auto who = findRunning();
  bool answered = false;
  if (socketExists(config_.socketPath)) {
    ShimClient client(config_.socketPath, kClientTimeoutMs);
    answered = client.shutdown(graceSeconds_).ok();
  }
  if (who) {
    // Re-check right before the kill: never signal a pid that now names another process.
    if (!answered && sameProcess(*who)) ::kill(who->pid, SIGKILL);
    Status gone = waitGone(who->pid, kGoneTimeoutMs);
    if (!gone.ok()) return gone.error().wrap("stop shim for pod " + config_.podName);
  }
  BOXD_TRY(removeIfPresent(config_.socketPath));
  BOXD_TRY(removeIfPresent(config_.pidFile));
  return {};
}

std::unique_ptr<Step> shimStepFromParams(const nlohmann::json& params) {
  auto step = ShimStep::fromParams(params);
  if (!step.ok()) return nullptr;
  return std::move(*step);
}

}  // namespace boxd::reconcilers
