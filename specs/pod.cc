#include "specs/pod.h"

#include <cstdint>
#include <string_view>

#include "common/hash.h"
#include "common/util.h"
#include "specs/config_json.h"
#include "specs/probe_json.h"
#include "specs/quote.h"
#include "specs/scheduling_json.h"
#include "specs/security_json.h"

namespace boxd::specs {

using nlohmann::json;

// The structs added after the first release: plain field lists, defaults for absent keys.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ContainerPort, name, containerPort, hostPort,
                                                protocol, hostIP)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HostAlias, ip, hostnames)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(IscsiVolume, targetPortal, portals, iqn, lun,
                                                iscsiInterface, fsType, readOnly, chapAuthDiscovery,
                                                chapAuthSession, secretRef, initiatorName)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RbdProvision, sizeBytes, features)

void to_json(json& j, const RbdVolume& v) {
  j = json{{"monitors", v.monitors}, {"pool", v.pool},        {"image", v.image},
           {"user", v.user},         {"keyring", v.keyring},  {"secretRef", v.secretRef},
           {"fsType", v.fsType},     {"readOnly", v.readOnly}};
  j["provision"] = v.provision ? json(*v.provision) : json(nullptr);
}
void from_json(const json& j, RbdVolume& v) {
  const RbdVolume d;
  v.monitors = j.value("monitors", d.monitors);
  v.pool = j.value("pool", d.pool);
  v.image = j.value("image", d.image);
  v.user = j.value("user", d.user);
  v.keyring = j.value("keyring", d.keyring);
  v.secretRef = j.value("secretRef", d.secretRef);
  v.fsType = j.value("fsType", d.fsType);
  v.readOnly = j.value("readOnly", d.readOnly);
  v.provision.reset();
  if (auto it = j.find("provision"); it != j.end() && !it->is_null())
    v.provision = it->get<RbdProvision>();
}

void to_json(json& j, const DnsOption& o) {
  j = json{{"name", o.name}};
  if (o.value) j["value"] = *o.value;
}
void from_json(const json& j, DnsOption& o) {
  o.name = j.value("name", "");
  if (auto it = j.find("value"); it != j.end() && !it->is_null()) o.value = it->get<std::string>();
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DnsConfig, nameservers, searches, options)

const char* toString(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::Always:
      return "Always";
    case RestartPolicy::OnFailure:
      return "OnFailure";
    case RestartPolicy::Never:
      return "Never";
  }
  return "Always";
}

// ---- canonical JSON ------------------------------------------------------------------------
// nlohmann::json keeps object keys sorted, so dump() is byte-stable whatever order they were
// inserted in. Every field is always written (absent quantities as null), defaults included.

namespace {

json optionalInt(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

json resourcesToJson(const Resources& r) {
  json out{{"cpuLimitMilli", optionalInt(r.cpuLimitMilli)},
           {"cpuRequestMilli", optionalInt(r.cpuRequestMilli)},
           {"memoryLimitBytes", optionalInt(r.memoryLimitBytes)},
           {"memoryRequestBytes", optionalInt(r.memoryRequestBytes)}};
  // Only when set: the canonical JSON (and so the hash) of every older pod stays the same.
  if (r.ephemeralLimitBytes) out["ephemeralLimitBytes"] = *r.ephemeralLimitBytes;
  if (r.ephemeralRequestBytes) out["ephemeralRequestBytes"] = *r.ephemeralRequestBytes;
  return out;
}

json containerToJson(const Container& c) {
  json env = json::array();
  for (const EnvVar& e : c.env) {
    env.push_back(json{{"name", e.name}, {"value", e.value}});
    if (e.valueFrom) env.back()["valueFrom"] = *e.valueFrom;
  }
  json j{{"name", c.name},
         {"image", c.image},
         {"command", c.command},
         {"args", c.args},
         {"env", std::move(env)},
         {"workingDir", c.workingDir},
         {"resources", resourcesToJson(c.resources)}};
  if (!c.volumeMounts.empty()) {
    json mounts = json::array();
    for (const VolumeMount& m : c.volumeMounts) {
      mounts.push_back(json{{"name", m.name},
                            {"mountPath", m.mountPath},
                            {"readOnly", m.readOnly},
                            {"subPath", m.subPath}});
    }
    j["volumeMounts"] = std::move(mounts);
  }
  if (!c.ports.empty()) j["ports"] = c.ports;
  if (!c.envFrom.empty()) j["envFrom"] = c.envFrom;
  detail::addSecurityJson(j, c.securityContext);
  if (!c.imagePullPolicy.empty()) j["imagePullPolicy"] = c.imagePullPolicy;
  detail::addProbesJson(j, c.probes);
  if (c.restartPolicy) j["restartPolicy"] = toString(*c.restartPolicy);  // absent: hash unchanged
  return j;
}

json volumeToJson(const Volume& v) {
  json j{{"name", v.name}};
  if (v.emptyDir) {
    j["emptyDir"] = json{{"medium", v.emptyDir->memory ? "Memory" : ""},
                         {"sizeLimitBytes", optionalInt(v.emptyDir->sizeLimitBytes)}};
  }
  if (v.hostPath) j["hostPath"] = json{{"path", v.hostPath->path}, {"type", v.hostPath->type}};
  if (v.iscsi) j["iscsi"] = *v.iscsi;
  if (v.rbd) j["rbd"] = *v.rbd;
  if (v.config) j["config"] = *v.config;
  return j;
}

}  // namespace

json toJson(const PodSpec& pod) {
  auto list = [](const std::vector<Container>& cs) {
    json out = json::array();
    for (const Container& c : cs) out.push_back(containerToJson(c));
    return out;
  };
  json j{{"name", pod.name},
         {"labels", pod.labels},
         {"annotations", pod.annotations},
         {"containers", list(pod.containers)},
         {"restartPolicy", toString(pod.restartPolicy)},
         {"hostname", pod.hostname},
         {"terminationGracePeriodSeconds", pod.terminationGracePeriodSeconds}};
  // Fields added after the first release appear only when set, so the hash of a pod that does
  // not use them stays what it was: upgrading boxd never replaces running pods.
  if (!pod.initContainers.empty()) j["initContainers"] = list(pod.initContainers);
  if (!pod.volumes.empty()) {
    json volumes = json::array();
    for (const Volume& v : pod.volumes) volumes.push_back(volumeToJson(v));
    j["volumes"] = std::move(volumes);
  }
  if (pod.hostNetwork) j["hostNetwork"] = true;
  if (pod.dnsPolicy != PodSpec().dnsPolicy) j["dnsPolicy"] = pod.dnsPolicy;
  if (pod.dnsConfig) j["dnsConfig"] = *pod.dnsConfig;
  if (!pod.hostAliases.empty()) j["hostAliases"] = pod.hostAliases;
  detail::addPodSecurityJson(j, pod.securityContext);
  if (!pod.imagePullSecrets.empty()) j["imagePullSecrets"] = pod.imagePullSecrets;
  if (pod.namespaceName != kDefaultNamespace) j["namespace"] = pod.namespaceName;
  if (!pod.nodeSelector.empty()) j["nodeSelector"] = pod.nodeSelector;
  detail::addSchedulingJson(j, pod);
  return j;
}

std::string specHash(const PodSpec& pod) {
  // replace: never throws, even for a hand-built spec holding invalid UTF-8 (the parser
  // rejects those, so for parsed pods this is the plain dump()).
  return sha256Hex(toJson(pod).dump(-1, ' ', false, json::error_handler_t::replace));
}

// ---- fromJson --------------------------------------------------------------------------------
// Missing keys take their defaults (a record written by an older boxd); unknown keys are ignored
// (written by a newer one); a key of the wrong type is an error naming it.

namespace {

Error decodeError(std::string_view field, std::string_view what) {
  return makeError("decode pod spec: " + std::string(field) + ": " + std::string(what));
}

Status readString(const json& obj, const char* key, std::string& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_string()) return decodeError(key, "expected a string");
  out = it->get<std::string>();
  return okStatus();
}

Status readInt(const json& obj, const char* key, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX)) {
    return decodeError(key, "expected an integer");
  }
  out = it->get<int64_t>();
  return okStatus();
}

Status readOptionalInt(const json& obj, const char* key, std::optional<int64_t>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > INT64_MAX)) {
    return decodeError(key, "expected an integer or null");
  }
  out = it->get<int64_t>();
  return okStatus();
}

Status readStringList(const json& obj, const char* key, std::vector<std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_array()) return decodeError(key, "expected an array of strings");
  for (const json& v : *it) {
    if (!v.is_string()) return decodeError(key, "expected an array of strings");
    out.push_back(v.get<std::string>());
  }
  return okStatus();
}

Status readStringMap(const json& obj, const char* key, std::map<std::string, std::string>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_object()) return decodeError(key, "expected an object of strings");
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) return decodeError(std::string(key) + "." + k, "expected a string");
    out[k] = v.get<std::string>();
  }
  return okStatus();
}

Status readResources(const json& obj, Resources& r) {
  auto it = obj.find("resources");
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_object()) return decodeError("resources", "expected an object");
  BOXD_TRY(readOptionalInt(*it, "cpuLimitMilli", r.cpuLimitMilli));
  BOXD_TRY(readOptionalInt(*it, "cpuRequestMilli", r.cpuRequestMilli));
  BOXD_TRY(readOptionalInt(*it, "memoryLimitBytes", r.memoryLimitBytes));
  BOXD_TRY(readOptionalInt(*it, "memoryRequestBytes", r.memoryRequestBytes));
  BOXD_TRY(readOptionalInt(*it, "ephemeralLimitBytes", r.ephemeralLimitBytes));
  BOXD_TRY(readOptionalInt(*it, "ephemeralRequestBytes", r.ephemeralRequestBytes));
  return okStatus();
}

Status readEnv(const json& obj, std::vector<EnvVar>& out) {
  auto it = obj.find("env");
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_array()) return decodeError("env", "expected an array");
  for (const json& e : *it) {
    if (!e.is_object()) return decodeError("env", "expected an array of objects");
    EnvVar v;
    BOXD_TRY(readString(e, "name", v.name));
    BOXD_TRY(readString(e, "value", v.value));
    if (auto vf = e.find("valueFrom"); vf != e.end() && vf->is_object())
      v.valueFrom = vf->get<EnvVarSource>();
    out.push_back(std::move(v));
  }
  return okStatus();
}

Result<RestartPolicy> restartPolicyFromString(const std::string& s);

Result<Container> containerFromJson(const json& j) {
  if (!j.is_object()) return decodeError("containers", "expected an array of objects");
  Container c;
  BOXD_TRY(readString(j, "name", c.name));
  BOXD_TRY(readString(j, "image", c.image));
  BOXD_TRY(readStringList(j, "command", c.command));
  BOXD_TRY(readStringList(j, "args", c.args));
  BOXD_TRY(readEnv(j, c.env));
  BOXD_TRY(readString(j, "workingDir", c.workingDir));
  BOXD_TRY(readResources(j, c.resources));
  if (auto it = j.find("volumeMounts"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return decodeError("volumeMounts", "expected an array");
    for (const json& mj : *it) {
      if (!mj.is_object()) return decodeError("volumeMounts", "expected an array of objects");
      VolumeMount m;
      BOXD_TRY(readString(mj, "name", m.name));
      BOXD_TRY(readString(mj, "mountPath", m.mountPath));
      BOXD_TRY(readString(mj, "subPath", m.subPath));
      m.readOnly = mj.value("readOnly", false);
      c.volumeMounts.push_back(std::move(m));
    }
  }
  c.ports = j.value("ports", std::vector<ContainerPort>{});
  c.envFrom = j.value("envFrom", std::vector<EnvFromSource>{});
  BOXD_TRY(detail::readSecurityJson(j, c.securityContext));
  BOXD_TRY(readString(j, "imagePullPolicy", c.imagePullPolicy));
  BOXD_TRY(detail::readProbesJson(j, c.probes));
  if (auto it = j.find("restartPolicy"); it != j.end() && it->is_string()) {
    Result<RestartPolicy> p = restartPolicyFromString(it->get<std::string>());
    if (!p.ok()) return p.error();
    c.restartPolicy = *p;
  }
  return c;
}

Status readVolumes(const json& obj, std::vector<Volume>& out) {
  auto it = obj.find("volumes");
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_array()) return decodeError("volumes", "expected an array");
  for (const json& vj : *it) {
    if (!vj.is_object()) return decodeError("volumes", "expected an array of objects");
    Volume v;
    BOXD_TRY(readString(vj, "name", v.name));
    if (auto ed = vj.find("emptyDir"); ed != vj.end() && ed->is_object()) {
      EmptyDirVolume e;
      e.memory = ed->value("medium", "") == "Memory";
      BOXD_TRY(readOptionalInt(*ed, "sizeLimitBytes", e.sizeLimitBytes));
      v.emptyDir = e;
    }
    if (auto hp = vj.find("hostPath"); hp != vj.end() && hp->is_object()) {
      HostPathVolume h;
      BOXD_TRY(readString(*hp, "path", h.path));
      BOXD_TRY(readString(*hp, "type", h.type));
      v.hostPath = h;
    }
    // Wrong types throw json::exception, which fromJson turns into an error.
    if (auto is = vj.find("iscsi"); is != vj.end() && !is->is_null()) {
      if (!is->is_object()) return decodeError("volumes.iscsi", "expected an object");
      v.iscsi = is->get<IscsiVolume>();
    }
    if (auto rb = vj.find("rbd"); rb != vj.end() && !rb->is_null()) {
      if (!rb->is_object()) return decodeError("volumes.rbd", "expected an object");
      v.rbd = rb->get<RbdVolume>();
    }
    if (auto cf = vj.find("config"); cf != vj.end() && cf->is_object())
      v.config = cf->get<ConfigVolume>();
    out.push_back(std::move(v));
  }
  return okStatus();
}

Status readContainers(const json& obj, const char* key, std::vector<Container>& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return okStatus();
  if (!it->is_array()) return decodeError(key, "expected an array");
  for (const json& cj : *it) {
    Result<Container> c = containerFromJson(cj);
    if (!c) return c.error();
    out.push_back(std::move(*c));
  }
  return okStatus();
}

Result<RestartPolicy> restartPolicyFromString(const std::string& s) {
  for (RestartPolicy p : {RestartPolicy::Always, RestartPolicy::OnFailure, RestartPolicy::Never}) {
    if (s == toString(p)) return p;
  }
  return decodeError("restartPolicy", "unknown value " + inQuotes(s));
}

Status podFromJson(const json& j, PodSpec& pod) {
  if (!j.is_object()) return makeError("decode pod spec: expected a JSON object");
  BOXD_TRY(readString(j, "name", pod.name));
  BOXD_TRY(readString(j, "namespace", pod.namespaceName));
  BOXD_TRY(readStringMap(j, "nodeSelector", pod.nodeSelector));
  BOXD_TRY(readStringMap(j, "labels", pod.labels));
  BOXD_TRY(readStringMap(j, "annotations", pod.annotations));
  BOXD_TRY(readVolumes(j, pod.volumes));
  BOXD_TRY(readContainers(j, "initContainers", pod.initContainers));
  BOXD_TRY(readContainers(j, "containers", pod.containers));
  std::string policy = toString(RestartPolicy::Always);
  BOXD_TRY(readString(j, "restartPolicy", policy));
  Result<RestartPolicy> p = restartPolicyFromString(policy);
  if (!p) return p.error();
  pod.restartPolicy = *p;
  BOXD_TRY(readString(j, "hostname", pod.hostname));
  BOXD_TRY(readInt(j, "terminationGracePeriodSeconds", pod.terminationGracePeriodSeconds));
  pod.hostNetwork = j.value("hostNetwork", false);
  BOXD_TRY(readString(j, "dnsPolicy", pod.dnsPolicy));
  if (auto it = j.find("dnsConfig"); it != j.end() && !it->is_null())
    pod.dnsConfig = it->get<DnsConfig>();
  pod.hostAliases = j.value("hostAliases", std::vector<HostAlias>{});
  BOXD_TRY(detail::readPodSecurityJson(j, pod.securityContext));
  pod.imagePullSecrets = j.value("imagePullSecrets", std::vector<std::string>{});
  BOXD_TRY(detail::readSchedulingJson(j, pod));
  return okStatus();
}

}  // namespace

Result<PodSpec> fromJson(const json& j) {
  PodSpec pod;
  try {
    BOXD_TRY(podFromJson(j, pod));
  } catch (const json::exception& e) {  // e.g. an integer out of int64 range
    return makeError(std::string("decode pod spec: ") + e.what());
  }
  return pod;
}

// ---- image references ------------------------------------------------------------------------

ImageRef parseImageRef(const std::string& ref) {
  ImageRef out;
  std::string_view rest = ref;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    out.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    out.tag = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  out.name = std::string(rest);
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  return out;
}

}  // namespace boxd::specs
