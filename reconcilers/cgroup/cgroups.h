// Cgroups for pods and containers, with one interface over the two kernel layouts:
// v1 (a hierarchy per controller: memory, cpu, pids under /sys/fs/cgroup/<ctrl>) and
// v2 (one unified hierarchy). Paths given to these calls are relative ("boxd/web-1a2b/app").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct CgroupLimits {
  std::optional<int64_t> memoryBytes;      // memory.limit_in_bytes / memory.max
  std::optional<int64_t> cpuLimitMilli;    // cfs quota over a 100 ms period / cpu.max
  std::optional<int64_t> cpuRequestMilli;  // cpu.shares / cpu.weight
  std::optional<int64_t> pidsMax;          // pids.max
};

// What a cgroup's subtree uses now, read the way cAdvisor reads it (boxctl top, metrics).
// A field is nullopt when the host lacks its controller or file.
struct CgroupUsage {
  std::optional<int64_t> cpuUsageNs;  // v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000
  // Memory usage minus inactive_file (v1 memory.usage_in_bytes - total_inactive_file of
  // memory.stat; v2 memory.current - inactive_file), at least 0: what the OOM killer weighs.
  std::optional<int64_t> memoryWorkingSetBytes;
  std::optional<int64_t> pids;  // pids.current
};

class Cgroups {
 public:
  virtual ~Cgroups() = default;
  virtual std::string version() const = 0;  // "v1" or "v2"
  // Creates the cgroup (and parents) and writes the limits. Idempotent.
  virtual Status create(const std::string& rel, const CgroupLimits& limits) = 0;
  // Removes the cgroup and its children, deepest first. Absent = success. Fails with EBUSY
  // while processes remain (call killAll first).
  virtual Status remove(const std::string& rel) = 0;
  virtual Result<bool> exists(const std::string& rel) = 0;
  // Every process in the cgroup or its descendants.
  virtual Result<std::vector<pid_t>> pids(const std::string& rel) = 0;
  // SIGKILLs every process in the subtree and waits (bounded) until it is empty.
  virtual Status killAll(const std::string& rel, int timeoutMs) = 0;
  // The cgroup.procs files a process writes its pid into to join this cgroup.
  virtual std::vector<std::string> procsFiles(const std::string& rel) const = 0;
  // The directories, for `boxctl describe`.
  virtual std::vector<std::string> dirs(const std::string& rel) const = 0;
  // Wanted controllers this host does not offer (skipped by create), for `boxctl describe`.
  virtual std::vector<std::string> missingControllers() const { return {}; }
  // How many forks were refused in this cgroup's subtree at a pids limit ("max" in pids.events:
  // v2 counts them where the limit is, v1 where the fork was, so v1 sums the subtree). nullopt
  // without a pids controller or a kernel without the file.
  virtual Result<std::optional<int64_t>> pidsLimitHits(const std::string& rel) = 0;
  // The memory controller's file of this cgroup that counts OOM kills in an "oom_kill N" line
  // (v1 memory.oom_control, kernel >= 4.13; v2 memory.events); empty without a memory controller.
  virtual std::string oomEventsFile(const std::string& rel) const = 0;
  // Usage of the cgroup's subtree; an absent cgroup is an error (ENOENT).
  virtual Result<CgroupUsage> usage(const std::string& rel) {
    return makeError("no usage for cgroup " + rel + " on this implementation", ENOTSUP);
  }
};

}  // namespace boxd::reconcilers
