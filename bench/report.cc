#include "bench/report.h"

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

std::string row(const std::string& what, const std::string& b, const std::string& p,
                const std::string& r) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-56s %-12s %-12s %s\n", what.c_str(), b.c_str(), p.c_str(),
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
  return {
      {"spec -> Running median < 50 ms", med(f.specToRunningMs), 50, ms(med(f.specToRunningMs))},
      {std::to_string(f.burstPods) + " pods Running < 2 s", f.burstUpMs, 2000, ms(f.burstUpMs)},
      {std::to_string(f.burstPods) + " pods gone < 1 s", f.burstGoneMs, 1000, ms(f.burstGoneMs)},
      {"boxctl status < 20 ms at " + std::to_string(f.burstPods) + " pods", med(f.statusMs), 20,
       ms(med(f.statusMs))},
      {"boxd RSS < 30 MB", f.boxdRssKb < 0 ? -1 : static_cast<double>(f.boxdRssKb) * 1024 / 1e6, 30,
       f.boxdRssKb < 0 ? "-" : fmt("%.1f MB", static_cast<double>(f.boxdRssKb) * 1024 / 1e6)},
      {"boxd idle CPU ~0 (< 1%)", idleCpuPercent(f), 1, fmt("%.2f %%", idleCpuPercent(f))},
  };
}

}  // namespace

std::string formatTable(const Figures& f) {
  const double n = f.burstPods;
  std::string out;
  out += row(
      "boxd bench (this machine: " + std::to_string(f.cores) + " cores, Linux " + f.kernel + ")",
      "boxd", "podman", "ratio");
  double up1 = med(f.podmanUp1Ms), down1 = med(f.podmanDown1Ms);
  out += row("spec -> Running, median (" + std::to_string(f.seqPods) + " pods, one at a time)",
             ms(med(f.specToRunningMs)), ms(up1), ratio(med(f.specToRunningMs), up1));
  out += row("spec -> Running, p99 (" + std::to_string(f.seqPods) + " pods)",
             ms(f.specToRunningMs.empty() ? -1 : percentileNearestRank(f.specToRunningMs, 99)), "",
             "");
  out += row("delete -> gone, median (one pod at a time)", ms(med(f.deleteToGoneMs)), ms(down1),
             ratio(med(f.deleteToGoneMs), down1));
  out += row(std::to_string(f.burstPods) + " pods at once -> all Running", ms(f.burstUpMs),
             ms(f.podmanUpNMs), ratio(f.burstUpMs, f.podmanUpNMs));
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
  out += ".\n";
  out +=
      "Running = last container's start as the runtime recorded it (boxd Started event, podman "
      "StartedAt),\n"
      "from the wall clock just before the spec file's rename (boxd) or `podman kube play` "
      "(podman).\n";
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

json toJson(const Figures& f) {
  auto nullable = [](double v) { return have(v) ? json(v) : json(nullptr); };
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
         {{"median", nullable(med(f.specToRunningMs))},
          {"p99", f.specToRunningMs.empty() ? json(nullptr)
                                            : json(percentileNearestRank(f.specToRunningMs, 99))},
          {"samples", f.specToRunningMs}}},
        {"deleteToGoneMs",
         {{"median", nullable(med(f.deleteToGoneMs))}, {"samples", f.deleteToGoneMs}}},
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
