// boxctl status -w and boxctl events -w: a watch on boxd's socket (agent/watch_hub.h has the
// lines), shown as table rows as they come (like `kubectl get -w`) or, with -o json, as the JSON
// lines themselves.
//
// Ctrl-C (SIGINT), SIGTERM or SIGHUP end the watch with exit 0: the operator stopped it, nothing
// failed. (kubectl exits 1 there, from its interrupt handler's default; boxctl keeps 1 for boxd
// going away, so a script can tell the two apart.) When boxd closes the watch (it stopped, or
// dropped a watcher that fell behind) boxctl says why on stderr and exits 1.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::agent {

// Connects to boxd's socket and sends req (a request with "watch"); the connected socket, or -1
// with the reason printed on stderr. The caller closes it.
int openWatchConnection(const std::string& socket, const nlohmann::json& req);

// Whether `boxctl status|events ARGS` asks for a watch (-w or --watch among ARGS).
bool wantsWatch(const std::vector<std::string>& args);

// Runs `boxctl status -w [-o json]` or `boxctl events [POD] -w [-o json]`; returns the exit code.
int runWatch(const std::string& socket, const std::string& cmd,
             const std::vector<std::string>& args);

// Turns watch lines into table rows: the rows of the first state are buffered until SYNCED and
// shown as one table, whose column widths the later rows keep. A SPECS line becomes
// "specs: DIR (revision R)" and a "spec error: ..." line per error, above the first table and
// between rows later. Pure, so it is unit-tested.
class WatchTable {
 public:
  enum class Kind { Pods, Events };
  WatchTable(Kind kind, int64_t (*clock)());
  std::string feed(const nlohmann::json& line);  // text to print now (may be empty)

 private:
  std::vector<std::string> row(const nlohmann::json& line) const;
  std::string render(const std::vector<std::string>& r) const;
  Kind kind_;
  int64_t (*clock_)();
  bool synced_ = false;
  std::string preamble_;  // the specs line of the first state
  std::vector<std::vector<std::string>> initial_;
  std::vector<size_t> width_;
};

}  // namespace boxd::agent
