#include "agent/image_config.h"

#include <algorithm>

#include "agent/pod_plan.h"
#include "reconcilers/images/image_user.h"

namespace boxd::agent {

namespace {

using nlohmann::json;

std::vector<std::string> strings(const json& cfg, const char* key) {
  std::vector<std::string> out;
  if (!cfg.is_object() || !cfg.contains(key) || !cfg[key].is_array()) return out;
  for (const auto& v : cfg[key])
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string stringField(const json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key) || !cfg[key].is_string()) return "";
  return cfg[key].get<std::string>();
}

std::string nameOf(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// Sets NAME=value: in place where NAME already is, else appended.
void setVar(std::vector<std::string>& env, const std::string& entry) {
  const std::string name = nameOf(entry);
  for (auto& e : env) {
    if (nameOf(e) == name) {
      e = entry;
      return;
    }
  }
  env.push_back(entry);
}

}  // namespace

Result<ProcessConfig> effectiveProcess(const specs::PodSpec& pod, const specs::Container& c,
                                       const ContainerConfig& own, const json& imageConfig) {
  ProcessConfig p;
  if (!imageConfig.is_object()) {  // a rootfs import: no config, today's behaviour
    p.argv = own.argv;
    p.env = own.env;
    p.cwd = c.workingDir.empty() ? "/" : c.workingDir;
    return p;
  }
  const json cfg = imageConfig.contains("config") ? imageConfig["config"] : json::object();
  if (!own.command.empty()) {
    p.argv = own.command;
  } else {
    p.argv = strings(cfg, "Entrypoint");
    if (own.args.empty()) {
      auto cmd = strings(cfg, "Cmd");
      p.argv.insert(p.argv.end(), cmd.begin(), cmd.end());
    }
  }
  p.argv.insert(p.argv.end(), own.args.begin(), own.args.end());
  if (p.argv.empty())
    return makeError("container " + c.name +
                         ": no command specified (the image has no Entrypoint or Cmd and the "
                         "container sets no command or args)",
                     EINVAL);
  for (const auto& e : strings(cfg, "Env"))
    if (!nameOf(e).empty()) setVar(p.env, e);
  bool hasPath = false;
  for (const auto& e : p.env) hasPath = hasPath || nameOf(e) == "PATH";
  if (!hasPath) p.env.insert(p.env.begin(), std::string("PATH=") + kDefaultPath);
  for (const auto& e : own.env) setVar(p.env, e);  // HOSTNAME first, then the container's
  const std::string wd = stringField(cfg, "WorkingDir");
  p.cwd = !c.workingDir.empty() ? c.workingDir : (!wd.empty() ? wd : "/");
  const bool runAsUser = c.securityContext.runAsUser || pod.securityContext.runAsUser;
  if (!runAsUser) p.user = stringField(cfg, "User");
  return p;
}

Result<ProcessConfig> effectiveProcess(const specs::PodSpec& pod, const specs::Container& c,
                                       const json& imageConfig) {
  ContainerConfig own;
  own.command = c.command;
  own.args = c.args;
  own.argv = containerArgv(c);
  own.env = containerEnv(pod, c);
  return effectiveProcess(pod, c, own, imageConfig);
}

bool runAsGroupSet(const specs::PodSpec& pod, const specs::Container& c) {
  return c.securityContext.runAsGroup.has_value() || pod.securityContext.runAsGroup.has_value();
}

Status applyImageUser(const std::string& rootfs, const std::string& user, bool keepGid,
                      reconcilers::ContainerSecurity& s) {
  auto u = reconcilers::resolveImageUser(rootfs, user);
  if (!u.ok()) return u.error();
  s.uid = u->uid;
  if (!keepGid) s.gid = u->gid;
  for (uint32_t g : u->groups)
    if (std::find(s.groups.begin(), s.groups.end(), g) == s.groups.end()) s.groups.push_back(g);
  return {};
}

}  // namespace boxd::agent
