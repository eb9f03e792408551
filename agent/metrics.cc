#include "agent/metrics.h"

#include <cmath>
#include <cstdio>
#include <tuple>

namespace boxd::agent {

namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string labelText(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    out += (i ? "," : "") + labels[i].first + "=\"" + escapeLabelValue(labels[i].second) + "\"";
  }
  return out + "}";
}

// One metric family: # HELP, # TYPE, then its samples.
class Family {
 public:
  Family(std::string& out, const std::string& name, const char* type, const char* help)
      : out_(out), name_(name) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(const Labels& labels, double v, const std::string& suffix = "") {
    out_ += name_ + suffix + labelText(labels) + " " + number(v) + "\n";
  }

 private:
  std::string& out_;
  std::string name_;
};

Labels podLabels(const ContainerMetrics& c) { return {{"pod", c.pod}, {"container", c.container}}; }

void renderPods(std::string& out, const MetricsSnapshot& s) {
  Family pods(out, "boxd_pods", "gauge", "Pods known to boxd, by phase.");
  for (const auto& [phase, n] : s.podsByPhase) pods.sample({{"phase", phase}}, double(n));

  Family restarts(out, "boxd_container_restarts_total", "counter",
                  "Restarts of each container of each pod.");
  for (const auto& c : s.containers) restarts.sample(podLabels(c), double(c.restarts));

  Family exit(out, "boxd_container_last_exit_code", "gauge",
              "Exit code of the last run of each container that has exited.");
  for (const auto& c : s.containers) {
    if (c.lastExitCode) exit.sample(podLabels(c), double(*c.lastExitCode));
  }
  Family running(out, "boxd_container_running", "gauge", "1 when the container runs, else 0.");
  for (const auto& c : s.containers) running.sample(podLabels(c), c.state == "Running" ? 1 : 0);
}

void renderUsage(std::string& out, const MetricsSnapshot& s) {
  Family cpu(out, "container_cpu_usage_seconds_total", "counter",
             "Cumulative CPU time consumed by the container, in seconds (its cgroup).");
  for (const auto& c : s.containers) {
    if (c.cpuUsageNs) cpu.sample(podLabels(c), double(*c.cpuUsageNs) / 1e9);
  }
  Family mem(out, "container_memory_working_set_bytes", "gauge",
             "Memory usage minus inactive file cache of the container's cgroup, in bytes.");
  for (const auto& c : s.containers) {
    if (c.memoryWorkingSetBytes) mem.sample(podLabels(c), double(*c.memoryWorkingSetBytes));
  }
  Family pids(out, "container_processes", "gauge",
              "Processes and threads in the container's cgroup.");
  for (const auto& c : s.containers) {
    if (c.pids) pids.sample(podLabels(c), double(*c.pids));
  }
}

void renderSteps(std::string& out, const MetricsRegistry& reg) {
  Family h(out, "boxd_step_duration_seconds", "histogram",
           "Duration of step applies and undos, by step kind.");
  for (const auto& [key, hist] : reg.steps()) {
    Labels base = {{"kind", key.first}, {"op", key.second}};
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= hist.bounds().size(); ++i) {
      cumulative += hist.counts()[i];
      Labels l = base;
      l.emplace_back("le", i < hist.bounds().size() ? number(hist.bounds()[i]) : "+Inf");
      h.sample(l, double(cumulative), "_bucket");
    }
    h.sample(base, hist.sum(), "_sum");
    h.sample(base, double(hist.count()), "_count");
  }
  Family results(out, "boxd_steps_total", "counter", "Step applies and undos, by kind and result.");
  for (const auto& [key, n] : reg.stepResults()) {
    results.sample(
        {{"kind", std::get<0>(key)}, {"op", std::get<1>(key)}, {"result", std::get<2>(key)}},
        double(n));
  }
  Family rb(out, "boxd_rollbacks_total", "counter",
            "Pod creations rolled back, by the kind of the step that failed and the reason.");
  for (const auto& [key, n] : reg.rollbacks())
    rb.sample({{"kind", key.first}, {"reason", key.second}}, double(n));
}

void renderAgent(std::string& out, const MetricsSnapshot& s) {
  Family passes(out, "boxd_spec_passes_total", "counter", "Reads of the specs directory.");
  passes.sample({}, double(s.specPasses));
  Family files(out, "boxd_spec_error_files", "gauge", "Spec files with errors in the last pass.");
  files.sample({}, double(s.specErrorFiles));
  Family errs(out, "boxd_spec_errors", "gauge", "Errors found in spec files in the last pass.");
  errs.sample({}, double(s.specErrors));
  Family readable(out, "boxd_specs_dir_readable", "gauge",
                  "1 when the last pass could read the specs directory, else 0.");
  readable.sample({}, s.specsReadable ? 1 : 0);
  Family rev(out, "boxd_specs_revision_info", "gauge",
             "The revision of the specs directory boxd applies (a git-sync or ConfigMap link "
             "target, or a content hash).");
  rev.sample({{"revision", s.revision}}, 1);
  Family journal(out, "boxd_journal_rows", "gauge", "Rows in the step journal of the state store.");
  journal.sample({}, double(s.journalRows));
  if (s.stateDbBytes) {
    Family db(out, "boxd_state_db_bytes", "gauge", "Size of the state store (database and WAL).");
    db.sample({}, double(*s.stateDbBytes));
  }
  Family info(out, "boxd_build_info", "gauge", "boxd's version.");
  info.sample({{"version", s.version}}, 1);
  Family start(out, "boxd_start_time_seconds", "gauge", "When boxd started, in Unix seconds.");
  start.sample({}, s.startTimeSeconds);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

std::vector<double> Histogram::defaultBounds() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i]++;
  sum_ += v;
  count_++;
}

void MetricsRegistry::observeStep(const std::string& kind, const std::string& op, double seconds,
                                  bool ok) {
  steps_[{kind, op}].observe(seconds);
  stepResults_[{kind, op, ok ? "ok" : "error"}]++;
}

void MetricsRegistry::countRollback(const std::string& kind, const std::string& reason) {
  rollbacks_[{kind, reason}]++;
}

std::string escapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string renderMetrics(const MetricsSnapshot& snap, const MetricsRegistry& reg) {
  std::string out;
  renderPods(out, snap);
  renderUsage(out, snap);
  renderSteps(out, reg);
  renderAgent(out, snap);
  return out;
}

}  // namespace boxd::agent

namespace boxd::agent {

Result<MetricsEndpoint> parseMetricsAddress(const std::string& address) {
  MetricsEndpoint ep;
  auto bad = [&](const std::string& why) {
    return makeError("metricsAddress \"" + address + "\": " + why);
  };
  if (address.rfind("unix:", 0) == 0 || address.rfind('/', 0) == 0) {
    ep.unixSocket = true;
    ep.path = address.rfind("unix:", 0) == 0 ? address.substr(5) : address;
    if (ep.path.empty() || ep.path[0] != '/') return bad("a unix socket needs an absolute path");
    if (ep.path.size() >= 108) return bad("the socket path is too long");
    return ep;
  }
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return bad("expected unix:/path or 127.0.0.1:PORT");
  ep.host = address.substr(0, colon);
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']')
    ep.host = ep.host.substr(1, ep.host.size() - 2);
  std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port must be a number from 1 to 65535");
  ep.port = std::stoi(port);
  if (ep.port < 1 || ep.port > 65535) return bad("the port must be a number from 1 to 65535");
  bool loopback4 = ep.host.rfind("127.", 0) == 0 &&
                   ep.host.find_first_not_of("0123456789.") == std::string::npos;
  if (!loopback4 && ep.host != "::1")
    return bad(
        "metrics are served on a loopback address (127.0.0.0/8, [::1]) or a unix socket "
        "only: they have no authentication");
  return ep;
}

}  // namespace boxd::agent
