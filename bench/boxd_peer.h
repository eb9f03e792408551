// A private boxd for the bench: its own temp dirs and cgroup parent, driven through spec files
// and its socket, torn down (pods, daemon, mounts, cgroups, dirs) by cleanup() or the destructor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::bench {

// One JSON-line request on a unix socket, one JSON-line reply; throws BenchError on failure.
nlohmann::json socketCall(const std::string& socketPath, const nlohmann::json& req,
                          int timeoutMs = 10000);

class BoxdRun {
 public:
  // binDir holds boxd, boxctl and boxd-shim; sourceDir has packaging/make-busybox-rootfs.sh.
  BoxdRun(std::string binDir, std::string sourceDir);
  ~BoxdRun();
  BoxdRun(const BoxdRun&) = delete;
  BoxdRun& operator=(const BoxdRun&) = delete;

  void start();
  void importBusybox(const std::string& rootfs);
  nlohmann::json call(const nlohmann::json& req, int timeoutMs = 10000) const;

  // Writes SPECS/.name.yaml.stage (fsynced); commit() renames it into place and returns the
  // wall-clock ms taken just before the rename.
  void stageSpec(const std::string& name, const std::string& content) const;
  int64_t commitSpec(const std::string& name) const;
  void removeSpec(const std::string& name) const;

  // Every container of every named pod reports Running.
  bool allRunning(const std::vector<std::string>& pods) const;
  // timeMs of the pod's last event with this reason ("Started", "Deleted"); 0 if none.
  int64_t lastEventMs(const std::string& pod, const std::string& reason) const;
  bool hasPod(const std::string& pod) const;
  // Status lists no pod and the pods dir is empty.
  bool noPods() const;
  bool podsDirEmpty() const;

  std::vector<pid_t> shimPids() const;  // from RUN/shims/*.pid
  pid_t pid() const { return pid_; }
  std::string boxctl() const { return binDir_ + "/boxctl"; }
  std::string runDir() const { return dir_ + "/run"; }
  std::string dir() const { return dir_; }

  // Empties the specs dir, waits for every pod to go, stops boxd; then removes whatever is
  // left (processes naming the run dir, mounts under the dir, cgroups) and the dirs.
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
  pid_t pid_ = -1;
  bool cleaned_ = false;
};

}  // namespace boxd::bench
