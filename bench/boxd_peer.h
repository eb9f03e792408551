// A private boxd for the bench: its own temp dirs, cgroup parent and pod network (or none),
// driven through spec files and its socket, torn down (pods, daemon, mounts, cgroups, bridge,
// nftables table, dirs) by cleanup() or the destructor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_network.h"

namespace boxd::bench {

// One JSON-line request on a unix socket, one JSON-line reply; throws BenchError on failure.
nlohmann::json socketCall(const std::string& socketPath, const nlohmann::json& req,
                          int timeoutMs = 10000);

// What boxd logs at debug level for each step it applies ("pod P: step N KIND applied in X us"),
// per pod and step kind: the apply times summed over the pod's steps of that kind, and how many.
struct StepTime {
  double us = 0;
  int count = 0;
};
using PodStepTimes = std::map<std::string, std::map<std::string, StepTime>>;
PodStepTimes parseStepTimes(const std::string& logText);

class BoxdRun {
 public:
  // binDir holds boxd, boxctl and boxd-shim; sourceDir has packaging/make-busybox-rootfs.sh.
  BoxdRun(std::string binDir, std::string sourceDir, BenchNetwork net);
  ~BoxdRun();
  BoxdRun(const BoxdRun&) = delete;
  BoxdRun& operator=(const BoxdRun&) = delete;

  // Lines added to boxd's config file (read at start), e.g. "block: {ioTimeoutSeconds: 10}\n".
  void addConfig(const std::string& yaml) { extraConfig_ += yaml; }
  void start();
  void importBusybox(const std::string& rootfs);
  nlohmann::json call(const nlohmann::json& req, int timeoutMs = 10000) const;

  // Writes SPECS/.name.yaml.stage (fsynced); commit() renames it into place and returns the
  // wall-clock ms taken just before the rename.
  void stageSpec(const std::string& name, const std::string& content) const;
  int64_t commitSpec(const std::string& name) const;
  void removeSpec(const std::string& name) const;
  // SPECS/file written 0600 (boxd refuses a world-readable file that holds a Secret).
  void writeSecrets(const std::string& file, const std::string& content) const;

  // Every container of every named pod reports Running.
  bool allRunning(const std::vector<std::string>& pods) const;
  // timeMs of the pod's last event with this reason ("Started", "Deleted"); 0 if none.
  int64_t lastEventMs(const std::string& pod, const std::string& reason) const;
  bool hasPod(const std::string& pod) const;
  // Status lists no pod and the pods dir is empty.
  bool noPods() const;
  bool podsDirEmpty() const;

  std::vector<pid_t> shimPids() const;  // from RUN/shims/*.pid
  PodStepTimes stepTimes() const;       // from boxd.log
  const BenchNetwork& network() const { return net_; }
  // cleanup() copies boxd.log to DIR/<name>.log before removing the temp dir.
  void keepLogIn(std::string dir, std::string name) {
    keepLogDir_ = std::move(dir);
    keepLogName_ = std::move(name);
  }
  pid_t pid() const { return pid_; }
  std::string boxctl() const { return binDir_ + "/boxctl"; }
  std::string runDir() const { return dir_ + "/run"; }
  std::string dir() const { return dir_; }

  // Empties the specs dir, waits for every pod to go, stops boxd; then removes whatever is
  // left (processes naming the run dir, mounts under the dir, cgroups), the dirs, and the
  // bridge and nftables table boxd kept (see BenchNetwork::remove).
  // Loop devices backed by a file under the dir (a block volume's) are detached by force too.
  // Returns what had to be removed by force (empty = a clean teardown). Idempotent.
  std::vector<std::string> cleanup();

 private:
  std::string specsDir() const { return dir_ + "/specs"; }
  std::string podsDir() const { return dir_ + "/state/pods"; }
  std::vector<std::string> cgroupDirs() const;  // the parent in every v1 hierarchy and in v2
  std::vector<std::string> forceCleanup();
  bool launch();  // spawn boxd; true once its socket answers (10 s at most)

  std::string binDir_, sourceDir_;
  std::string dir_;           // /tmp/boxd-bench-XXXXXX
  std::string cgroupParent_;  // boxd-bench-<hex>
  BenchNetwork net_;
  std::string keepLogDir_, keepLogName_;
  std::string extraConfig_;
  pid_t pid_ = -1;
  bool cleaned_ = false;
};

}  // namespace boxd::bench
