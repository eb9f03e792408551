// boxd-bench: boxd's figures next to podman's, measured in the same run on this machine.
//
//   boxd phase  ── two private boxds (temp dirs, unique cgroup parents), busybox image: one with
//     │            a pod network of its own (bridge, /24, nftables table), one without
//     ├─ 3 x N pods one at a time, the three kinds taking turns: network on, off, on + hostPort;
//     │    spec rename → last Started event; unlink → Deleted event; step times from the logs
//     ├─ the boxd without a network stops; the rest is with the pod network
//     ├─ M pods in one burst → all Running; idle window: boxd RSS/CPU, shims' RSS; boxctl status
//     └─ M pods deleted at once → status empty and pods dir empty; teardown, stop boxd,
//        bridge and nftables table deleted
//   podman phase ── private config/storage/mount namespace, same rootfs imported
//     ├─ kube play / kube down, N = 1 (median of runs) and N = M (once, bounded)
//     └─ remove pods, containers, storage, namespace, cgroups it created
//   report ── table on stdout, JSON to --json PATH
//
// Every wait has a deadline; Ctrl-C (or SIGTERM) unwinds through the same cleanup.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>

#include "bench/bench_network.h"
#include "bench/boxd_peer.h"
#include "bench/podman_peer.h"
#include "bench/pods.h"
#include "bench/proc.h"
#include "bench/report.h"
#include "common/util.h"

using namespace boxd;
using namespace boxd::bench;

namespace {

constexpr const char* kUsage = R"(Usage: boxd-bench [OPTIONS]   (root; takes a few minutes)

Measures boxd (spec -> Running with and without its pod network, bursts, idle cost, boxctl
status) and podman with the same pods and image, in the same run, and prints them side by side.

Options:
  --json PATH        also write the figures as JSON to PATH
  --bin-dir DIR      where boxd, boxctl and boxd-shim are (default: this program's dir)
  --source-dir DIR   the boxd source tree (for packaging/make-busybox-rootfs.sh)
  --pods N           pods measured one at a time, per kind (default 20 each: network on,
                     network off, network on with a hostPort)
  --burst N          pods dropped / deleted at once (default 50)
  --podman-runs N    podman N=1 runs (default 5)
  --no-podman        boxd's figures only
  --keep-logs DIR    copy each boxd's log (debug level: step timings) to DIR/boxd-net-on.log
                     and DIR/boxd-net-off.log
  -h, --help         this help
)";

struct Options {
  std::string json, binDir, sourceDir = BOXD_SOURCE_DIR, keepLogs;
  int pods = 20, burst = 50, podmanRuns = 5;
  bool podman = true;
};

constexpr int kPodmanBurstLimitMs =
    180000;  // skip N = burst when kube play needs longer than 3 min

std::optional<Options> parseArgs(int argc, char** argv) {
  Options o;
  o.binDir = selfDir();
  for (ArgReader r(argc, argv); r.next();) {
    const std::string& a = r.arg();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "--json")
      o.json = r.value();
    else if (a == "--bin-dir")
      o.binDir = r.value();
    else if (a == "--source-dir")
      o.sourceDir = r.value();
    else if (a == "--pods")
      o.pods = r.positive();
    else if (a == "--burst")
      o.burst = r.positive();
    else if (a == "--podman-runs")
      o.podmanRuns = r.positive();
    else if (a == "--keep-logs")
      o.keepLogs = r.value();
    else if (a == "--no-podman")
      o.podman = false;
    else
      throw BenchError("unknown argument " + a + " (see --help)");
  }
  return o;
}

void progress(const std::string& msg) {
  std::fprintf(stderr, "boxd-bench: %s\n", msg.c_str());
  std::fflush(stderr);
}

// A temp dir holding the busybox rootfs both peers import.
class Rootfs {
 public:
  explicit Rootfs(const std::string& sourceDir) {
    std::string tmpl = "/tmp/boxd-bench-rootfs-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw BenchError("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = tmpl;
    try {
      auto r = runCmd({"/bin/sh", sourceDir + "/packaging/make-busybox-rootfs.sh", path()},
                      {.timeoutMs = 60000});
      if (r.code != 0) throw BenchError("make-busybox-rootfs.sh: " + r.out);
    } catch (const BenchError&) {
      (void)removeAll(dir_);
      throw;
    }
  }
  ~Rootfs() { (void)removeAll(dir_); }
  Rootfs(const Rootfs&) = delete;
  Rootfs& operator=(const Rootfs&) = delete;
  std::string path() const { return dir_ + "/rootfs"; }

 private:
  std::string dir_;
};

std::vector<std::string> podNames(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + "-" + std::to_string(i));
  return out;
}

// One pod: spec rename → last Started event; unlink → Deleted event (both boxd's own clock).
void measureOne(BoxdRun& boxd, const std::string& name, int hostPort, ModeFigures* f) {
  boxd.stageSpec(name, podYaml(name, "busybox", hostPort));
  int64_t t0 = boxd.commitSpec(name);
  waitUntil([&] { return boxd.allRunning({name}); }, 30000, "pod " + name + " to run");
  int64_t started = boxd.lastEventMs(name, "Started");
  int64_t t1 = nowMs();
  boxd.removeSpec(name);
  waitUntil([&] { return !boxd.hasPod(name); }, 30000, "pod " + name + " to go");
  int64_t deleted = boxd.lastEventMs(name, "Deleted");
  if (f == nullptr) return;  // warm-up
  if (started < t0 || deleted < t1)
    throw BenchError("pod " + name + ": events missing or out of order (spec written at " +
                     std::to_string(t0) + ", Started at " + std::to_string(started) +
                     "; removed at " + std::to_string(t1) + ", Deleted at " +
                     std::to_string(deleted) + ")");
  f->upMs.push_back(static_cast<double>(started - t0));
  f->downMs.push_back(static_cast<double>(deleted - t1));
}

// One kind of pod of the one-at-a-time phase.
struct Mode {
  BoxdRun* boxd;
  ModeFigures* figures;
  int hostPort;
  std::string tag;
  std::vector<std::string> pods;  // measured, in order
};

// Step apply times of the measured pods, from boxd's log, aligned with figures->upMs.
void collectStepTimes(const Mode& m) {
  PodStepTimes times = m.boxd->stepTimes();
  for (const auto& pod : m.pods) {
    auto it = times.find(pod);
    if (it == times.end()) return;  // not logged (a boxd without debug logging): no breakdown
    double all = 0;
    for (const auto& [kind, t] : it->second) {
      m.figures->stepUs[kind].push_back(t.us);
      m.figures->stepCount[kind] = t.count;
      all += t.us;
    }
    m.figures->stepUs["all"].push_back(all);
  }
}

void measureIdle(BoxdRun& boxd, Figures& f) {
  sleepMs(2000);  // let the burst's after-effects (logs, journal) settle
  constexpr int kWindowMs = 10000;
  int64_t before = boxd.pid() > 0 ? cpuTicks(boxd.pid()) : -1;
  int64_t start = monotonicMs();
  sleepMs(kWindowMs);
  int64_t after = cpuTicks(boxd.pid());
  f.idleWindowS = static_cast<double>(monotonicMs() - start) / 1000;
  if (before < 0 || after < 0) throw BenchError("boxd exited during the idle window");
  f.boxdCpuTicks = after - before;
  f.boxdRssKb = rssKb(boxd.pid());
  f.shimsRssKb = 0;
  auto shims = boxd.shimPids();
  f.shims = static_cast<int>(shims.size());
  for (pid_t p : shims) f.shimsRssKb += std::max<int64_t>(0, rssKb(p));
}

void measureStatus(BoxdRun& boxd, Figures& f) {
  for (int i = 0; i < 20; ++i) {
    auto r = runCmd({boxd.boxctl(), "--run-dir", boxd.runDir(), "status"},
                    {.timeoutMs = 10000, .discardOutput = true});
    if (r.code != 0) throw BenchError("boxctl status failed (exit " + std::to_string(r.code) + ")");
    f.statusMs.push_back(static_cast<double>(r.ms));
  }
}

void burst(BoxdRun& boxd, const std::string& runId, Figures& f) {
  auto names = podNames("burst-" + runId, f.burstPods);
  for (const auto& n : names) boxd.stageSpec(n, podYaml(n, "busybox"));
  int64_t t0 = nowMs();
  for (const auto& n : names) (void)boxd.commitSpec(n);
  waitUntil([&] { return boxd.allRunning(names); }, 120000,
            std::to_string(names.size()) + " pods to run", 20);
  int64_t last = 0;
  for (const auto& n : names) last = std::max(last, boxd.lastEventMs(n, "Started"));
  f.burstUpMs = static_cast<double>(last - t0);
  progress(std::to_string(names.size()) + " pods running after " + std::to_string(last - t0) +
           " ms; idle window");

  measureIdle(boxd, f);
  measureStatus(boxd, f);

  int64_t t1 = monotonicMs();
  for (const auto& n : names) boxd.removeSpec(n);
  // The pods dir is cheap to look at; ask boxd only once it is empty.
  waitUntil([&] { return boxd.podsDirEmpty() && boxd.noPods(); }, 120000, "every pod to go", 2);
  f.burstGoneMs = static_cast<double>(monotonicMs() - t1);
}

// The log goes with the temp dir at cleanup: show its end while it is still there.
void showLogTail(const BoxdRun& boxd) {
  auto log = readFile(boxd.dir() + "/boxd.log");
  std::string text = log.ok() ? *log : "";
  size_t from = text.size() > 4000 ? text.find('\n', text.size() - 4000) + 1 : 0;
  std::fprintf(stderr, "--- end of %s/boxd.log ---\n%s---\n", boxd.dir().c_str(),
               text.substr(from).c_str());
}

// N pods of each kind, one at a time; the kinds take turns in a rotating order, so that load
// on the machine and the order itself fall on each kind alike.
void oneAtATime(const Options& o, const std::string& rootfs, BoxdRun& on, Figures& f) {
  BoxdRun off(o.binDir, o.sourceDir, BenchNetwork::off());
  if (!o.keepLogs.empty()) off.keepLogIn(o.keepLogs, "boxd-net-off");
  progress("boxd without a pod network in " + off.dir());
  try {
    off.start();
    off.importBusybox(rootfs);
    int port = freeHostPort();
    std::string runId = randomHex(2);
    std::vector<Mode> modes = {{&on, &f.netOn, 0, "on", {}},
                               {&off, &f.netOff, 0, "off", {}},
                               {&on, &f.hostPort, port, "hp", {}}};
    for (const auto& m : modes)
      measureOne(*m.boxd, "warmup-" + m.tag + "-" + runId, m.hostPort, nullptr);
    progress("spec -> Running, " + std::to_string(o.pods) +
             " pods one at a time per kind (network on, off, on + hostPort " +
             std::to_string(port) + " on 127.0.0.1)");
    for (int i = 0; i < o.pods; ++i) {
      for (size_t j = 0; j < modes.size(); ++j) {
        Mode& m = modes[(static_cast<size_t>(i) + j) % modes.size()];
        std::string name = "seq-" + m.tag + "-" + runId + "-" + std::to_string(i);
        measureOne(*m.boxd, name, m.hostPort, m.figures);
        m.pods.push_back(name);
      }
    }
    for (const auto& m : modes) collectStepTimes(m);
  } catch (const BenchError&) {
    showLogTail(off);
    throw;
  }
  for (auto& l : off.cleanup()) f.boxdLeftovers.push_back("(boxd without network) " + l);
}

void boxdPhase(const Options& o, const std::string& rootfs, Figures& f) {
  BoxdRun boxd(o.binDir, o.sourceDir, BenchNetwork::fresh());
  if (!o.keepLogs.empty()) boxd.keepLogIn(o.keepLogs, "boxd-net-on");
  const BenchNetwork& net = boxd.network();
  f.network = "bridge " + net.bridge + ", " + net.subnet + ", table ip " + net.nftTable;
  progress("boxd with a pod network (" + f.network + ") in " + boxd.dir());
  try {
    boxd.start();
    boxd.importBusybox(rootfs);
    oneAtATime(o, rootfs, boxd, f);
    progress(std::to_string(o.burst) + " pods at once");
    burst(boxd, randomHex(2), f);
  } catch (const BenchError&) {
    showLogTail(boxd);
    throw;
  }
  for (auto& l : boxd.cleanup()) f.boxdLeftovers.push_back(l);
}

void podmanBurst(PodmanRun& pm, Figures& f) {
  auto names = podNames("pburst", f.burstPods);
  std::string file = pm.kubeFile("burst.yaml");
  Status st = writeFileAtomic(file, podsYaml(names, PodmanRun::image()));
  if (!st.ok()) throw BenchError(st.error().message);
  progress("podman: " + std::to_string(names.size()) + " pods (at most " +
           std::to_string(kPodmanBurstLimitMs / 60000) + " min)");
  auto up = pm.play(file, names, kPodmanBurstLimitMs);
  if (up.timedOut) {
    f.podmanNNote =
        "N=" + std::to_string(names.size()) + " skipped: kube play took more than 3 min";
    return;  // cleanup() removes the half-played pods
  }
  f.podmanUpNMs = up.upMs;
  f.conmonRssKb = pm.conmonRssKb();
  f.podmanDownNMs = pm.down(file, kPodmanBurstLimitMs);
  if (f.podmanDownNMs < 0)
    f.podmanNNote = "N=" + std::to_string(names.size()) + " kube down took more than 3 min";
}

void podmanPhase(const Options& o, const std::string& rootfs, Figures& f) {
  if (!PodmanRun::installed()) {
    f.podman = "not installed (run packaging/install-deps.sh --bench)";
    std::printf("podman: not installed (run packaging/install-deps.sh --bench)\n");
    return;
  }
  PodmanRun pm;
  try {
    pm.setup(rootfs);
    f.podmanVersion = pm.version();
    std::string file = pm.kubeFile("one.yaml");
    Status st = writeFileAtomic(file, podYaml("pone", PodmanRun::image()));
    if (!st.ok()) throw BenchError(st.error().message);
    progress("podman: 1 pod, " + std::to_string(o.podmanRuns) + " runs (+1 warm-up)");
    for (int i = 0; i <= o.podmanRuns; ++i) {
      auto up = pm.play(file, {"pone"}, 60000);
      if (up.timedOut) throw BenchError("podman kube play of one pod took more than 60 s");
      double down = pm.down(file, 60000);
      if (down < 0) throw BenchError("podman kube down of one pod took more than 60 s");
      if (i == 0) continue;  // warm-up, as for boxd
      f.podmanUp1Ms.push_back(up.upMs);
      f.podmanDown1Ms.push_back(down);
    }
    podmanBurst(pm, f);
    f.podman = "ok";
  } catch (const BenchError& e) {
    if (interrupted()) throw;
    f.podman = std::string("failed: ") + e.what();
  }
  progress("podman: cleaning up");
  f.podmanLeftovers = pm.cleanup();
}

std::string kernelRelease() {
  struct utsname u {};
  return ::uname(&u) == 0 ? u.release : "?";
}

}  // namespace

int main(int argc, char** argv) {
  installSignalHandlers();
  std::optional<Options> opt;
  try {
    opt = parseArgs(argc, argv);
  } catch (const BenchError& e) {
    std::fprintf(stderr, "boxd-bench: %s\n", e.what());
    return 2;
  }
  if (!opt) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "boxd-bench: must run as root (it starts boxd and podman)\n");
    return 2;
  }
  Figures f;
  f.cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  f.kernel = kernelRelease();
  f.seqPods = opt->pods;
  f.burstPods = opt->burst;
  f.clockTicksPerS = ::sysconf(_SC_CLK_TCK);
  try {
    Rootfs rootfs(opt->sourceDir);
    boxdPhase(*opt, rootfs.path(), f);
    if (opt->podman)
      podmanPhase(*opt, rootfs.path(), f);
    else
      f.podman = "skipped (--no-podman)";
  } catch (const BenchError& e) {
    std::fprintf(stderr, "boxd-bench: %s; everything it created has been removed\n", e.what());
    return interrupted() ? 130 : 1;
  }
  std::string table = formatTable(f);
  std::fputs(table.c_str(), stdout);
  if (!opt->json.empty()) {
    std::ofstream out(opt->json);
    out << toJson(f).dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "boxd-bench: could not write %s\n", opt->json.c_str());
      return 1;
    }
  }
  return 0;
}
