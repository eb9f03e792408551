#include "bench/block_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/proc.h"

namespace boxd::bench {

using nlohmann::json;

namespace {

constexpr double kRatioGoal = 0.60;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double med(const std::vector<double>& v) { return v.empty() ? NAN : median(v); }

std::string mibps(const std::vector<double>& v) { return v.empty() ? "-" : fmt("%.0f", med(v)); }

std::string ratioText(double r) { return std::isnan(r) ? "-" : fmt("%.2f", r); }

// "0.45-0.83": the lowest and highest per-round ratio.
std::string ratioRange(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || a.size() != b.size()) return "";
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i] <= 0) continue;
    lo = std::min(lo, a[i] / b[i]);
    hi = std::max(hi, a[i] / b[i]);
  }
  return std::isinf(lo) ? "" : fmt("%.2f", lo) + "-" + fmt("%.2f", hi);
}

std::string ms(double v) {
  if (std::isnan(v)) return "-";
  return v < 1000 ? fmt("%.0f ms", v) : fmt("%.2f s", v / 1000);
}

std::string msRange(const std::vector<double>& v) {
  if (v.empty()) return "-";
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return ms(med(v)) + " (" + fmt("%.0f", *lo) + "-" + fmt("%.0f", *hi) + ")";
}

std::vector<double> concat(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

std::string row4(const std::string& what, const std::string& a, const std::string& b,
                 const std::string& c, const std::string& d = "") {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-62s %9s %9s %6s  %s\n", what.c_str(), a.c_str(), b.c_str(),
                c.c_str(), d.c_str());
  return buf;
}

// A container figure against a peer's, measured in the same rounds.
std::string vs(const std::string& what, const std::vector<double>& mine,
               const std::vector<double>& peer, bool showMine = true) {
  return row4(what, showMine ? mibps(mine) : "", mibps(peer), ratioText(medianRatio(mine, peer)),
              ratioRange(mine, peer));
}

std::string row3(const std::string& what, const std::string& a, const std::string& b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-62s %-18s %s\n", what.c_str(), a.c_str(), b.c_str());
  return buf;
}

std::string throughputTable(const BlockFigures& f) {
  std::string out = "\nthroughput: " + std::to_string(f.sizeMiB) + " MiB in " +
                    (f.ioKiB % 1024 == 0 ? std::to_string(f.ioKiB / 1024) + " MiB"
                                         : std::to_string(f.ioKiB) + " KiB") +
                    " blocks, median of " + std::to_string(f.rounds) +
                    " rounds after a warm-up round; ratio = median of the per-round ratios\n";
  out += row4("", "container", "peer", "ratio", "per round");
  out += row4("", "MiB/s", "MiB/s", "", "");
  if (f.iscsi) {
    out += vs("iSCSI write: dd conv=fsync vs libiscsi QD1 WRITE16 + SYNC CACHE", f.iscsiWrite,
              f.rawWrite1);
    out += vs("             same vs libiscsi QD8", f.iscsiWrite, f.rawWrite8, false);
    out += vs("iSCSI read: dd after drop_caches vs libiscsi QD1 READ16", f.iscsiRead, f.rawRead1);
    out += vs("             same vs libiscsi QD8", f.iscsiRead, f.rawRead8, false);
  }
  if (f.rbd) {
    out += vs("RBD write: dd conv=fsync vs rbd bench --io-type write", f.rbdWrite, f.rbdBenchWrite);
    out += vs("           same vs rbd bench --rbd_cache=false (boxd-blockd's)", f.rbdWrite,
              f.rbdBenchWriteNoCache, false);
    out += vs("RBD write QD1: dd oflag=direct vs rbd bench --io-threads 1", f.rbdDirectWrite,
              f.rbdBenchWrite1);
    out +=
        vs("RBD read: dd after drop_caches vs rbd bench --io-type read", f.rbdRead, f.rbdBenchRead);
    if (f.rbdHelperRssMiB >= 0)
      out += "RBD helper (boxd-blockd) after the rounds: " +
             std::to_string(static_cast<int>(f.rbdHelperRssMiB)) + " MiB resident, peak " +
             std::to_string(static_cast<int>(f.rbdHelperPeakMiB)) + " MiB\n";
  }
  return out;
}

// "38 / 0.6 / 71 ms": the medians of the three block steps.
std::string steps(const PodTimes& p) {
  auto m = [&](const char* kind) {
    auto it = p.stepMs.find(kind);
    return it == p.stepMs.end() || it->second.empty() ? NAN : med(it->second);
  };
  double s = m("blocksession"), d = m("blockdevice"), fs = m("blockfs");
  if (std::isnan(s) || std::isnan(d) || std::isnan(fs)) return "-";
  return fmt("%.0f / ", s) + fmt("%.1f / ", d) + fmt("%.0f ms", fs);
}

std::string podTable(const BlockFigures& f) {
  std::string out = "\npods, median of " + std::to_string(f.podRounds) +
                    " rounds, kinds interleaved (min-max in ms):\n";
  out += row3("", f.iscsi ? "iSCSI" : "", f.rbd ? "RBD" : "");
  out += row3("spec -> Running, blank volume (mkfs)", msRange(f.iscsiBlank.upMs),
              msRange(f.rbdBlank.upMs));
  out += row3("  steps: helper up / loop / probe, mkfs, mount", steps(f.iscsiBlank),
              steps(f.rbdBlank));
  out += row3("spec -> Running, formatted volume", msRange(f.iscsiFormatted.upMs),
              msRange(f.rbdFormatted.upMs));
  out += row3("  steps: helper up / loop / probe, fsck, mount", steps(f.iscsiFormatted),
              steps(f.rbdFormatted));
  out += row3("spec removed -> pod gone, helper gone, loop detached",
              msRange(concat(f.iscsiBlank.downMs, f.iscsiFormatted.downMs)),
              msRange(concat(f.rbdBlank.downMs, f.rbdFormatted.downMs)));
  out += row3("spec removed -> boxd's Deleted event",
              msRange(concat(f.iscsiBlank.deletedMs, f.iscsiFormatted.deletedMs)),
              msRange(concat(f.rbdBlank.deletedMs, f.rbdFormatted.deletedMs)));
  out += "(detach: iSCSI also waits until the target lists no session; both kinds of round.)\n";
  return out;
}

}  // namespace

double medianRatio(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || a.size() != b.size()) return NAN;
  std::vector<double> r;
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i] > 0) r.push_back(a[i] / b[i]);
  }
  return r.empty() ? NAN : median(r);
}

std::string formatBlockTable(const BlockFigures& f) {
  std::string out = "block volume bench (this machine: " + std::to_string(f.cores) +
                    " cores, Linux " + f.kernel + "; load average " + f.loadStart +
                    " at the start, " + f.loadEnd + " at the end)\n";
  if (!f.loadSamples.empty()) {
    auto [lo, hi] = std::minmax_element(f.loadSamples.begin(), f.loadSamples.end());
    out += "1-minute load average at the rounds: median " + fmt("%.2f", med(f.loadSamples)) + ", " +
           fmt("%.2f", *lo) + "-" + fmt("%.2f", *hi) + "\n";
  }
  out += throughputTable(f);
  out += podTable(f);
  out += "\ntargets:\n";
  auto target = [&](const std::string& name, double r) {
    std::string verdict = std::isnan(r) ? "not measured" : r >= kRatioGoal ? "ok" : "MISSED";
    char buf[256];
    std::snprintf(buf, sizeof buf, "  %-52s %-6s %s\n", name.c_str(), ratioText(r).c_str(),
                  verdict.c_str());
    out += buf;
  };
  if (f.iscsi)
    target("iSCSI dd write >= 0.60 of libiscsi QD1", medianRatio(f.iscsiWrite, f.rawWrite1));
  if (f.rbd) target("RBD dd write >= 0.60 of rbd bench", medianRatio(f.rbdWrite, f.rbdBenchWrite));
  for (const auto& l : f.leftovers) out += "leftover removed by force: " + l + "\n";
  return out;
}

namespace {

json nullable(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

json series(const std::vector<double>& v) { return {{"median", nullable(med(v))}, {"samples", v}}; }

json podJson(const PodTimes& p) {
  json stepsJ = json::object();
  for (const auto& [kind, v] : p.stepMs) stepsJ[kind] = series(v);
  return {{"specToRunningMs", series(p.upMs)},
          {"stepApplyMs", stepsJ},
          {"detachMs", series(p.downMs)},
          {"deletedEventMs", series(p.deletedMs)}};
}

}  // namespace

json blockJson(const BlockFigures& f) {
  json j = {{"machine",
             {{"cores", f.cores},
              {"kernel", f.kernel},
              {"loadAverageStart", f.loadStart},
              {"loadAverageEnd", f.loadEnd},
              {"loadAverage1mAtRounds", f.loadSamples}}},
            {"rounds", f.rounds},
            {"podRounds", f.podRounds},
            {"sizeMiB", f.sizeMiB},
            {"ioKiB", f.ioKiB},
            {"leftoversRemovedByForce", f.leftovers}};
  if (f.iscsi) {
    j["iscsi"] = {
        {"throughputMiBps",
         {{"containerWrite", series(f.iscsiWrite)},
          {"containerRead", series(f.iscsiRead)},
          {"libiscsiWriteQd1", series(f.rawWrite1)},
          {"libiscsiWriteQd8", series(f.rawWrite8)},
          {"libiscsiReadQd1", series(f.rawRead1)},
          {"libiscsiReadQd8", series(f.rawRead8)}}},
        {"ratios",
         {{"writeVsQd1", nullable(medianRatio(f.iscsiWrite, f.rawWrite1))},
          {"writeVsQd8", nullable(medianRatio(f.iscsiWrite, f.rawWrite8))},
          {"readVsQd1", nullable(medianRatio(f.iscsiRead, f.rawRead1))},
          {"readVsQd8", nullable(medianRatio(f.iscsiRead, f.rawRead8))}}},
        {"pods", {{"blank", podJson(f.iscsiBlank)}, {"formatted", podJson(f.iscsiFormatted)}}}};
  }
  if (f.rbd) {
    j["rbd"] = {
        {"throughputMiBps",
         {{"containerWrite", series(f.rbdWrite)},
          {"containerRead", series(f.rbdRead)},
          {"rbdBenchWrite", series(f.rbdBenchWrite)},
          {"rbdBenchRead", series(f.rbdBenchRead)},
          {"rbdBenchWriteNoCache", series(f.rbdBenchWriteNoCache)},
          {"containerDirectWrite", series(f.rbdDirectWrite)},
          {"rbdBenchWriteQd1", series(f.rbdBenchWrite1)}}},
        {"ratios",
         {{"writeVsRbdBench", nullable(medianRatio(f.rbdWrite, f.rbdBenchWrite))},
          {"writeVsRbdBenchNoCache", nullable(medianRatio(f.rbdWrite, f.rbdBenchWriteNoCache))},
          {"directWriteQd1VsRbdBenchQd1",
           nullable(medianRatio(f.rbdDirectWrite, f.rbdBenchWrite1))},
          {"readVsRbdBench", nullable(medianRatio(f.rbdRead, f.rbdBenchRead))}}},
        {"helperMiB",
         {{"rss", nullable(f.rbdHelperRssMiB < 0 ? NAN : f.rbdHelperRssMiB)},
          {"peak", nullable(f.rbdHelperPeakMiB < 0 ? NAN : f.rbdHelperPeakMiB)}}},
        {"pods", {{"blank", podJson(f.rbdBlank)}, {"formatted", podJson(f.rbdFormatted)}}}};
  }
  return j;
}

}  // namespace boxd::bench
