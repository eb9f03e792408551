// `boxctl status -w` and `boxctl events -w`: the agent's side of a watch (agent/watch_hub.h).
#include <spdlog/spdlog.h>

#include "agent/agent.h"
#include "agent/watch_hub.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
json eventJson(int64_t timeMs, const std::string& pod, const std::string& type,
               const std::string& reason, const std::string& message) {
  return {
      {"timeMs", timeMs}, {"pod", pod}, {"type", type}, {"reason", reason}, {"message", message}};
}
}  // namespace

WatchHub& Agent::watchHub() {
  if (!watchHub_) {
    watchHub_ = std::make_unique<WatchHub>(loop_, [this](const std::string& name) {
      auto it = pods_.find(name);
      return it == pods_.end() ? std::nullopt : std::optional<json>(podJson(*it->second, false));
    });
  }
  return *watchHub_;
}

// The specs part of status: the dir, its revision, and the errors of its files.
json Agent::specsJson() {
  json s = statusJson();
  return {
      {"specsDir", s["specsDir"]}, {"revision", s["revision"]}, {"specErrors", s["specErrors"]}};
}

Status Agent::handleWatch(const json& req, std::shared_ptr<ApiStream> stream) {
  std::string what = req.value("watch", "");
  if (what == "pods") {
    std::vector<json> now;
    for (const auto& [name, pod] : pods_) now.push_back(podJson(*pod, false));
    watchHub().addPodWatcher(std::move(stream), specsJson(), now);
    return {};
  }
  if (what == "events") {
    std::string pod = req.value("name", "");
    auto evs = store_->events(pod, req.value("limit", 100));
    if (!evs.ok()) return evs.error();
    json recent = json::array();
    for (const auto& e : *evs)
      recent.push_back(eventJson(e.timeMs, e.pod, e.type, e.reason, e.message));
    watchHub().addEventWatcher(std::move(stream), pod, recent);
    return {};
  }
  if (what == "image-pull") return handleImagePullWatch(req, std::move(stream));
  return makeError("unknown watch \"" + what + "\" (pods, events, image-pull)");
}

void Agent::notifyPodWatchers(const std::string& pod) {
  if (watchHub_) watchHub_->podChanged(pod);
}

void Agent::notifySpecsWatchers() {
  if (watchHub_ && watchHub_->watchingPods()) watchHub_->specsChanged(specsJson());
}

void Agent::notifyEventWatchers(int64_t timeMs, const std::string& pod, const std::string& type,
                                const std::string& reason, const std::string& message) {
  if (watchHub_) watchHub_->event(eventJson(timeMs, pod, type, reason, message));
}

}  // namespace boxd::agent
