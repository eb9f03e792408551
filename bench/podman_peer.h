// podman as the peer, with the workarounds this machine needs (shared/notes/podman-peer.md):
// private containers.conf/storage.conf (rlimits within the hard limits, cgroupfs, crun, file
// events), a persistent private mount namespace without /sys/fs/cgroup/unified (crun 1.8.1
// refuses hybrid mode), the busybox rootfs imported with a PATH. Everything it creates lives in
// its own dirs and is removed by cleanup() or the destructor.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "bench/proc.h"

namespace boxd::bench {

class PodmanRun {
 public:
  // podman, crun, conmon, unshare and nsenter on PATH.
  static bool installed();

  PodmanRun();
  ~PodmanRun();
  PodmanRun(const PodmanRun&) = delete;
  PodmanRun& operator=(const PodmanRun&) = delete;

  // Config files, mount namespace, image import of the rootfs as localhost/busybox:latest.
  void setup(const std::string& rootfs);
  std::string version();
  static std::string image() { return "localhost/busybox:latest"; }
  std::string kubeFile(const std::string& name) const { return tmpDir_ + "/" + name; }

  struct Play {
    bool timedOut = false;
    double upMs = 0;   // wall ms before `kube play` was spawned → last container's StartedAt
    double cmdMs = 0;  // how long `kube play` itself ran
  };
  // `podman kube play --network none FILE` (the pods get a netns with loopback only, as boxd
  // gives them), then waits until every container of `pods` (two each) is running.
  Play play(const std::string& file, const std::vector<std::string>& pods, int timeoutMs);
  // `podman kube down FILE`; wall ms, -1 on timeout. Checks that no pod or container is left.
  double down(const std::string& file, int timeoutMs);
  int64_t conmonRssKb() const;  // sum over this run's conmon processes

  // Removes pods, containers, processes, the mount namespace, storage, and the cgroup and
  // runtime dirs podman created that were not there before. Returns what needed force. Idempotent.
  std::vector<std::string> cleanup();

 private:
  CmdResult podman(const std::vector<std::string>& args, int timeoutMs,
                   bool cleanupPath = false) const;
  std::vector<std::string> hostDirsPeerMayCreate() const;

  std::string runDir_;  // /run/boxd-bench-podman-XXXXXX: runroot, tmp_dir, mntns, configs
  std::string tmpDir_;  // /tmp/boxd-bench-podman-XXXXXX: graphroot, kube files, image tarball
  bool nsMounted_ = false;
  bool cleaned_ = false;
  bool snapshotTaken_ = false;
  std::set<std::string> existedBefore_;  // host dirs (cgroups, /run/crun) present before setup
};

}  // namespace boxd::bench
