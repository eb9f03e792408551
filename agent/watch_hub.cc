#include "agent/watch_hub.h"

#include <algorithm>

namespace boxd::agent {

using nlohmann::json;

WatchHub::WatchHub(uv_loop_t* loop, Render render)
    : render_(std::move(render)), flushTimer_(loop) {}

void WatchHub::addPodWatcher(std::shared_ptr<ApiStream> s, const json& specs,
                             const std::vector<json>& now) {
  flush();  // the others hear of pending changes first; the newcomer starts from now
  specsChanged(specs);
  lastSpecs_ = specs.dump();
  if (!s->push({{"type", "SPECS"}, {"specs", specs}})) return;
  for (const auto& p : now) {
    std::string name = p.value("name", "");
    lastSent_[name] = p.dump();
    if (!s->push({{"type", "ADDED"}, {"pod", p}})) return;
  }
  if (s->push({{"type", "SYNCED"}})) pods_.push_back(std::move(s));
}

void WatchHub::addEventWatcher(std::shared_ptr<ApiStream> s, const std::string& pod,
                               const json& recent) {
  for (const auto& e : recent) {
    if (!s->push({{"type", "ADDED"}, {"event", e}})) return;
  }
  if (s->push({{"type", "SYNCED"}})) events_.push_back({std::move(s), pod});
}

void WatchHub::podChanged(const std::string& name) {
  if (pods_.empty()) return;
  changed_.insert(name);
  if (!flushTimer_.active()) flushTimer_.start(0, [this] { flush(); });
}

void WatchHub::flush() {
  flushTimer_.stop();
  std::set<std::string> changed;
  changed.swap(changed_);
  for (const auto& name : changed) {
    std::optional<json> pod = render_(name);
    auto last = lastSent_.find(name);
    if (!pod) {
      if (last == lastSent_.end()) continue;
      json gone = json::parse(last->second, nullptr, false);
      lastSent_.erase(last);
      send({{"type", "DELETED"}, {"pod", gone}});
      continue;
    }
    std::string text = pod->dump();
    if (last != lastSent_.end() && last->second == text) continue;
    const char* type = last == lastSent_.end() ? "ADDED" : "MODIFIED";
    lastSent_[name] = std::move(text);
    send({{"type", type}, {"pod", *pod}});
  }
}

void WatchHub::specsChanged(const json& specs) {
  if (pods_.empty()) return;
  std::string text = specs.dump();
  if (text == lastSpecs_) return;
  lastSpecs_ = std::move(text);
  send({{"type", "SPECS"}, {"specs", specs}});
}

void WatchHub::send(const json& line) {
  std::erase_if(pods_, [&](const auto& s) { return !s->push(line); });
  if (!pods_.empty()) return;
  lastSent_.clear();
  lastSpecs_.clear();
}

void WatchHub::event(const json& ev) {
  if (events_.empty()) return;
  json line = {{"type", "ADDED"}, {"event", ev}};
  std::string pod = ev.value("pod", "");
  std::erase_if(events_, [&](const EventWatcher& w) {
    if (!w.pod.empty() && w.pod != pod) return !w.stream->open();
    return !w.stream->push(line);
  });
}

}  // namespace boxd::agent
