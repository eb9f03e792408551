#include "specs/probe_json.h"

#include <string>

namespace boxd::specs {

using nlohmann::json;

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HttpHeader, name, value)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ProbePort, number, name)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ExecAction, command)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HttpGetAction, host, path, port, headers)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TcpSocketAction, host, port)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GrpcAction, port, service)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SleepAction, seconds)

namespace {

template <typename T>
void putOptional(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <typename T>
void getOptional(const json& j, const char* key, std::optional<T>& out) {
  out.reset();
  if (auto it = j.find(key); it != j.end() && !it->is_null()) out = it->get<T>();
}

}  // namespace

void to_json(json& j, const Action& h) {
  j = json::object();
  putOptional(j, "exec", h.exec);
  putOptional(j, "httpGet", h.httpGet);
  putOptional(j, "tcpSocket", h.tcpSocket);
  putOptional(j, "grpc", h.grpc);
  putOptional(j, "sleep", h.sleep);
}
void from_json(const json& j, Action& h) {
  getOptional(j, "exec", h.exec);
  getOptional(j, "httpGet", h.httpGet);
  getOptional(j, "tcpSocket", h.tcpSocket);
  getOptional(j, "grpc", h.grpc);
  getOptional(j, "sleep", h.sleep);
}

void to_json(json& j, const Probe& p) {
  j = json{{"handler", p.handler},
           {"initialDelaySeconds", p.initialDelaySeconds},
           {"periodSeconds", p.periodSeconds},
           {"timeoutSeconds", p.timeoutSeconds},
           {"successThreshold", p.successThreshold},
           {"failureThreshold", p.failureThreshold}};
  putOptional(j, "terminationGracePeriodSeconds", p.terminationGracePeriodSeconds);
}
void from_json(const json& j, Probe& p) {
  const Probe d;
  p.handler = j.value("handler", d.handler);
  p.initialDelaySeconds = j.value("initialDelaySeconds", d.initialDelaySeconds);
  p.periodSeconds = j.value("periodSeconds", d.periodSeconds);
  p.timeoutSeconds = j.value("timeoutSeconds", d.timeoutSeconds);
  p.successThreshold = j.value("successThreshold", d.successThreshold);
  p.failureThreshold = j.value("failureThreshold", d.failureThreshold);
  getOptional(j, "terminationGracePeriodSeconds", p.terminationGracePeriodSeconds);
}

namespace detail {

void addProbesJson(json& container, const ContainerProbes& p) {
  if (p.empty()) return;
  json o = json::object();
  putOptional(o, "livenessProbe", p.liveness);
  putOptional(o, "readinessProbe", p.readiness);
  putOptional(o, "startupProbe", p.startup);
  putOptional(o, "postStart", p.lifecycle.postStart);
  putOptional(o, "preStop", p.lifecycle.preStop);
  container["probes"] = std::move(o);
}

Status readProbesJson(const json& container, ContainerProbes& p) {
  auto it = container.find("probes");
  if (it == container.end() || it->is_null()) return okStatus();
  if (!it->is_object()) return makeError("decode pod spec: probes: expected an object");
  getOptional(*it, "livenessProbe", p.liveness);  // wrong types throw; fromJson reports them
  getOptional(*it, "readinessProbe", p.readiness);
  getOptional(*it, "startupProbe", p.startup);
  getOptional(*it, "postStart", p.lifecycle.postStart);
  getOptional(*it, "preStop", p.lifecycle.preStop);
  return okStatus();
}

}  // namespace detail
}  // namespace boxd::specs
