// The watches of `boxctl status -w` and `boxctl events -w`: boxd pushes a line per change to each
// subscribed connection, never polled.
//
// Pod lines are coalesced: any number of changes to a pod within one turn of the loop become one
// line, and a line equal to the last one sent for that pod is not sent again. Lines are
// {"type": "ADDED"|"MODIFIED"|"DELETED", "pod": {...}} (the pod as `boxctl status -o json` shows
// it), {"type": "ADDED", "event": {...}}, {"type": "SYNCED"} after a watch's first state, and
// {"type": "SPECS", "specs": {"specsDir", "revision", "specErrors"}} first and whenever the
// specs revision or their errors change (a pods watch), and {"type": "ERROR", "error": "..."}
// when boxd ends a watch. Loop thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/api_server.h"
#include "agent/dispatcher.h"

namespace boxd::agent {

class WatchHub {
 public:
  // A pod as status shows it; nullopt once it is gone.
  using Render = std::function<std::optional<nlohmann::json>(const std::string& pod)>;
  WatchHub(uv_loop_t* loop, Render render);

  // A pods watch: first the specs and every pod now (ADDED), then SYNCED, then changes.
  void addPodWatcher(std::shared_ptr<ApiStream> s, const nlohmann::json& specs,
                     const std::vector<nlohmann::json>& now);
  // An events watch, of one pod or ("") of all: the recent events, SYNCED, then each new one.
  void addEventWatcher(std::shared_ptr<ApiStream> s, const std::string& pod,
                       const nlohmann::json& recent);

  void podChanged(const std::string& name);        // sent at the end of this turn of the loop
  void specsChanged(const nlohmann::json& specs);  // sent now, when it differs
  bool watchingPods() const { return !pods_.empty(); }
  void event(const nlohmann::json& ev);  // sent now

  size_t watchers() const { return pods_.size() + events_.size(); }

 private:
  struct EventWatcher {
    std::shared_ptr<ApiStream> stream;
    std::string pod;
  };
  void flush();
  void send(const nlohmann::json& line);

  Render render_;
  Timer flushTimer_;
  std::vector<std::shared_ptr<ApiStream>> pods_;
  std::vector<EventWatcher> events_;
  std::set<std::string> changed_;
  std::map<std::string, std::string> lastSent_;  // pod -> its last line's pod JSON
  std::string lastSpecs_;
};

}  // namespace boxd::agent
