#include "bench/block_peers.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "bench/block_parse.h"
#include "bench/proc.h"
#include "common/fd.h"
#include "common/util.h"
#include "tests/fixtures/ceph_cluster.h"
#include "tests/fixtures/tgt_target.h"

namespace boxd::bench {

namespace {

// A file of `bytes` whose pages are all allocated (tmpfs: zeroed RAM), so that no measured
// write pays for first touching a page.
void preallocatedFile(const std::string& path, uint64_t bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw BenchError("create " + path + ": " + std::strerror(errno));
  int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes));
  if (rc != 0) throw BenchError("allocate " + path + ": " + std::strerror(rc));
}

void must(const Status& st, const std::string& what) {
  if (!st.ok()) throw BenchError(what + ": " + st.error().message);
}

}  // namespace

BlockPeers::BlockPeers(const BlockPeersOptions& o) {
  std::string tmpl = "/tmp/boxd-bench-block-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw BenchError("mkdtemp " + tmpl + ": " + std::strerror(errno));
  dir_ = tmpl;
  try {
    if (o.iscsi) startIscsi(o);
    if (o.rbd) startRbd(o);
  } catch (const BenchError&) {
    (void)cleanup();
    throw;
  }
}

BlockPeers::~BlockPeers() { (void)cleanup(); }

void BlockPeers::mountTmpfs(uint64_t bytes) {
  tmpfs_ = dir_ + "/luns";
  must(mkdirAll(tmpfs_, 0700), "create " + tmpfs_);
  std::string opts = "size=" + std::to_string(bytes >> 20) + "m,mode=0700";
  if (::mount("boxd-bench-luns", tmpfs_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              opts.c_str()) != 0)
    throw BenchError("mount tmpfs on " + tmpfs_ + ": " + std::strerror(errno));
  tmpfsMounted_ = true;
}

void BlockPeers::startIscsi(const BlockPeersOptions& o) {
  // The data and raw LUNs fully allocated; a blank LUN gets what mkfs and the pod write
  // (ext4 metadata: tens of MiB), 256 MiB each is generous.
  uint64_t blankRoom = 256ull << 20;
  mountTmpfs(o.volumeBytes + o.rawBytes + static_cast<uint64_t>(o.blankVolumes) * blankRoom +
             (64ull << 20));
  tgt_ = std::make_unique<testing::TgtTarget>();
  must(tgt_->start(), "start tgtd");
  std::string id = randomHex(3);
  iqn_ = "iqn.2026-12.io.boxd.bench:store-" + id;
  rawInitiator_ = "iqn.2026-12.io.boxd.bench:raw-" + id;
  chapUser_ = "bench-" + id;
  chapPassword_ = randomHex(12);
  must(tgt_->addTarget(kTid, iqn_), "tgtd: add target");
  std::string data = tmpfs_ + "/data.img", raw = tmpfs_ + "/raw.img";
  preallocatedFile(data, o.volumeBytes);
  preallocatedFile(raw, o.rawBytes);
  must(tgt_->addLun(kTid, kDataLun, o.volumeBytes, false, data), "tgtd: add the data LUN");
  must(tgt_->addLun(kTid, kRawLun, o.rawBytes, false, raw), "tgtd: add the raw LUN");
  for (int i = 0; i < o.blankVolumes; ++i) {
    std::string f = tmpfs_ + "/blank" + std::to_string(i) + ".img";
    must(tgt_->addLun(kTid, kFirstBlankLun + i, o.volumeBytes, false, f), "tgtd: add a blank LUN");
  }
  must(tgt_->addAccount(chapUser_, chapPassword_), "tgtd: add the CHAP account");
  must(tgt_->bindAccount(kTid, chapUser_), "tgtd: bind the CHAP account");
}

void BlockPeers::startRbd(const BlockPeersOptions& o) {
  auto c = testing::CephCluster::start();
  if (!c.ok()) throw BenchError("start Ceph: " + c.error().message);
  ceph_ = std::move(*c);
  std::string id = randomHex(3);
  dataImage_ = "bench-data-" + id;
  benchImage_ = "bench-raw-" + id;
  blankImagePrefix_ = "bench-blank-" + id + "-";
  must(ceph_->createImage(dataImage_, o.volumeBytes), "rbd create " + dataImage_);
  must(ceph_->createImage(benchImage_, o.rawBytes), "rbd create " + benchImage_);
  for (int i = 0; i < o.blankVolumes; ++i)
    must(ceph_->createImage(blankImage(i), o.volumeBytes), "rbd create " + blankImage(i));
}

std::string BlockPeers::portal() const { return tgt_ ? tgt_->portal() : ""; }

RawIscsiTarget BlockPeers::rawTarget() const {
  return {portal(), iqn_, rawInitiator_, chapUser_, chapPassword_, kRawLun};
}

int BlockPeers::iscsiSessions() const { return tgt_ ? tgt_->sessionCount(kTid) : -1; }

std::string BlockPeers::monitor() const {
  return ceph_ ? "127.0.0.1:" + std::to_string(ceph_->monPort()) : "";
}
std::string BlockPeers::cephConf() const { return ceph_ ? ceph_->confPath() : ""; }
std::string BlockPeers::cephUser() const { return ceph_ ? ceph_->user() : ""; }
std::string BlockPeers::cephKey() const { return ceph_ ? ceph_->userKey() : ""; }

double BlockPeers::rbdBenchMiBps(RawOp op, uint64_t bytes, uint32_t ioBytes, bool rbdCache,
                                 int ioThreads) const {
  throwIfInterrupted();
  std::string type = op == RawOp::Write ? "write" : "read";
  std::vector<std::string> args = {"bench",
                                   "--io-type",
                                   type,
                                   "--io-size",
                                   std::to_string(ioBytes),
                                   "--io-total",
                                   std::to_string(bytes),
                                   "rbd/" + benchImage_};
  if (!rbdCache) args.push_back("--rbd_cache=false");
  if (ioThreads > 0) {
    args.push_back("--io-threads");
    args.push_back(std::to_string(ioThreads));
  }
  auto r = ceph_->runRbd(args, 120000);
  if (!r.ok()) throw BenchError("rbd bench: " + r.error().message);
  if (!r->ok())
    throw BenchError("rbd bench --io-type " + type + (r->timedOut ? ": timed out" : ": failed") +
                     ": " + trim(r->output));
  double opsPerS = rbdBenchOpsPerSecond(r->output);
  if (opsPerS <= 0) throw BenchError("rbd bench: no ops/sec in its output: " + trim(r->output));
  return opsPerS * ioBytes / (1 << 20);
}

int BlockPeers::rbdWatchers(const std::string& image) const {
  auto r = ceph_->runRbd({"status", "rbd/" + image, "--format", "json"}, 30000);
  if (!r.ok() || !r->ok()) return -1;
  auto j = nlohmann::json::parse(r->output, nullptr, false);
  return j.is_object() && j.contains("watchers") ? static_cast<int>(j["watchers"].size()) : -1;
}

std::vector<std::string> BlockPeers::cleanup() {
  std::vector<std::string> left;
  if (cleaned_) return left;
  cleaned_ = true;
  if (tgt_) {
    tgt_->stop();  // by PID: system delete, SIGKILL after a bound; its files are then closed
    tgt_.reset();
  }
  if (ceph_) {
    ceph_->stop();
    ceph_.reset();
  }
  if (tmpfsMounted_ && ::umount2(tmpfs_.c_str(), 0) != 0) {
    left.push_back("tmpfs " + tmpfs_ + " busy (" + std::strerror(errno) + "): detached lazily");
    ::umount2(tmpfs_.c_str(), MNT_DETACH);
  }
  tmpfsMounted_ = false;
  if (!dir_.empty()) {
    Status st = removeAll(dir_);
    if (!st.ok()) left.push_back("could not remove " + dir_ + ": " + st.error().message);
  }
  return left;
}

void dropHostCaches() {
  ::sync();
  Fd fd(::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), "3\n", 2) != 2)
    throw BenchError(std::string("echo 3 > /proc/sys/vm/drop_caches: ") + std::strerror(errno));
}

std::string loadAverage() {
  auto text = readFile("/proc/loadavg");
  if (!text.ok()) return "?";
  auto f = split(trim(*text), ' ');
  return f.size() >= 3 ? f[0] + " " + f[1] + " " + f[2] : trim(*text);
}

double loadAverage1() {
  auto text = readFile("/proc/loadavg");
  return text.ok() ? std::strtod(text->c_str(), nullptr) : -1;
}

}  // namespace boxd::bench
