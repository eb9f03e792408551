// boxd's metrics in the Prometheus text exposition format (version 0.0.4).
//
// Counters and histograms that events update (steps, rollbacks) live in MetricsRegistry, owned by
// the agent and touched on the loop thread only. Everything else is a gauge read at scrape time
// into a MetricsSnapshot (pods, containers, their cgroup usage, the specs pass), and
// renderMetrics turns both into the text. Names follow cAdvisor where it has one
// (container_cpu_usage_seconds_total, container_memory_working_set_bytes, with pod and container
// labels); the rest are boxd_*. Pure: unit-tested, and checked with `promtool check metrics`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace boxd::agent {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds = defaultBounds());
  void observe(double v);
  static std::vector<double> defaultBounds();  // 1 ms .. 60 s, for step durations

  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket, not cumulative
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // bounds_.size() + 1 (the last is +Inf)
  double sum_ = 0;
  uint64_t count_ = 0;
};

class MetricsRegistry {
 public:
  // op: "apply" or "undo"; ok: whether the step succeeded.
  void observeStep(const std::string& kind, const std::string& op, double seconds, bool ok);
  // A create rolled back: the kind of the step that failed and why ("apply_failed",
  // "journal_failed", "invalid_step").
  void countRollback(const std::string& kind, const std::string& reason);

  const std::map<std::pair<std::string, std::string>, Histogram>& steps() const { return steps_; }
  const std::map<std::tuple<std::string, std::string, std::string>, uint64_t>& stepResults() const {
    return stepResults_;
  }
  const std::map<std::pair<std::string, std::string>, uint64_t>& rollbacks() const {
    return rollbacks_;
  }

 private:
  std::map<std::pair<std::string, std::string>, Histogram> steps_;  // (kind, op)
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t>
      stepResults_;                                                    // (kind, op, result)
  std::map<std::pair<std::string, std::string>, uint64_t> rollbacks_;  // (kind, reason)
};

struct ContainerMetrics {
  std::string pod, container;
  bool init = false;
  std::string state;  // Waiting, Running, Terminated
  int64_t restarts = 0;
  std::optional<int64_t> lastExitCode;  // once it has exited
  std::optional<int64_t> cpuUsageNs, memoryWorkingSetBytes, pids;
};

struct MetricsSnapshot {
  std::map<std::string, int64_t> podsByPhase;  // every phase boxd uses, zeros included
  std::vector<ContainerMetrics> containers;
  int64_t specPasses = 0;
  int64_t specErrorFiles = 0, specErrors = 0;
  bool specsReadable = true;
  std::string revision;
  int64_t journalRows = 0;
  std::optional<int64_t> stateDbBytes;
  std::string version;
  double startTimeSeconds = 0;
};

std::string renderMetrics(const MetricsSnapshot& snap, const MetricsRegistry& reg);

// A label value escaped for the text format: backslash, double quote and newline.
std::string escapeLabelValue(const std::string& v);

}  // namespace boxd::agent

#include "common/result.h"

namespace boxd::agent {

// Where the metrics are served (the config's metricsAddress): "" = nowhere (the default);
// "unix:/path" or "/path" = a unix socket (mode 0660); "127.0.0.1:9102" or "[::1]:9102" = TCP on
// a loopback address. Metrics have no authentication, so other addresses are refused.
struct MetricsEndpoint {
  bool unixSocket = false;
  std::string path;  // unix socket
  std::string host;  // TCP: "127.0.0.1", "::1"
  int port = 0;
};
Result<MetricsEndpoint> parseMetricsAddress(const std::string& address);

}  // namespace boxd::agent
