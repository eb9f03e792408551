// The storage peers of the block bench, started by the bench and removed at its end, also when
// it fails or is interrupted (cleanup() / the destructor):
//
//   a tmpfs of its own   mounted on a temp dir, size-capped; holds the LUN backing files, so
//                        the disk does not set the pace
//   one tgtd             the test fixture (tests/fixtures/tgt_target.h): one target, CHAP,
//                        LUN 1 (the data LUN, preallocated), LUN 2 (the raw peer's, preallocated),
//                        LUNs 10.. (blank, sparse: one per mkfs round)
//   one Ceph cluster     the test fixture (tests/fixtures/ceph_cluster.h): mon + OSD on
//                        memstore, pool rbd, a `profile rbd` user; images for the data volume,
//                        the blank (mkfs) rounds and `rbd bench`
//
// Passwords are generated per run. tgtadm takes the CHAP password on its command line (the
// fixture's documented test-only limitation); it is a throwaway value of this run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/iscsi_raw.h"

namespace boxd::testing {
class TgtTarget;
class CephCluster;
}  // namespace boxd::testing

namespace boxd::bench {

struct BlockPeersOptions {
  bool iscsi = true, rbd = true;
  uint64_t volumeBytes = 1ull << 30;  // the data LUN / image, and each blank one
  uint64_t rawBytes = 256ull << 20;   // the raw peers' LUN and `rbd bench` image
  int blankVolumes = 5;               // one per mkfs round, per kind
};

class BlockPeers {
 public:
  static constexpr int kTid = 1, kDataLun = 1, kRawLun = 2, kFirstBlankLun = 10;

  explicit BlockPeers(const BlockPeersOptions& o);  // throws BenchError (after undoing itself)
  ~BlockPeers();
  BlockPeers(const BlockPeers&) = delete;
  BlockPeers& operator=(const BlockPeers&) = delete;

  // iSCSI
  std::string portal() const;
  const std::string& iqn() const { return iqn_; }
  const std::string& chapUser() const { return chapUser_; }
  const std::string& chapPassword() const { return chapPassword_; }
  RawIscsiTarget rawTarget() const;  // LUN kRawLun, its own initiator name
  int iscsiSessions() const;         // logged-in sessions of the target; -1 if tgtadm failed
  std::string tmpfsDir() const { return tmpfs_; }

  // RBD
  std::string monitor() const;   // "127.0.0.1:PORT", as a Kubernetes manifest writes it
  std::string cephConf() const;  // client.admin's ceph.conf (for a look by hand: --hold)
  std::string cephUser() const;
  std::string cephKey() const;
  const std::string& dataImage() const { return dataImage_; }
  std::string blankImage(int i) const { return blankImagePrefix_ + std::to_string(i); }
  // `rbd bench --io-type write|read --io-size ioBytes --io-total bytes` on the bench image, as
  // client.admin: its own ops/sec times ioBytes, in MiB/s (its clock starts after connecting).
  // rbdCache false adds --rbd_cache=false, the setting boxd-blockd runs librbd with.
  double rbdBenchMiBps(RawOp op, uint64_t bytes, uint32_t ioBytes, bool rbdCache = true,
                       int ioThreads = 0) const;    // 0: rbd bench's default (16)
  int rbdWatchers(const std::string& image) const;  // -1 if `rbd status` failed

  // Stops tgtd and Ceph, unmounts the tmpfs, removes the dir. What could not be removed.
  std::vector<std::string> cleanup();

 private:
  void startIscsi(const BlockPeersOptions& o);
  void startRbd(const BlockPeersOptions& o);
  void mountTmpfs(uint64_t bytes);

  std::string dir_, tmpfs_;
  bool tmpfsMounted_ = false, cleaned_ = false;
  std::unique_ptr<testing::TgtTarget> tgt_;
  std::unique_ptr<testing::CephCluster> ceph_;
  std::string iqn_, chapUser_, chapPassword_, rawInitiator_;
  std::string dataImage_, benchImage_, blankImagePrefix_;
};

// `sync`, then `echo 3 > /proc/sys/vm/drop_caches`: the next read comes from the volume.
void dropHostCaches();

// "0.52 0.61 0.70" from /proc/loadavg; loadAverage1() is the first of them.
std::string loadAverage();
double loadAverage1();

}  // namespace boxd::bench
