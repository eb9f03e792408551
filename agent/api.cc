// boxctl's requests, answered on the loop thread from in-memory state (status is cheap).
#include <spdlog/spdlog.h>

#include <cstring>
#include <tuple>

#include "agent/agent.h"
#include "agent/pod_plan.h"
#include "agent/project_quotas.h"
#include "agent/security_context.h"
#include "common/util.h"
#include "specs/workload.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
json diagnosticJson(const specs::Diagnostic& d) {
  return {{"line", d.line},
          {"column", d.column},
          {"field", d.field},
          {"message", d.message},
          {"text", d.str()}};
}
json errorReply(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }
json eventsJson(const std::vector<state::EventRecord>& evs) {
  json list = json::array();
  for (const auto& e : evs) {
    list.push_back({{"timeMs", e.timeMs},
                    {"pod", e.pod},
                    {"type", e.type},
                    {"reason", e.reason},
                    {"message", e.message}});
  }
  return list;
}
// The Jobs' or CronJobs' status views, as `boxctl status` lists them.
json viewsJson(const std::map<std::string, json>& views) {
  json out = json::array();
  for (const auto& [key, view] : views) out.push_back(view);
  return out;
}

}  // namespace

json Agent::podJson(const PodState& pod, bool detailed) {
  int ready = 0, restarts = 0;
  auto list = [&](const std::vector<specs::Container>& specs, bool regular) {
    json out = json::array();
    for (const auto& c : specs) {
      bool countReady = regular;
      auto it = pod.containers.find(c.name);
      state::ContainerRecord r =
          it != pod.containers.end() ? it->second.rec : state::ContainerRecord{};
      countReady = countReady || c.isSidecar();  // kubectl counts sidecars in READY
      bool isReady = countReady && containerReady(pod, c.name);
      if (isReady) ready++;
      restarts += r.restarts;
      json cj = {{"name", c.name},
                 {"image", c.image},
                 {"state", r.state.empty() ? "Waiting" : r.state},
                 {"reason", r.reason},
                 {"restarts", r.restarts},
                 {"exitCode", r.exitCode},
                 {"pid", r.pid},
                 {"startedAtMs", r.startedAtMs},
                 {"finishedAtMs", r.finishedAtMs}};
      if (countReady) cj["ready"] = isReady;
      // kubectl's Last State: how the previous run ended, once another has begun.
      if (it != pod.containers.end() && it->second.lastTerminated && r.state != "Terminated") {
        const state::ContainerRecord& l = *it->second.lastTerminated;
        cj["lastState"] = {{"state", "Terminated"},        {"reason", l.reason},
                           {"message", l.message},         {"exitCode", l.exitCode},
                           {"startedAtMs", l.startedAtMs}, {"finishedAtMs", l.finishedAtMs}};
      }
      if (!r.message.empty()) cj["message"] = r.message;
      if (detailed)
        cj.update(containerImageJson(pod, c, it != pod.containers.end() ? &it->second : nullptr));
      if (detailed && !pod.rec.uid.empty()) {
        ContainerPaths cp = containerPaths(cfg_.paths, pod.rec.name, pod.rec.uid, c.name);
        cj["log"] = cp.logPath;
        // Made by the shim in the container's own mount namespace at each start.
        json mounts = json::array();
        PodPaths pp = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid);
        for (const auto& m : containerMounts(pp, pod.spec, c, pod.podFiles))
          mounts.push_back(reconcilers::shimproto::mountToJson(m));
        cj["mounts"] = mounts;
        // For `boxctl exec`, which joins the container's cgroups itself.
        cj["cgroupProcs"] = cgroups_->procsFiles(cp.cgroupRel);
        // Also for exec: the command runs as the container's user, with its capabilities.
        if (auto sec = containerSecurity(pod, c); sec.ok())
          cj["security"] = reconcilers::shimproto::securityToJson(*sec);
      }
      out.push_back(cj);
    }
    return out;
  };
  json initContainers = list(pod.spec.initContainers, false);
  json containers = list(pod.spec.containers, true);
  const int readyTotal = static_cast<int>(longRunningContainers(pod.spec).size());
  auto [ns, name] = specs::splitObjectKey(pod.rec.name);
  json j = {{"name", name},
            {"namespace", ns},
            {"uid", pod.rec.uid},
            {"phase", pod.rec.phase},
            {"reason", pod.rec.reason},
            {"message", pod.rec.message},
            {"ready", std::to_string(ready) + "/" + std::to_string(readyTotal)},
            {"restarts", restarts},
            {"createdAtMs", pod.rec.createdAtMs},
            {"sourceFile", pod.rec.sourceFile},
            {"specHash", pod.rec.specHash},
            {"containers", containers}};
  if (!initContainers.empty()) j["initContainers"] = initContainers;
  // kubelet's conditions: ContainersReady when every container is ready, Ready as well (boxd
  // has no readiness gates).
  bool allReady = pod.rec.phase == "Running" && ready == readyTotal;
  const char* status = allReady ? "True" : "False";
  j["conditions"] = json::array(
      {{{"type", "ContainersReady"}, {"status", status}}, {{"type", "Ready"}, {"status", status}}});
  if (!pod.podIp.empty()) j["podIP"] = pod.podIp;
  if (pod.spec.hostNetwork) j["hostNetwork"] = true;
  if (std::string owner = specs::ownerOf(pod.spec); !owner.empty()) j["owner"] = owner;
  if (detailed) {
    j["spec"] = specs::toJson(pod.spec);
    j["cgroupVersion"] = cgroups_->version();
    json resources = json::array();
    auto rows = store_->journal(pod.rec.name);
    if (rows.ok()) {
      for (const auto& r : *rows) {
        json res = {{"step", r.seq + 1},
                    {"kind", r.kind},
                    {"resource", r.resource},
                    {"state", state::toString(r.state)}};
        // The block chain: the device a LUN or image became, the filesystem and its mount.
        std::string detail;
        for (const char* key : {"session", "device"}) {
          if (r.params.contains(key) && r.params[key].is_string())
            detail = r.params[key].get<std::string>();
        }
        if (r.kind == "blockfs" && r.params.contains("mountPath")) {
          detail = r.params.value("fsType", "") + (detail.empty() ? "" : " on " + detail) + " at " +
                   r.params.value("mountPath", "") +
                   (r.params.value("formatted", false) ? " (formatted by boxd)" : "");
        }
        if (r.kind == "fsgroup") detail = r.params.value("result", "");
        if (!detail.empty()) res["detail"] = detail;
        resources.push_back(std::move(res));
      }
    }
    j["resources"] = resources;
    if (rows.ok() && hasStorageLimits(pod.spec, cfg_.defaultEphemeralStorageLimit))
      j["ephemeralStorage"] = ephemeralStorageMode(*rows);  // project_quotas.h
    auto evs = eventsOf(pod.rec.name, 20);
    j["events"] = evs.ok() ? eventsJson(*evs) : json::array();
  }
  return j;
}

json Agent::statusJson() {
  json pods = json::array();
  for (const auto& [name, pod] : pods_) pods.push_back(podJson(*pod, false));
  json errors = json::array();
  for (const auto& e : desired_.errors) {
    json list = json::array();
    for (const auto& d : e.errors) list.push_back(diagnosticJson(d));
    errors.push_back({{"file", e.file},
                      {"error", e.errors.empty() ? "" : e.errors.front().str()},
                      {"errors", list}});
  }
  if (!specsError_.empty())
    errors.push_back({{"file", cfg_.specsDir}, {"error", specsError_}, {"errors", json::array()}});
  json skipped = json::array();  // documents of kinds boxd does not run
  for (const auto& d : desired_.skipped) skipped.push_back(diagnosticJson(d));
  return {{"ok", true},
          {"specsDir", cfg_.specsDir},
          {"revision", revision_},
          {"nowMs", nowMs()},
          {"specPasses", specPasses_},
          {"pods", pods},
          {"specErrors", errors},
          {"skipped", skipped},
          {"jobs", viewsJson(jobViews_)},
          {"cronJobs", viewsJson(cronJobViews_)}};
}

void Agent::handleRequest(const json& req, std::function<void(json)> reply) {
  std::string op = req.value("op", "");
  std::string name = req.value("name", "");
  if (op == "status") return reply(statusJson());
  if (op == "config") {
    return reply({{"ok", true},
                  {"specsDir", cfg_.specsDir},
                  {"stateDir", cfg_.paths.stateDir},
                  {"runDir", cfg_.paths.runDir},
                  {"pid", ::getpid()}});
  }
  if (op == "describe" || op == "logs") {
    auto it = pods_.find(name);
    // `boxctl describe job/NAME`, `cronjob/NAME`: their status as last decided, and events.
    for (const auto& [prefix, kind, views] : {std::tuple{"job/", "Job", &jobViews_},
                                              std::tuple{"cronjob/", "CronJob", &cronJobViews_}}) {
      if (it != pods_.end() || op != "describe" || !startsWith(name, prefix)) continue;
      auto view = views->find(name.substr(std::strlen(prefix)));
      if (view == views->end()) continue;
      json out = view->second;
      auto evs = eventsOf(name, 20);
      out["events"] = evs.ok() ? eventsJson(*evs) : json::array();
      out["kind"] = kind;
      out["ok"] = true;
      return reply(out);
    }
    if (it == pods_.end()) {
      auto [ns, bare] = specs::splitObjectKey(name);
      return reply(errorReply("pod \"" + bare + "\" not found in namespace \"" + ns + "\""));
    }
    json j = podJson(*it->second, true);
    j["ok"] = true;
    return reply(j);
  }
  if (op == "events") {
    auto evs = eventsOf(name, req.value("limit", 100));
    if (!evs.ok()) return reply(errorReply(evs.error().message));
    return reply({{"ok", true}, {"events", eventsJson(*evs)}});
  }
  if (startsWith(op, "image-")) return handleImageRequest(op, req, std::move(reply));
  if (op == "volume-ls") return reply(volumesJson());
  if (op == "plan") return handlePlan(req, std::move(reply));
  if (op == "usage") return handleUsage(std::move(reply));
  if (op == "metrics") return handleMetrics(std::move(reply));
  return reply(errorReply("unknown request \"" + op + "\""));
}

}  // namespace boxd::agent
