// boxd-bench-block: boxd's block volumes next to their raw peers, measured in the same run.
//
//   peers ── a tmpfs of the bench's own (the LUN files), tgtd (target, CHAP, LUNs), a one-node
//     │      Ceph cluster (memstore; images); the test fixtures, started and stopped here
//   boxd ─── a private boxd without a pod network, busybox image, the Secrets
//     ├─ throughput: one iSCSI pod and one RBD pod (ext4 on the data LUN / image), each volume
//     │    written full once (fillVolume); per round, a warm-up round first, the order alternating:
//     │      iSCSI  container dd write (conv=fsync), drop_caches, dd read  |  libiscsi QD1 and
//     │             QD8 WRITE16 + SYNC CACHE, READ16, on another LUN of the same target
//     │      RBD    container dd write, drop_caches, dd read, dd oflag=direct write (QD1)
//     │             |  rbd bench write (QD16, and --rbd_cache=false), read, write QD1
//     │    the raw side in a cgroup of its own next to boxd's (peer_cgroup.h: the same CPU
//     │    share as the container path on a busy machine)
//     └─ pods: per round, the four kinds in rotating order: iSCSI / RBD, blank (mkfs) /
//          formatted; spec rename → Started event; unlink → pod gone, helper exited, loop
//          detached, (iSCSI) no session on the target
//   report ── table on stdout, JSON to --json PATH
//
// Every wait has a deadline; Ctrl-C (or SIGTERM) unwinds through the same cleanup: boxd tears
// its pods down (helpers log out, loops detach), then tgtd and Ceph stop and the tmpfs goes.
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "bench/block_parse.h"
#include "bench/block_peers.h"
#include "bench/block_pods.h"
#include "bench/block_report.h"
#include "bench/boxd_peer.h"
#include "bench/iscsi_raw.h"
#include "bench/peer_cgroup.h"
#include "bench/proc.h"
#include "common/util.h"

using namespace boxd;
using namespace boxd::bench;

namespace {

constexpr const char* kUsage = R"(Usage: boxd-bench-block [OPTIONS]   (root; a few minutes)

Measures boxd's iSCSI and RBD volumes (a container's dd on the mounted volume; spec -> Running
with and without mkfs; detach) next to their raw peers (libiscsi straight to the target,
rbd bench) on a tgtd and a one-node Ceph cluster it starts itself, in the same run.

Options:
  --json PATH        also write the figures as JSON to PATH
  --bin-dir DIR      where boxd, boxctl, boxd-shim and boxd-blockd are (default: this program's dir)
  --source-dir DIR   the boxd source tree (for packaging/make-busybox-rootfs.sh)
  --rounds N         throughput rounds (default 5, after one warm-up round)
  --pod-rounds N     pod start/stop rounds per kind (default 5)
  --size-mib N       bytes written and read per measurement, in MiB (default 256)
  --only KIND        iscsi or rbd
  --keep-logs DIR    copy boxd's log to DIR/boxd-block.log
  --boxd-config YAML add lines to boxd's config, e.g. 'block: {ioTimeoutSeconds: 10}'
  --hold             start the peers, boxd and the two throughput pods, print where they are,
                     and wait for Ctrl-C (then clean up as usual): for looking by hand
  -h, --help         this help
)";

struct Options {
  std::string json, binDir, sourceDir = BOXD_SOURCE_DIR, keepLogs, boxdConfig;
  bool hold = false;
  int rounds = 5, podRounds = 5, sizeMiB = 256;
  bool iscsi = true, rbd = true;
};

constexpr uint32_t kIoBytes = 1u << 20;
constexpr int kDdTimeoutMs = 180000;
constexpr int kPodUpTimeoutMs = 120000;
constexpr int kPodDownTimeoutMs = 90000;

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
    else if (a == "--rounds")
      o.rounds = r.positive();
    else if (a == "--pod-rounds")
      o.podRounds = r.positive();
    else if (a == "--size-mib")
      o.sizeMiB = r.positive();
    else if (a == "--keep-logs")
      o.keepLogs = r.value();
    else if (a == "--boxd-config")
      o.boxdConfig = r.value() + "\n";
    else if (a == "--hold")
      o.hold = true;
    else if (a == "--only") {
      std::string k = r.value();
      if (k != "iscsi" && k != "rbd") throw BenchError("--only takes iscsi or rbd");
      o.iscsi = k == "iscsi";
      o.rbd = k == "rbd";
    } else {
      throw BenchError("unknown argument " + a + " (see --help)");
    }
  }
  return o;
}

void progress(const std::string& msg) {
  std::fprintf(stderr, "boxd-bench-block: %s\n", msg.c_str());
  std::fflush(stderr);
}

// A temp dir holding the busybox rootfs boxd imports.
class Rootfs {
 public:
  explicit Rootfs(const std::string& sourceDir) {
    std::string tmpl = "/tmp/boxd-bench-rootfs-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw BenchError("mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = tmpl;
    auto r = runCmd({"/bin/sh", sourceDir + "/packaging/make-busybox-rootfs.sh", path()},
                    {.timeoutMs = 60000});
    if (r.code != 0) {
      (void)removeAll(dir_);
      throw BenchError("make-busybox-rootfs.sh: " + r.out);
    }
  }
  ~Rootfs() { (void)removeAll(dir_); }
  Rootfs(const Rootfs&) = delete;
  Rootfs& operator=(const Rootfs&) = delete;
  std::string path() const { return dir_ + "/rootfs"; }

 private:
  std::string dir_;
};

class BlockBench {
 public:
  BlockBench(const Options& o, BlockPeers& peers, BoxdRun& boxd, const PeerCgroup& peerCgroup,
             BlockFigures& f)
      : o_(o), peers_(peers), boxd_(boxd), peerCgroup_(peerCgroup), f_(f), runId_(randomHex(2)) {}

  void throughput();
  void rbdHelperMemory();
  void pods();
  void hold();

 private:
  struct Kind {
    std::string tag;
    bool iscsi, blank;
    PodTimes* times;
    std::vector<std::string> pods = {};  // measured, in order
  };

  std::string podSpec(const std::string& name, bool iscsi, bool blank, int round) const {
    if (iscsi)
      return iscsiBenchPod(name, peers_.portal(), peers_.iqn(),
                           blank ? BlockPeers::kFirstBlankLun + round : BlockPeers::kDataLun);
    return rbdBenchPod(name, peers_.monitor(),
                       blank ? peers_.blankImage(round) : peers_.dataImage(), peers_.cephUser());
  }
  int64_t podUp(const std::string& name, const std::string& spec);
  void podDown(const std::string& name, bool iscsi, PodTimes* times);
  bool detached(const std::string& name, bool iscsi) const;
  double containerDd(const std::string& pod, bool write, bool direct = false);
  // Round 0 is the warm-up (not kept); the container goes first in even rounds.
  void fillVolume(const std::string& pod);
  void iscsiRound(const std::string& pod, int round);
  void rbdRound(const std::string& pod, int round);
  void checkFormatted(const std::string& name, bool blank) const;

  const Options& o_;
  BlockPeers& peers_;
  BoxdRun& boxd_;
  const PeerCgroup& peerCgroup_;  // the raw peers run in it (peer_cgroup.h says why)
  BlockFigures& f_;
  std::string runId_;
};

// spec rename → the container's Started event (boxd's clock), in ms.
int64_t BlockBench::podUp(const std::string& name, const std::string& spec) {
  boxd_.stageSpec(name, spec);
  int64_t t0 = boxd_.commitSpec(name);
  waitUntil([&] { return boxd_.allRunning({name}); }, kPodUpTimeoutMs, "pod " + name + " to run");
  int64_t started = boxd_.lastEventMs(name, "Started");
  if (started < t0) throw BenchError("pod " + name + ": no Started event after its spec");
  return started - t0;
}

// The pod is gone, no helper of this boxd for that kind of volume runs (their session dirs are
// <runDir>/block/iscsi-* and rbd-*), no loop device stands on such a helper's files, and
// (iSCSI) the target has no session left.
bool BlockBench::detached(const std::string& name, bool iscsi) const {
  std::string sessions = boxd_.runDir() + "/block/" + (iscsi ? "iscsi-" : "rbd-");
  if (boxd_.hasPod(name) || !pidsWhoseCmdlineContains(sessions).empty()) return false;
  for (const auto& l : listDirNames("/sys/block")) {
    auto backing = readFile("/sys/block/" + l + "/loop/backing_file");
    if (backing.ok() && startsWith(trim(*backing), sessions)) return false;
  }
  return !iscsi || peers_.iscsiSessions() == 0;
}

void BlockBench::podDown(const std::string& name, bool iscsi, PodTimes* times) {
  int64_t t1 = nowMs(), m1 = monotonicMs();
  boxd_.removeSpec(name);
  waitUntil([&] { return detached(name, iscsi); }, kPodDownTimeoutMs,
            "pod " + name + " to go and its volume to detach");
  int64_t down = monotonicMs() - m1;
  int64_t deleted = boxd_.lastEventMs(name, "Deleted");
  if (times == nullptr) return;
  times->downMs.push_back(static_cast<double>(down));
  times->deletedMs.push_back(deleted >= t1 ? static_cast<double>(deleted - t1) : NAN);
}

// A blank volume must have been formatted by boxd, a formatted one never again.
void BlockBench::checkFormatted(const std::string& name, bool blank) const {
  auto r =
      runCmd({boxd_.boxctl(), "--run-dir", boxd_.runDir(), "describe", name}, {.timeoutMs = 20000});
  bool formatted = r.out.find("formatted by boxd") != std::string::npos;
  if (r.code != 0 || formatted != blank)
    throw BenchError("pod " + name + ": expected its volume " +
                     (blank ? "formatted by boxd" : "not formatted again") +
                     "; boxctl describe says:\n" + r.out);
}

// Writes the volume's filesystem full once, then frees it again. The raw peers rewrite the same
// range round after round (after the warm-up, over storage the target already holds), while a
// new file lands anywhere on the volume: on a part never written before, memstore (Ceph) and
// tmpfs (tgtd's LUN files) first allocate and zero the memory behind it. That first write cost
// the OSD about 3x the CPU of a rewrite (perf: page faults and clear_page) and put 0.38 instead
// of ~0.5 in the RBD ratio. Filled once, both sides write over storage already there.
void BlockBench::fillVolume(const std::string& pod) {
  auto r = runCmd({boxd_.boxctl(), "--run-dir", boxd_.runDir(), "exec", pod, "--", "sh", "-c",
                   "dd if=/dev/zero of=/data/fill bs=1M 2>/dev/null; rm -f /data/fill && sync"},
                  {.timeoutMs = kDdTimeoutMs});
  if (r.code != 0)
    throw BenchError("filling the volume of pod " + pod +
                     (r.timedOut ? ": timed out" : ": exit " + std::to_string(r.code)) + ":\n" +
                     r.out);
}

// The container's dd on /data/bench, timed inside the container: busybox adjtimex (a read,
// allowed in a container) prints the wall clock in µs before and after it, so neither boxctl
// nor the exec set-up is in the figure. MiB/s.
// direct: O_DIRECT over the file the write left (no page cache, one 1 MiB write at a time).
double BlockBench::containerDd(const std::string& pod, bool write, bool direct) {
  std::string n = std::to_string(o_.sizeMiB);
  std::string script =
      direct ? "sync && adjtimex && dd if=/dev/zero of=/data/bench bs=1M count=" + n +
                   " oflag=direct conv=notrunc,fsync 2>&1 && adjtimex"
      : write ? "rm -f /data/bench && sync && adjtimex && dd if=/dev/zero of=/data/bench bs=1M "
                "count=" +
                    n + " conv=fsync 2>&1 && adjtimex"
              : "adjtimex && dd if=/data/bench of=/dev/null bs=1M 2>&1 && adjtimex";
  auto r =
      runCmd({boxd_.boxctl(), "--run-dir", boxd_.runDir(), "exec", pod, "--", "sh", "-c", script},
             {.timeoutMs = kDdTimeoutMs});
  int64_t a = adjtimexReadingUs(r.out, 0), b = adjtimexReadingUs(r.out, 1);
  if (r.code != 0 || r.out.find(n + "+0 records out") == std::string::npos || a < 0 || b <= a)
    throw BenchError("dd " + std::string(write ? "write" : "read") + " in pod " + pod +
                     (r.timedOut ? ": timed out" : ": exit " + std::to_string(r.code)) + ":\n" +
                     r.out);
  return o_.sizeMiB / (static_cast<double>(b - a) / 1e6);
}

void BlockBench::iscsiRound(const std::string& pod, int round) {
  const bool keep = round > 0;
  double w = 0, r = 0, w1 = 0, w8 = 0, r1 = 0, r8 = 0;
  auto container = [&] {
    w = containerDd(pod, true);
    dropHostCaches();
    r = containerDd(pod, false);
  };
  auto raw = [&] {
    PeerCgroup::Scope in(peerCgroup_);
    RawIscsiTarget t = peers_.rawTarget();
    RawIscsiRun run;
    run.bytes = static_cast<uint64_t>(o_.sizeMiB) << 20;
    run.ioBytes = kIoBytes;
    w1 = rawIscsiMiBps(t, run);
    run.queueDepth = 8;
    w8 = rawIscsiMiBps(t, run);
    run.op = RawOp::Read;
    r8 = rawIscsiMiBps(t, run);
    run.queueDepth = 1;
    r1 = rawIscsiMiBps(t, run);
  };
  bool containerFirst = round % 2 == 0;
  if (containerFirst) container();
  raw();
  if (!containerFirst) container();
  progress(std::string(keep ? "" : "(warm-up) ") + "iSCSI MiB/s: dd write " +
           std::to_string(int(w)) + ", read " + std::to_string(int(r)) + "; libiscsi write QD1 " +
           std::to_string(int(w1)) + ", QD8 " + std::to_string(int(w8)) + ", read QD1 " +
           std::to_string(int(r1)) + ", QD8 " + std::to_string(int(r8)));
  if (!keep) return;
  f_.iscsiWrite.push_back(w);
  f_.iscsiRead.push_back(r);
  f_.rawWrite1.push_back(w1);
  f_.rawWrite8.push_back(w8);
  f_.rawRead1.push_back(r1);
  f_.rawRead8.push_back(r8);
}

void BlockBench::rbdRound(const std::string& pod, int round) {
  const bool keep = round > 0;
  double w = 0, r = 0, wd = 0, bw = 0, br = 0, bwNoCache = 0, bw1 = 0;
  uint64_t bytes = static_cast<uint64_t>(o_.sizeMiB) << 20;
  auto container = [&] {
    w = containerDd(pod, true);
    dropHostCaches();
    r = containerDd(pod, false);
    wd = containerDd(pod, true, true);
  };
  auto raw = [&] {
    PeerCgroup::Scope in(peerCgroup_);
    bw = peers_.rbdBenchMiBps(RawOp::Write, bytes, kIoBytes);
    bwNoCache = peers_.rbdBenchMiBps(RawOp::Write, bytes, kIoBytes, false);
    br = peers_.rbdBenchMiBps(RawOp::Read, bytes, kIoBytes);
    bw1 = peers_.rbdBenchMiBps(RawOp::Write, bytes, kIoBytes, true, 1);
  };
  bool containerFirst = round % 2 == 0;
  if (containerFirst) container();
  raw();
  if (!containerFirst) container();
  progress(std::string(keep ? "" : "(warm-up) ") + "RBD MiB/s: dd write " + std::to_string(int(w)) +
           ", read " + std::to_string(int(r)) + "; rbd bench write " + std::to_string(int(bw)) +
           " (rbd_cache=false " + std::to_string(int(bwNoCache)) + "), read " +
           std::to_string(int(br)) + "; QD1 write: dd oflag=direct " + std::to_string(int(wd)) +
           ", rbd bench --io-threads 1 " + std::to_string(int(bw1)));
  if (!keep) return;
  f_.rbdWrite.push_back(w);
  f_.rbdRead.push_back(r);
  f_.rbdBenchWrite.push_back(bw);
  f_.rbdBenchRead.push_back(br);
  f_.rbdBenchWriteNoCache.push_back(bwNoCache);
  f_.rbdDirectWrite.push_back(wd);
  f_.rbdBenchWrite1.push_back(bw1);
}

void BlockBench::throughput() {
  std::string iscsiPod = "tp-iscsi-" + runId_, rbdPod = "tp-rbd-" + runId_;
  if (o_.iscsi) {
    int64_t up = podUp(iscsiPod, podSpec(iscsiPod, true, false, 0));
    progress("iSCSI pod running (mkfs of the data LUN) after " + std::to_string(up) + " ms");
    fillVolume(iscsiPod);
  }
  if (o_.rbd) {
    int64_t up = podUp(rbdPod, podSpec(rbdPod, false, false, 0));
    progress("RBD pod running (mkfs of the data image) after " + std::to_string(up) + " ms");
    fillVolume(rbdPod);
  }
  for (int round = 0; round <= o_.rounds; ++round) {
    bool iscsiFirst = round % 2 == 0;
    if (round > 0) f_.loadSamples.push_back(loadAverage1());
    if (o_.iscsi && iscsiFirst) iscsiRound(iscsiPod, round);
    if (o_.rbd) rbdRound(rbdPod, round);
    if (o_.iscsi && !iscsiFirst) iscsiRound(iscsiPod, round);
  }
  if (o_.rbd) rbdHelperMemory();
  if (o_.iscsi) podDown(iscsiPod, true, nullptr);
  if (o_.rbd) podDown(rbdPod, false, nullptr);
}

// The throughput pod's helper (the only RBD session now), from its pid file: its resident and
// peak memory after all the rounds.
void BlockBench::rbdHelperMemory() {
  std::string block = boxd_.runDir() + "/block";
  for (const auto& d : listDirNames(block)) {
    if (!startsWith(d, "rbd-")) continue;
    auto pid = readFile(block + "/" + d + "/blockd.pid");
    if (!pid.ok()) continue;
    auto status = readFile("/proc/" + trim(*pid) + "/status");
    if (!status.ok() || status->find("Name:\tboxd-blockd") == std::string::npos) continue;
    auto kib = [&](const std::string& key) {
      size_t at = status->find(key + ":");
      return at == std::string::npos ? -1.0
                                     : std::strtod(status->c_str() + at + key.size() + 1, nullptr);
    };
    f_.rbdHelperRssMiB = kib("VmRSS") / 1024;
    f_.rbdHelperPeakMiB = kib("VmHWM") / 1024;
  }
}

void BlockBench::hold() {
  std::string iscsiPod = "tp-iscsi-" + runId_, rbdPod = "tp-rbd-" + runId_;
  if (o_.iscsi) (void)podUp(iscsiPod, podSpec(iscsiPod, true, false, 0));
  if (o_.rbd) (void)podUp(rbdPod, podSpec(rbdPod, false, false, 0));
  if (o_.iscsi) fillVolume(iscsiPod);
  if (o_.rbd) fillVolume(rbdPod);
  std::printf("boxctl:     %s --run-dir %s\n", boxd_.boxctl().c_str(), boxd_.runDir().c_str());
  if (o_.iscsi)
    std::printf("iSCSI pod:  %s (LUN %d of %s at %s; LUN files in %s)\n", iscsiPod.c_str(),
                BlockPeers::kDataLun, peers_.iqn().c_str(), peers_.portal().c_str(),
                peers_.tmpfsDir().c_str());
  if (o_.rbd)
    std::printf("RBD pod:    %s (image rbd/%s; rbd -c %s ...)\n", rbdPod.c_str(),
                peers_.dataImage().c_str(), peers_.cephConf().c_str());
  std::printf("Ctrl-C (or kill -INT %d) cleans up.\n", static_cast<int>(::getpid()));
  std::fflush(stdout);
  for (;;) sleepMs(1000);  // throws on Ctrl-C
}

void BlockBench::pods() {
  std::vector<Kind> kinds;
  if (o_.iscsi) {
    kinds.push_back({"iscsi-blank", true, true, &f_.iscsiBlank});
    kinds.push_back({"iscsi-fmt", true, false, &f_.iscsiFormatted});
  }
  if (o_.rbd) {
    kinds.push_back({"rbd-blank", false, true, &f_.rbdBlank});
    kinds.push_back({"rbd-fmt", false, false, &f_.rbdFormatted});
  }
  progress("pods: " + std::to_string(o_.podRounds) + " rounds of " + std::to_string(kinds.size()) +
           " kinds, one pod at a time");
  for (int i = 0; i < o_.podRounds; ++i) {
    for (size_t j = 0; j < kinds.size(); ++j) {
      Kind& k = kinds[(static_cast<size_t>(i) + j) % kinds.size()];
      std::string name = "lc-" + k.tag + "-" + runId_ + "-" + std::to_string(i);
      int64_t up = podUp(name, podSpec(name, k.iscsi, k.blank, i));
      checkFormatted(name, k.blank);
      k.times->upMs.push_back(static_cast<double>(up));
      k.pods.push_back(name);
      podDown(name, k.iscsi, k.times);
      if (!k.iscsi) {
        std::string image = k.blank ? peers_.blankImage(i) : peers_.dataImage();
        int w = peers_.rbdWatchers(image);
        if (w != 0)
          f_.leftovers.push_back("image " + image + " had " + std::to_string(w) +
                                 " watchers after its pod was gone");
      }
    }
    f_.loadSamples.push_back(loadAverage1());
    progress("pods: round " + std::to_string(i + 1) + " done");
  }
  PodStepTimes logged = boxd_.stepTimes();
  for (const auto& k : kinds) {
    for (const auto& pod : k.pods) {
      auto it = logged.find(pod);
      if (it == logged.end()) continue;
      for (const char* step : {"blocksession", "blockdevice", "blockfs"}) {
        auto s = it->second.find(step);
        if (s != it->second.end()) k.times->stepMs[step].push_back(s->second.us / 1000);
      }
    }
  }
}

std::string kernelRelease() {
  struct utsname u {};
  return ::uname(&u) == 0 ? u.release : "?";
}

void run(const Options& o, BlockFigures& f) {
  Rootfs rootfs(o.sourceDir);
  progress("starting the peers (tmpfs, tgtd, Ceph)");
  BlockPeersOptions po;
  po.iscsi = o.iscsi;
  po.rbd = o.rbd;
  po.rawBytes = static_cast<uint64_t>(o.sizeMiB) << 20;
  po.volumeBytes = std::max<uint64_t>(1ull << 30, po.rawBytes * 2);
  po.blankVolumes = o.podRounds;
  BlockPeers peers(po);
  // Declared after the peers: torn down first, while the target and cluster still answer.
  BoxdRun boxd(o.binDir, o.sourceDir, BenchNetwork::off());
  boxd.addConfig(o.boxdConfig);
  if (!o.keepLogs.empty()) boxd.keepLogIn(o.keepLogs, "boxd-block");
  progress("boxd (no pod network) in " + boxd.dir());
  try {
    boxd.start();
    boxd.importBusybox(rootfs.path());
    boxd.writeSecrets("bench-secrets.yaml",
                      benchSecrets(peers.chapUser(), peers.chapPassword(), peers.cephKey()));
    PeerCgroup peerCgroup;
    progress("raw peers run in " + peerCgroup.dir() + ", next to boxd's cgroup");
    BlockBench bench(o, peers, boxd, peerCgroup, f);
    if (o.hold) bench.hold();
    bench.throughput();
    bench.pods();
  } catch (const BenchError&) {
    if (interrupted()) throw;
    auto log = readFile(boxd.dir() + "/boxd.log");
    std::string text = log.ok() ? *log : "";
    size_t from = text.size() > 4000 ? text.find('\n', text.size() - 4000) + 1 : 0;
    std::fprintf(stderr, "--- end of boxd.log ---\n%s---\n", text.substr(from).c_str());
    throw;
  }
  progress("cleaning up");
  for (auto& l : boxd.cleanup()) f.leftovers.push_back("(boxd) " + l);
  for (auto& l : peers.cleanup()) f.leftovers.push_back("(peers) " + l);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> opts;
  try {
    opts = parseArgs(argc, argv);
  } catch (const BenchError& e) {
    std::fprintf(stderr, "boxd-bench-block: %s\n", e.what());
    return 2;
  }
  if (!opts) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "boxd-bench-block: needs root (tgtd, Ceph, boxd, loop devices)\n");
    return 2;
  }
  installSignalHandlers();
  BlockFigures f;
  f.cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  f.kernel = kernelRelease();
  f.rounds = opts->rounds;
  f.podRounds = opts->podRounds;
  f.sizeMiB = opts->sizeMiB;
  f.ioKiB = static_cast<int>(kIoBytes >> 10);
  f.iscsi = opts->iscsi;
  f.rbd = opts->rbd;
  f.loadStart = loadAverage();
  try {
    run(*opts, f);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "boxd-bench-block: %s\n", e.what());
    return interrupted() ? 130 : 1;
  }
  f.loadEnd = loadAverage();
  std::fputs(formatBlockTable(f).c_str(), stdout);
  if (!opts->json.empty()) {
    std::ofstream out(opts->json);
    out << blockJson(f).dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "boxd-bench-block: could not write %s\n", opts->json.c_str());
      return 1;
    }
  }
  return 0;
}
