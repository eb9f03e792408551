// boxd-bench-probes: what probing costs boxd. One private boxd with a pod network runs N pods
// (busybox httpd); boxd's CPU and RSS are measured over an idle window without probes, then with
// the same pods carrying an httpGet readiness and a tcpSocket liveness probe every second, and
// so on for R rounds (without, with, without, with, ...: a drift of the machine's load shows in
// the rounds' spread instead of in one figure); then one pod's liveness port stops answering
// and the time to the kill and to the restarted container is measured.
//
// CPU is the scheduler's on-CPU time of boxd (every thread, also the short-lived ones of its
// blocking calls) in ns, read from boxd's CPU-time clock, not utime + stime, whose 10 ms ticks
// are 0.05% of a core over a 20 s window. A window lasts boxd's resync period (30 s) by default:
// the resync of 50 pods costs boxd ~100 ms, and a 20 s window holds one or none of them, which
// moved a window's figure by ±0.3% of a core. RSS is the median of one reading a second over the
// window: one reading at its end jumped by 9-13 MiB in some rounds and not in the next (no growth
// over 6 rounds: memory held for a moment, then given back).
//
//   boxd-bench-probes [--pods 50] [--window-s 30] [--rounds 3] [--bin-dir DIR]
//                     [--source-dir DIR] [--keep-log DIR]   (boxd's log copied to
//                     DIR/boxd-probes.log)
//                     [--perf DIR]   (each window with probes is also a `perf record
//                     --call-graph dwarf` of boxd into DIR/perf-roundN.data, and each floor
//                     window one of the bench into DIR/perf-floor-roundN.data: profiling,
//                     the figures count perf's sampling too)
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "bench/boxd_peer.h"
#include "bench/probe_floor.h"
#include "bench/proc.h"
#include "common/util.h"

using namespace boxd;
using namespace boxd::bench;

namespace {

struct Options {
  int pods = 50;
  int windowS = 30;  // boxd's resync period: each window holds one resync (~0.4% of a core)
  int rounds = 3;
  std::string binDir = selfDir(), sourceDir = BOXD_SOURCE_DIR, keepLog, perfDir;
};

// 8080: the readiness port (httpd in the foreground); 8081: the liveness port (a second httpd,
// daemonized, serving /tmp: the latency phase kills it).
std::string podYaml(const std::string& name, bool probes) {
  std::string y = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
                  "}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n"
                  "  - name: web\n    image: busybox\n    command: [sh, -c, 'mkdir -p /www && "
                  "echo ok > /www/index.html && httpd -p 8081 -h /tmp && exec httpd -f -p 8080 "
                  "-h /www']\n";
  if (probes)
    y += "    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}\n"
         "    livenessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}\n";
  return y;
}

std::string loadavg() {
  auto r = readFile("/proc/loadavg");
  return r.ok() ? *r : "?\n";
}

struct Window {
  double cpuPercent = 0;
  int64_t rssKb = 0;
  double load1 = 0;  // the 1-minute load average at the window's start
};

// perfData: if set, the window is a `perf record` of boxd into that file instead of a sleep.
Window idleWindow(BoxdRun& boxd, int seconds, const std::string& perfData = "") {
  sleepMs(3000);
  Window w;
  w.load1 = std::atof(loadavg().c_str());
  int64_t before = cpuNs(boxd.pid());
  int64_t start = monotonicUs();
  std::vector<double> rss;  // boxd's VmRSS once a second: the window's figure is their median
  if (perfData.empty()) {
    for (int i = 0; i < seconds; ++i) {
      sleepMs(1000);
      rss.push_back(static_cast<double>(rssKb(boxd.pid())));
    }
  } else {
    auto r =
        runCmd({"perf", "record", "-q", "-F", "4000", "--call-graph", "dwarf,16384", "-p",
                std::to_string(boxd.pid()), "-o", perfData, "--", "sleep", std::to_string(seconds)},
               {.timeoutMs = (seconds + 120) * 1000});
    if (r.code != 0) throw BenchError("perf record into " + perfData + ": " + r.out);
  }
  int64_t after = cpuNs(boxd.pid());
  int64_t wallNs = (monotonicUs() - start) * 1000;
  if (before < 0 || after < 0) throw BenchError("boxd exited during the window");
  w.cpuPercent = 100.0 * static_cast<double>(after - before) / static_cast<double>(wallNs);
  if (rss.empty()) rss.push_back(static_cast<double>(rssKb(boxd.pid())));  // (perf: at the end)
  w.rssKb = static_cast<int64_t>(median(rss));
  return w;
}

// (A refused status call is an error: it was boxd aborting in a mass teardown, since fixed.)
std::optional<nlohmann::json> tryStatus(BoxdRun& boxd) { return boxd.call({{"op", "status"}}); }

bool allReady(BoxdRun& boxd, const std::vector<std::string>& names) {
  auto got = tryStatus(boxd);
  if (!got) return false;
  const nlohmann::json& s = *got;
  size_t ready = 0;
  for (const auto& p : s["pods"]) {
    for (const auto& n : names) {
      if (p.value("name", "") == n && p.value("ready", "") == "1/1" &&
          p.value("phase", "") == "Running")
        ready++;
    }
  }
  return ready == names.size();
}

void runPods(BoxdRun& boxd, const std::vector<std::string>& names, bool probes) {
  for (const auto& n : names) {
    boxd.stageSpec(n, podYaml(n, probes));
    boxd.commitSpec(n);
  }
  waitUntil([&] { return allReady(boxd, names); }, 600000,
            std::string("every pod ready") + (probes ? " (with probes)" : ""), 200);
}

void removePods(BoxdRun& boxd, const std::vector<std::string>& names) {
  for (const auto& n : names) boxd.removeSpec(n);
  waitUntil(
      [&] {
        auto st = tryStatus(boxd);
        return st && (*st)["pods"].empty();
      },
      300000, "the pods gone", 200);
}

// The probe floor's targets: the running pods' IPs and network namespaces, from boxd's status.
std::vector<FloorTarget> floorTargets(BoxdRun& boxd, const std::vector<std::string>& names) {
  auto st = tryStatus(boxd);
  if (!st) throw BenchError("status for the probe floor's targets");
  std::vector<FloorTarget> out;
  for (const auto& p : (*st)["pods"]) {
    if (std::find(names.begin(), names.end(), p.value("name", "")) == names.end()) continue;
    const auto& c = p["containers"];
    if (c.empty() || p.value("podIP", "").empty() || c[0].value("pid", 0) <= 0)
      throw BenchError("pod " + p.value("name", "") + " has no IP or no running container");
    out.push_back({"/proc/" + std::to_string(c[0].value("pid", 0)) + "/ns/net",
                   p.value("podIP", ""), 8080, 8081});
  }
  if (out.size() != names.size()) throw BenchError("status lacks some pods for the probe floor");
  return out;
}

struct Round {
  Window without, with;
  FloorResult floor;
  double cost() const { return with.cpuPercent - without.cpuPercent; }
  int64_t rss() const { return with.rssKb - without.rssKb; }
};

// Without probes, then with, `rounds` times; the probed pods stay for the latency phase.
std::vector<Round> measure(BoxdRun& boxd, const Options& o, const std::vector<std::string>& plain,
                           const std::vector<std::string>& probed) {
  std::vector<Round> out;
  for (int r = 0; r < o.rounds; ++r) {
    if (r > 0) removePods(boxd, probed);
    Round round;
    runPods(boxd, plain, false);
    round.without = idleWindow(boxd, o.windowS);
    sleepMs(3000);
    pid_t perf = -1;  // --perf: the floor's window is recorded too (the bench's own process)
    if (!o.perfDir.empty()) {
      std::string base = o.perfDir + "/perf-floor-round" + std::to_string(r + 1);
      perf = spawnDaemon({"perf", "record", "-q", "-F", "4000", "--call-graph", "dwarf,16384", "-p",
                          std::to_string(::getpid()), "-o", base + ".data"},
                         base + ".log");
      sleepMs(1000);
    }
    round.floor = runProbeFloor(floorTargets(boxd, plain), o.windowS);
    if (perf > 0) stopChild(perf, 30000);
    if (round.floor.failed > 0)
      throw BenchError("the probe floor: " + std::to_string(round.floor.failed) + " of " +
                       std::to_string(round.floor.checks) +
                       " checks failed, the first: " + round.floor.firstFailure);
    removePods(boxd, plain);
    runPods(boxd, probed, true);
    round.with = idleWindow(
        boxd, o.windowS,
        o.perfDir.empty() ? "" : o.perfDir + "/perf-round" + std::to_string(r + 1) + ".data");
    std::printf(
        "round %d: without %.3f%%, with %.3f%% of a core: %+.3f%% (the floor %.3f%%); RSS %lld "
        "-> %lld KiB (%+lld) (load %.2f, %.2f)\n",
        r + 1, round.without.cpuPercent, round.with.cpuPercent, round.cost(),
        round.floor.cpuPercent, static_cast<long long>(round.without.rssKb),
        static_cast<long long>(round.with.rssKb), static_cast<long long>(round.rss()),
        round.without.load1, round.with.load1);
    std::fflush(stdout);
    out.push_back(round);
  }
  return out;
}

void summary(const Options& o, const std::vector<Round>& rounds) {
  std::vector<double> without, with, cost, rss, floor;
  for (const auto& r : rounds) {
    floor.push_back(r.floor.cpuPercent);
    without.push_back(r.without.cpuPercent);
    with.push_back(r.with.cpuPercent);
    cost.push_back(r.cost());
    rss.push_back(static_cast<double>(r.rss()));
  }
  auto [lo, hi] = std::minmax_element(cost.begin(), cost.end());
  std::printf("%d pods, %d s windows, %d rounds, %ld cores (medians over the rounds)\n", o.pods,
              o.windowS, o.rounds, ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("boxd without probes: CPU %.3f%% of a core, RSS %lld KiB\n", median(without),
              static_cast<long long>(rounds.back().without.rssKb));
  std::printf("boxd with probes:    CPU %.3f%% of a core, RSS %lld KiB (%d probes/s)\n",
              median(with), static_cast<long long>(rounds.back().with.rssKb), 2 * o.pods);
  std::printf("probing costs:       CPU %+.3f%% of a core (rounds %+.3f to %+.3f), RSS %+.0f KiB\n",
              median(cost), *lo, *hi, median(rss));
  auto [flo, fhi] = std::minmax_element(floor.begin(), floor.end());
  std::printf(
      "the floor:           CPU %.3f%% of a core (rounds %.3f to %.3f): the same checks by a bare\n"
      "                     prober, one burst a second (bench/probe_floor.h)\n",
      median(floor), *flo, *fhi);
}

void latency(BoxdRun& boxd, const std::string& pod) {
  int64_t t0 = nowMs();
  auto r = runCmd({boxd.boxctl(), "--run-dir", boxd.runDir(), "exec", pod, "--", "sh", "-c",
                   // (This script's own command line names the port too: it skips itself.)
                   "for p in /proc/[0-9]*; do n=${p#/proc/}; [ $n = $$ ] && continue; "
                   "grep -q 8081 $p/cmdline 2>/dev/null && kill $n; done; true"},
                  {.timeoutMs = 10000});
  if (r.code != 0) throw BenchError("stop the liveness port: " + r.out);
  waitUntil([&] { return boxd.lastEventMs(pod, "Started") > t0; }, 60000, "the restart", 50);
  int64_t killing = boxd.lastEventMs(pod, "Killing"), started = boxd.lastEventMs(pod, "Started");
  std::printf("liveness failure -> Killing event:     %lld ms (period 1 s, failureThreshold 3)\n",
              static_cast<long long>(killing - t0));
  std::printf("liveness failure -> container Started: %lld ms\n",
              static_cast<long long>(started - t0));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (ArgReader r(argc, argv); r.next();) {
      const std::string& a = r.arg();
      if (a == "--pods")
        o.pods = r.positive();
      else if (a == "--window-s")
        o.windowS = r.positive();
      else if (a == "--rounds")
        o.rounds = r.positive();
      else if (a == "--bin-dir")
        o.binDir = r.value();
      else if (a == "--keep-log")
        o.keepLog = r.value();
      else if (a == "--source-dir")
        o.sourceDir = r.value();
      else if (a == "--perf")
        o.perfDir = r.value();
      else
        throw BenchError("unknown argument " + a +
                         " (takes --pods N, --window-s S, --rounds R, --bin-dir, --keep-log, "
                         "--source-dir, --perf DIR)");
    }
  } catch (const BenchError& e) {
    std::fprintf(stderr, "boxd-bench-probes: %s\n", e.what());
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "boxd-bench-probes: needs root\n");
    return 2;
  }
  installSignalHandlers();
  std::string rootfsDir = "/tmp/boxd-bench-probes-rootfs-XXXXXX";
  if (::mkdtemp(rootfsDir.data()) == nullptr) return 1;
  int rc = 0;
  {
    BoxdRun boxd(o.binDir, o.sourceDir, BenchNetwork::fresh());
    if (!o.keepLog.empty()) boxd.keepLogIn(o.keepLog, "boxd-probes");
    try {
      auto r = runCmd(
          {"/bin/sh", o.sourceDir + "/packaging/make-busybox-rootfs.sh", rootfsDir + "/rootfs"},
          {.timeoutMs = 60000});
      if (r.code != 0) throw BenchError("make-busybox-rootfs.sh: " + r.out);
      boxd.start();
      boxd.importBusybox(rootfsDir + "/rootfs");
      std::vector<std::string> plain, probed;
      for (int i = 0; i < o.pods; ++i) {
        plain.push_back("plain-" + std::to_string(i));
        probed.push_back("probed-" + std::to_string(i));
      }
      std::printf("load before: %s", loadavg().c_str());
      summary(o, measure(boxd, o, plain, probed));
      latency(boxd, probed[0]);
      std::printf("load after: %s", loadavg().c_str());
    } catch (const BenchError& e) {
      std::fprintf(stderr, "boxd-bench-probes: %s\n", e.what());
      rc = 1;
    }
    for (const auto& l : boxd.cleanup()) std::fprintf(stderr, "leftover removed: %s\n", l.c_str());
  }
  (void)removeAll(rootfsDir);
  return rc;
}
