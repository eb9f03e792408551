#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/proc.h"

namespace boxd::bench {

using nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool have(double v) { return v >= 0 && !std::isnan(v); }

std::string ms(double v) {
  if (!have(v)) return "-";
  return v < 1000 ? fmt("%.1f ms", v) : fmt("%.2f s", v / 1000);
}

std::string mib(double kb) { return have(kb) ? fmt("%.1f MiB", kb / 1024) : "-"; }

std::string ratio(double boxd, double podman) {
  if (!have(boxd) || !have(podman) || boxd <= 0) return "";
  double r = podman / boxd;
  return r >= 10 ? fmt("%.0fx", r) : fmt("%.1fx", r);
}

double med(const std::vector<double>& v) { return v.empty() ? -1 : median(v); }
double p99(const std::vector<double>& v) { return v.empty() ? -1 : percentileNearestRank(v, 99); }

// on - off of each round (the two pods set up next to each other in time): less sensitive to
// load that changes during the run than the difference of the medians.
double pairedNetworkCostMs(const Figures& f) {
  const auto &on = f.netOn.upMs, &off = f.netOff.upMs;
  if (on.empty() || on.size() != off.size()) return NAN;
  std::vector<double> d;
  for (size_t i = 0; i < on.size(); ++i) d.push_back(on[i] - off[i]);
  return median(d);
}

// What the pod network adds to the spec -> Running median.
double networkCostMs(const Figures& f) {
  if (f.netOn.upMs.empty() || f.netOff.upMs.empty()) return NAN;
  return med(f.netOn.upMs) - med(f.netOff.upMs);
}

std::string signedMs(double v) {
  if (std::isnan(v)) return "-";
  return fmt("%+.1f ms", v);
}

std::string row(const std::string& what, const std::string& b, const std::string& p,
                const std::string& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-64s %-12s %-12s %s\n", what.c_str(), b.c_str(), p.c_str(),
                r.c_str());
  return buf;
}

double idleCpuPercent(const Figures& f) {
  if (f.boxdCpuTicks < 0 || f.idleWindowS <= 0) return -1;
  return 100.0 * static_cast<double>(f.boxdCpuTicks) / static_cast<double>(f.clockTicksPerS) /
         f.idleWindowS;
}

struct Target {
  std::string name;
  double value, limit;
  std::string shown;
};

std::vector<Target> targets(const Figures& f) {
  double net = networkCostMs(f);
  return {
      {"spec -> Running median < 50 ms", med(f.netOn.upMs), 50, ms(med(f.netOn.upMs))},
      {"pod network adds < 10 ms to that median", std::isnan(net) ? -1 : std::max(net, 0.0), 10,
       signedMs(net)},
      {std::to_string(f.burstPods) + " pods Running < 2 s", f.burstUpMs, 2000, ms(f.burstUpMs)},
      {std::to_string(f.burstPods) + " pods gone < 1 s", f.burstGoneMs, 1000, ms(f.burstGoneMs)},
      {"boxctl status < 20 ms at " + std::to_string(f.burstPods) + " pods", med(f.statusMs), 20,
       ms(med(f.statusMs))},
      {"boxd RSS < 30 MB", f.boxdRssKb < 0 ? -1 : static_cast<double>(f.boxdRssKb) * 1024 / 1e6, 30,
       f.boxdRssKb < 0 ? "-" : fmt("%.1f MB", static_cast<double>(f.boxdRssKb) * 1024 / 1e6)},
      {"boxd idle CPU ~0 (< 1%)", idleCpuPercent(f), 1, fmt("%.2f %%", idleCpuPercent(f))},
  };
}

std::string row5(const std::string& what, const std::string& on, const std::string& off,
                 const std::string& diff, const std::string& hp) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-44s %-11s %-11s %-11s %s\n", what.c_str(), on.c_str(),
                off.c_str(), diff.c_str(), hp.c_str());
  return buf;
}

std::string stepMs(const ModeFigures& m, const std::string& kind) {
  auto it = m.stepUs.find(kind);
  if (it == m.stepUs.end() || it->second.empty()) return "-";
  auto c = m.stepCount.find(kind);
  std::string count = c != m.stepCount.end() && c->second > 1 ? fmt(" x%.0f", c->second) : "";
  return fmt("%.2f ms", median(it->second) / 1000) + count;
}

// Per pod: spec -> Running minus the steps' apply time (journal writes, the loop, container
// start, the Started event).
double restMs(const ModeFigures& m) {
  auto it = m.stepUs.find("all");
  if (it == m.stepUs.end() || it->second.size() != m.upMs.size() || m.upMs.empty()) return -1;
  std::vector<double> rest;
  for (size_t i = 0; i < m.upMs.size(); ++i) rest.push_back(m.upMs[i] - it->second[i] / 1000);
  return median(rest);
}

std::vector<std::string> stepKinds(const Figures& f) {
  std::vector<std::string> kinds = {"poddir",   "cgroup", "netns",  "veth",
                                    "hostport", "files",  "rootfs", "shim"};
  for (const ModeFigures* m : {&f.netOn, &f.netOff, &f.hostPort}) {
    for (const auto& [k, v] : m->stepUs) {
      if (k != "all" && std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);
    }
  }
  return kinds;
}

std::string networkTable(const Figures& f) {
  const ModeFigures &on = f.netOn, &off = f.netOff, &hp = f.hostPort;
  auto diff = [](double a, double b) { return have(a) && have(b) ? signedMs(a - b) : "-"; };
  std::string out = "\npod network (boxd; " + f.network + "), " + std::to_string(on.upMs.size()) +
                    " pods per column, one at a time, interleaved:\n";
  out += row5("", "on", "off", "on - off", "on + hostPort");
  out += row5("spec -> Running, median", ms(med(on.upMs)), ms(med(off.upMs)),
              diff(med(on.upMs), med(off.upMs)), ms(med(hp.upMs)));
  out += row5("spec -> Running, p99", ms(p99(on.upMs)), ms(p99(off.upMs)),
              diff(p99(on.upMs), p99(off.upMs)), ms(p99(hp.upMs)));
  out += row5("delete -> gone, median", ms(med(on.downMs)), ms(med(off.downMs)),
              diff(med(on.downMs), med(off.downMs)), ms(med(hp.downMs)));
  out += "step apply time per pod, median (xN: steps of that kind per pod):\n";
  for (const auto& k : stepKinds(f)) {
    out += row5("  " + k, stepMs(on, k), stepMs(off, k), "", stepMs(hp, k));
  }
  out += row5("  all steps", stepMs(on, "all"), stepMs(off, "all"), "", stepMs(hp, "all"));
  out += row5("  the rest (spec, plan, journal, start)", ms(restMs(on)), ms(restMs(off)),
              diff(restMs(on), restMs(off)), ms(restMs(hp)));
  double net = networkCostMs(f), paired = pairedNetworkCostMs(f);
  if (!std::isnan(net)) {
    out +=
        "the pod network adds " + signedMs(net) +
        " to the spec -> Running median (median of the per-round differences: " + signedMs(paired) +
        ").\n";
  }
  return out;
}

}  // namespace

std::string formatTable(const Figures& f) {
  const double n = f.burstPods;
  std::string out;
  out += row(
      "boxd bench (this machine: " + std::to_string(f.cores) + " cores, Linux " + f.kernel + ")",
      "boxd", "podman", "ratio");
  double up1 = med(f.podmanUp1Ms), down1 = med(f.podmanDown1Ms);
  // podman runs with --network none: its like is boxd without a pod network.
  const ModeFigures& off = f.netOff;
  out += row("spec -> Running, median (" + std::to_string(off.upMs.size()) +
                 " pods one at a time, no pod network)",
             ms(med(off.upMs)), ms(up1), ratio(med(off.upMs), up1));
  out += row("spec -> Running, p99 (no pod network)", ms(p99(off.upMs)), "", "");
  out += row("delete -> gone, median (one pod at a time, no pod network)", ms(med(off.downMs)),
             ms(down1), ratio(med(off.downMs), down1));
  out += row(std::to_string(f.burstPods) + " pods at once -> all Running (boxd: pod network)",
             ms(f.burstUpMs), ms(f.podmanUpNMs), ratio(f.burstUpMs, f.podmanUpNMs));
  out += row(std::to_string(f.burstPods) + " pods deleted at once -> all gone", ms(f.burstGoneMs),
             ms(f.podmanDownNMs), ratio(f.burstGoneMs, f.podmanDownNMs));
  double shimPerPod = f.shimsRssKb < 0 ? -1 : static_cast<double>(f.shimsRssKb) / n;
  double conmonPerPod = f.conmonRssKb < 0 ? -1 : static_cast<double>(f.conmonRssKb) / n;
  out += row("runtime RSS per pod (boxd-shim | 3 conmon)", mib(shimPerPod), mib(conmonPerPod),
             ratio(shimPerPod, conmonPerPod));
  out += row("boxd RSS at " + std::to_string(f.burstPods) + " pods",
             mib(static_cast<double>(f.boxdRssKb)), "", "");
  out += row("boxd CPU over " + fmt("%.0f", f.idleWindowS) + " s idle at " +
                 std::to_string(f.burstPods) + " pods",
             std::to_string(f.boxdCpuTicks) + " ticks", "", fmt("(%.2f %%)", idleCpuPercent(f)));
  out += row("shims RSS, total (" + std::to_string(f.shims) + " shims)",
             mib(static_cast<double>(f.shimsRssKb)), "", "");
  out += row("boxctl status, median of " + std::to_string(f.statusMs.size()) + " (" +
                 std::to_string(f.burstPods) + " pods)",
             ms(med(f.statusMs)), "", "");
  out += "\nratio = podman / boxd. podman: " + f.podman +
         (f.podmanVersion.empty() ? "" : " (" + f.podmanVersion + ")");
  out += "; N=1 figures are medians of " + std::to_string(f.podmanUp1Ms.size()) + " runs";
  if (!f.podmanNNote.empty()) out += "; " + f.podmanNNote;
  out +=
      ".\npodman runs `kube play --network none` (loopback only), so its N=1 figures stand next "
      "to boxd's\npods without a pod network; boxd's burst, idle and status figures are with "
      "its pod network.\n";
  out +=
      "Running = last container's start as the runtime recorded it (boxd Started event, podman "
      "StartedAt),\n"
      "from the wall clock just before the spec file's rename (boxd) or `podman kube play` "
      "(podman).\n";
  out += networkTable(f);
  out += "\ntargets:\n";
  for (const auto& t : targets(f)) {
    std::string verdict = !have(t.value) ? "not measured" : t.value < t.limit ? "ok" : "MISSED";
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-40s %-12s %s\n", t.name.c_str(), t.shown.c_str(),
                  verdict.c_str());
    out += buf;
  }
  for (const auto& l : f.boxdLeftovers) out += "boxd leftover removed by force: " + l + "\n";
  for (const auto& l : f.podmanLeftovers) out += "podman leftover removed by force: " + l + "\n";
  return out;
}

namespace {

json nullable(double v) { return have(v) ? json(v) : json(nullptr); }
json signedNullable(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json modeJson(const ModeFigures& m) {
  json steps = json::object();
  for (const auto& [kind, us] : m.stepUs) {
    auto c = m.stepCount.find(kind);
    steps[kind] = {{"medianUs", nullable(med(us))},
                   {"perPod", c != m.stepCount.end() ? c->second : 0},
                   {"samplesUs", us}};
  }
  return {
      {"specToRunningMs",
       {{"median", nullable(med(m.upMs))}, {"p99", nullable(p99(m.upMs))}, {"samples", m.upMs}}},
      {"deleteToGoneMs", {{"median", nullable(med(m.downMs))}, {"samples", m.downMs}}},
      {"stepApply", steps}};
}

}  // namespace

json toJson(const Figures& f) {
  json t = json::array();
  for (const auto& x : targets(f)) {
    t.push_back({{"target", x.name},
                 {"value", nullable(x.value)},
                 {"limit", x.limit},
                 {"met", have(x.value) && x.value < x.limit}});
  }
  return {
      {"machine", {{"cores", f.cores}, {"kernel", f.kernel}}},
      {"boxd",
       {{"specToRunningMs",
         {{"median", nullable(med(f.netOn.upMs))},
          {"p99", nullable(p99(f.netOn.upMs))},
          {"samples", f.netOn.upMs}}},
        {"deleteToGoneMs",
         {{"median", nullable(med(f.netOn.downMs))}, {"samples", f.netOn.downMs}}},
        {"podNetwork",
         {{"network", f.network},
          {"addsToMedianMs", signedNullable(networkCostMs(f))},
          {"medianOfRoundDifferencesMs", signedNullable(pairedNetworkCostMs(f))},
          {"on", modeJson(f.netOn)},
          {"off", modeJson(f.netOff)},
          {"hostPort", modeJson(f.hostPort)}}},
        {"burstPods", f.burstPods},
        {"burstUpMs", nullable(f.burstUpMs)},
        {"burstGoneMs", nullable(f.burstGoneMs)},
        {"rssKb", f.boxdRssKb},
        {"idleCpu",
         {{"windowSeconds", f.idleWindowS},
          {"ticks", f.boxdCpuTicks},
          {"ticksPerSecond", f.clockTicksPerS},
          {"percent", nullable(idleCpuPercent(f))}}},
        {"shims", {{"count", f.shims}, {"rssKbTotal", f.shimsRssKb}}},
        {"boxctlStatusMs", {{"median", nullable(med(f.statusMs))}, {"samples", f.statusMs}}},
        {"leftoversRemovedByForce", f.boxdLeftovers}}},
      {"podman",
       {{"state", f.podman},
        {"version", f.podmanVersion},
        {"n1",
         {{"upMedianMs", nullable(med(f.podmanUp1Ms))},
          {"downMedianMs", nullable(med(f.podmanDown1Ms))},
          {"upSamples", f.podmanUp1Ms},
          {"downSamples", f.podmanDown1Ms}}},
        {"nBurst",
         {{"upMs", nullable(f.podmanUpNMs)},
          {"downMs", nullable(f.podmanDownNMs)},
          {"note", f.podmanNNote},
          {"conmonRssKbTotal", f.conmonRssKb}}},
        {"leftoversRemovedByForce", f.podmanLeftovers}}},
      {"targets", t},
  };
}

}  // namespace boxd::bench
