#include "agent/config_refs.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "agent/env_expand.h"

namespace boxd::agent {

namespace {

using specs::ConfigSource;
using specs::EnvVarSource;

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A C identifier: what kubelet accepts as a variable name from envFrom.
bool isEnvName(const std::string& s) {
  if (s.empty() || (std::isdigit(static_cast<unsigned char>(s[0])) != 0)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  });
}

// Go's %q of a label or annotation value, as the downward API writes them: printable ASCII as
// is, the rest escaped.
std::string goQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string formatMap(const std::map<std::string, std::string>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : "\n") + k + "=" + goQuote(v);
  return out;
}

std::optional<std::string> subscript(const std::string& field, const std::string& map) {
  std::string prefix = map + "['";
  if (field.size() < prefix.size() + 2 || field.compare(0, prefix.size(), prefix) != 0 ||
      field.compare(field.size() - 2, 2, "']") != 0)
    return std::nullopt;
  return field.substr(prefix.size(), field.size() - prefix.size() - 2);
}

template <typename Map>
const typename Map::mapped_type* findIn(const Map* m, const std::string& key) {
  if (m == nullptr) return nullptr;
  auto it = m->find(key);
  return it == m->end() ? nullptr : &it->second;
}

// Every key of a ConfigMap (data; binaryData too for volumes) or Secret; nullopt if missing.
std::optional<std::map<std::string, std::string>> allKeys(bool secret, const std::string& name,
                                                          bool binary, const ConfigContext& ctx) {
  if (secret) {
    const specs::Secret* s = findIn(ctx.secrets, specs::objectKey(ctx.namespaceName, name));
    if (s == nullptr) return std::nullopt;
    return s->data;
  }
  const specs::ConfigMap* cm = findIn(ctx.configMaps, specs::objectKey(ctx.namespaceName, name));
  if (cm == nullptr) return std::nullopt;
  std::map<std::string, std::string> out = cm->data;
  if (binary) out.insert(cm->binaryData.begin(), cm->binaryData.end());
  return out;
}

// The key's value of a ConfigMap's data or a Secret; nullopt when the object or the key is
// missing, with *why saying which (kubelet's words).
std::optional<std::string> lookupKey(bool secret, const std::string& name, const std::string& key,
                                     const ConfigContext& ctx, std::string* why) {
  auto keys = allKeys(secret, name, false, ctx);
  if (!keys) {
    *why = std::string(secret ? "secret " : "configmap ") + quoted(name) + " not found";
    return std::nullopt;
  }
  if (auto k = keys->find(key); k != keys->end()) return k->second;
  bool inBinaryData = false;
  if (!secret) {
    const specs::ConfigMap* cm = findIn(ctx.configMaps, specs::objectKey(ctx.namespaceName, name));
    inBinaryData = cm != nullptr && cm->binaryData.count(key) != 0;
  }
  *why = missingKeyMessage(secret, ctx.namespaceName, name, key, inBinaryData);
  return std::nullopt;
}

int64_t ceilDiv(int64_t a, int64_t b) { return b <= 0 ? a : (a + b - 1) / b; }

}  // namespace

std::string missingKeyMessage(bool secret, const std::string& namespaceName,
                              const std::string& name, const std::string& key, bool inBinaryData) {
  const std::string ns = namespaceName.empty() ? specs::kDefaultNamespace : namespaceName;
  std::string out =
      "couldn't find key " + key + " in " + (secret ? "Secret " : "ConfigMap ") + ns + "/" + name;
  if (inBinaryData) out += "; it is under binaryData, which env does not read";
  return out;
}

std::string fieldValue(const specs::PodSpec& pod, const std::string& f, const ConfigContext& ctx) {
  if (f == "metadata.name") return pod.name;
  if (f == "metadata.namespace") return pod.namespaceName;
  if (f == "metadata.uid") return ctx.uid;
  if (f == "metadata.labels") return formatMap(pod.labels);
  if (f == "metadata.annotations") return formatMap(pod.annotations);
  if (auto k = subscript(f, "metadata.labels")) {
    auto it = pod.labels.find(*k);
    return it == pod.labels.end() ? "" : it->second;
  }
  if (auto k = subscript(f, "metadata.annotations")) {
    auto it = pod.annotations.find(*k);
    return it == pod.annotations.end() ? "" : it->second;
  }
  if (f == "spec.nodeName") return ctx.nodeName;
  // As written (empty when unset: boxd has no ServiceAccount objects and no default one).
  if (f == "spec.serviceAccountName") return pod.serviceAccountName;
  if (f == "status.podIP" || f == "status.podIPs") return pod.hostNetwork ? ctx.hostIp : ctx.podIp;
  if (f == "status.hostIP" || f == "status.hostIPs") return ctx.hostIp;
  return "";
}

std::string resourceValue(const specs::PodSpec& pod, const specs::ResourceFieldRef& ref,
                          const std::string& self, const ConfigContext& ctx) {
  const specs::Container* c = nullptr;
  const std::string& name = ref.containerName.empty() ? self : ref.containerName;
  for (const auto& list : {&pod.initContainers, &pod.containers}) {
    for (const auto& x : *list) {
      if (x.name == name) c = &x;
    }
  }
  specs::Resources r = c ? c->resources : specs::Resources{};
  bool cpu = ref.resource.ends_with(".cpu");
  int64_t divisor = ref.divisor > 0 ? ref.divisor : (cpu ? 1000 : 1);
  int64_t v = 0;
  if (ref.resource == "limits.cpu") v = r.cpuLimitMilli.value_or(ctx.nodeCpuMilli);
  if (ref.resource == "requests.cpu") v = r.cpuRequestMilli.value_or(0);
  if (ref.resource == "limits.memory") v = r.memoryLimitBytes.value_or(ctx.nodeMemoryBytes);
  if (ref.resource == "requests.memory") v = r.memoryRequestBytes.value_or(0);
  return std::to_string(ceilDiv(v, divisor));
}

Result<ContainerConfig> containerConfig(const specs::PodSpec& pod, const specs::Container& c,
                                        const ConfigContext& ctx) {
  ContainerConfig out;
  std::vector<std::pair<std::string, std::string>> vars;  // in order, names unique
  std::map<std::string, size_t> index;
  auto set = [&](const std::string& name, std::string value) {
    auto [it, inserted] = index.emplace(name, vars.size());
    if (inserted)
      vars.emplace_back(name, std::move(value));
    else
      vars[it->second].second = std::move(value);
  };
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = index.find(name);
    if (it == index.end()) return std::nullopt;
    return vars[it->second].second;
  };
  set("HOSTNAME", pod.hostname.empty() ? pod.name : pod.hostname);
  for (const specs::EnvFromSource& from : c.envFrom) {
    auto keys = allKeys(from.secret, from.name, false, ctx);
    if (!keys) {
      if (from.optional) continue;
      return makeError(std::string(from.secret ? "secret " : "configmap ") + quoted(from.name) +
                       " not found (envFrom)");
    }
    for (const auto& [key, value] : *keys) {
      std::string name = from.prefix + key;
      if (!isEnvName(name)) {
        out.skippedKeys.push_back(name);
        continue;
      }
      set(name, value);
    }
  }
  for (const specs::EnvVar& e : c.env) {
    if (!e.valueFrom) {
      set(e.name, expandVars(e.value, lookup));
      continue;
    }
    const EnvVarSource& s = *e.valueFrom;
    switch (s.kind) {
      case EnvVarSource::Kind::ConfigMapKey:
      case EnvVarSource::Kind::SecretKey: {
        std::string why;
        auto v = lookupKey(s.kind == EnvVarSource::Kind::SecretKey, s.name, s.key, ctx, &why);
        if (!v) {
          if (s.optional) continue;
          return makeError(why + " (env " + e.name + ")");
        }
        set(e.name, *v);
        break;
      }
      case EnvVarSource::Kind::Field:
        set(e.name, fieldValue(pod, s.fieldPath, ctx));
        break;
      case EnvVarSource::Kind::Resource:
        set(e.name, resourceValue(pod, s.resource, c.name, ctx));
        break;
    }
  }
  for (auto& [name, value] : vars) out.env.push_back(name + "=" + value);
  for (const auto& a : c.command) out.command.push_back(expandVars(a, lookup));
  for (const auto& a : c.args) out.args.push_back(expandVars(a, lookup));
  out.argv = out.command;
  out.argv.insert(out.argv.end(), out.args.begin(), out.args.end());
  if (out.argv.empty()) out.argv.push_back("/bin/sh");
  return out;
}

Result<VolumeFiles> configVolumeFiles(const specs::PodSpec& pod, const specs::Volume& v,
                                      const ConfigContext& ctx) {
  VolumeFiles out;
  const specs::ConfigVolume& cv = *v.config;
  auto mode = [&](const std::optional<int64_t>& m) {
    return static_cast<unsigned>(m.value_or(cv.defaultMode));
  };
  for (const ConfigSource& s : cv.sources) {
    if (s.kind == ConfigSource::Kind::DownwardAPI) {
      for (const auto& f : s.fields) {
        std::string value = f.resource ? resourceValue(pod, *f.resource, "", ctx)
                                       : fieldValue(pod, f.fieldPath, ctx);
        out[f.path] = {std::move(value), mode(f.mode)};
      }
      continue;
    }
    bool secret = s.kind == ConfigSource::Kind::Secret;
    auto keys = allKeys(secret, s.name, true, ctx);
    if (!keys) {
      if (s.optional) continue;
      return makeError(std::string(secret ? "secret " : "configmap ") + quoted(s.name) +
                       " not found (volume " + v.name + ")");
    }
    if (s.items.empty()) {
      for (auto& [key, value] : *keys) out[key] = {value, mode(std::nullopt)};
      continue;
    }
    for (const auto& item : s.items) {
      auto it = keys->find(item.key);
      if (it == keys->end()) {
        if (s.optional) continue;
        return makeError(missingKeyMessage(secret, ctx.namespaceName, s.name, item.key) +
                         " (volume " + v.name + ", items)");
      }
      out[item.path] = {it->second, mode(item.mode)};
    }
  }
  return out;
}

}  // namespace boxd::agent
