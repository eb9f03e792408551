// The pure half of `boxctl exec`: arguments, the container from a describe reply, the
// environment, and the checks on /proc text. The processes are in exec_run.cc.
#include "agent/exec.h"

#include <sys/wait.h>

#include <cerrno>

#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

Error usageError(const std::string& what) { return makeError("exec: " + what + "; " + kExecUsage); }

// "-i", "-t", "-it", "-ti": single-dash words made only of the flag letters.
bool applyFlags(const std::string& a, ExecOptions& o) {
  if (a.size() < 2 || a[0] != '-' || a[1] == '-') return false;
  for (size_t i = 1; i < a.size(); ++i) {
    if (a[i] != 'i' && a[i] != 't') return false;
  }
  for (size_t i = 1; i < a.size(); ++i) (a[i] == 'i' ? o.stdin : o.tty) = true;
  return true;
}

Status addEnv(const std::string& kv, ExecOptions& o) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    return usageError("-e needs KEY=VALUE, got \"" + kv + "\"");
  o.env.push_back(kv);
  return {};
}

std::string keyOf(const std::string& kv) { return kv.substr(0, kv.find('=')); }

}  // namespace

Result<ExecOptions> parseExecArgs(const std::vector<std::string>& args) {
  ExecOptions o;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool hasValue = i + 1 < args.size();
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "--stdin") {
      o.stdin = true;
    } else if (a == "--tty") {
      o.tty = true;
    } else if (applyFlags(a, o)) {
    } else if (a == "-c" || a == "--container") {
      if (!hasValue) return usageError(a + " needs a container name");
      o.container = args[++i];
    } else if (startsWith(a, "--container=")) {
      o.container = a.substr(12);
    } else if (a == "-e" || a == "--env") {
      if (!hasValue) return usageError(a + " needs KEY=VALUE");
      BOXD_TRY(addEnv(args[++i], o));
    } else if (startsWith(a, "--env=")) {
      BOXD_TRY(addEnv(a.substr(6), o));
    } else if (!a.empty() && a[0] == '-') {
      return usageError("unknown option " + a);
    } else if (o.pod.empty()) {
      o.pod = a;
    } else {
      break;  // the command starts here
    }
  }
  o.argv.assign(args.begin() + static_cast<long>(i), args.end());
  if (o.pod.empty()) return usageError("no pod given");
  if (o.argv.empty()) return usageError("no command given");
  return o;
}

Result<ExecTarget> pickExecTarget(const json& describe, const ExecOptions& opts) {
  const json none = json::array();
  const json& containers = describe.contains("containers") ? describe["containers"] : none;
  const json& inits = describe.contains("initContainers") ? describe["initContainers"] : none;
  std::string names;
  const json* chosen = nullptr;
  for (const auto& c : containers) {
    names += (names.empty() ? "" : ", ") + c.value("name", "");
    if (c.value("name", "") == opts.container || (opts.container.empty() && containers.size() == 1))
      chosen = &c;
  }
  for (const auto& c : inits) {
    if (!opts.container.empty() && c.value("name", "") == opts.container) chosen = &c;
  }
  const std::string& pod = opts.pod;
  if (chosen == nullptr) {
    if (opts.container.empty())
      return makeError("pod " + pod + " has several containers; choose one with -c (" + names +
                       ")");
    return makeError("pod " + pod + " has no container \"" + opts.container + "\" (" + names + ")");
  }
  ExecTarget t;
  t.label = pod + "/" + chosen->value("name", "");
  std::string state = chosen->value("state", "Waiting");
  t.pid = chosen->value("pid", 0);
  if (state != "Running" || t.pid <= 0)
    return makeError("container " + t.label + " is not running (state " + state + ")");
  if (!chosen->contains("cgroupProcs") || !(*chosen)["cgroupProcs"].is_array())
    return makeError("boxd did not name the cgroups of container " + t.label +
                     " (a boxd older than this boxctl?)");
  for (const auto& f : (*chosen)["cgroupProcs"]) {
    if (f.is_string()) t.cgroupProcs.push_back(f.get<std::string>());
  }
  auto security = reconcilers::shimproto::securityFromJson(chosen->value("security", json()));
  if (!security.ok())
    return security.error().wrap("boxd's security settings for container " + t.label);
  t.security = std::move(*security);
  return t;
}

std::vector<std::string> parseEnviron(std::string_view raw) {
  std::vector<std::string> out;
  for (auto& kv : split(raw, '\0')) {
    if (kv.find('=') != std::string::npos && kv[0] != '=') out.push_back(std::move(kv));
  }
  return out;
}

std::vector<std::string> mergeEnv(std::vector<std::string> base,
                                  const std::vector<std::string>& overrides) {
  for (const auto& kv : overrides) {
    bool replaced = false;
    for (auto& b : base) {
      if (keyOf(b) == keyOf(kv)) {
        b = kv;
        replaced = true;
      }
    }
    if (!replaced) base.push_back(kv);
  }
  return base;
}

bool isPidNamespaceInit(std::string_view status) {
  for (const auto& line : split(status, '\n')) {
    if (!startsWith(line, "NSpid:")) continue;
    std::vector<std::string> ids;
    for (auto& f : split(trim(line.substr(6)), '\t')) {
      for (auto& g : split(f, ' ')) {
        if (!g.empty()) ids.push_back(g);
      }
    }
    return ids.size() >= 2 && ids.back() == "1";
  }
  return false;
}

bool inCgroupOf(std::string_view procCgroup, const std::vector<std::string>& procsFiles) {
  for (const auto& line : split(procCgroup, '\n')) {
    // "hierarchy-id:controllers:/path"; the path may itself contain ':'.
    auto first = line.find(':');
    auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string path = line.substr(second + 1);
    if (path.empty() || path == "/") continue;
    for (const auto& f : procsFiles) {
      if (endsWith(f, path + "/cgroup.procs")) return true;
    }
  }
  return false;
}

int exitCodeFromWaitStatus(int wstatus) {
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
  return kExecCannotRun;
}

int execFailureExitCode(int err) {
  return err == ENOENT || err == ENOTDIR ? kExecNotFound : kExecCannotRun;
}

}  // namespace boxd::agent
