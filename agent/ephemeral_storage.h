// ephemeral-storage: what a pod may write to the host's disk, and the eviction when it writes
// more, with Kubernetes' meaning (kubelet's local storage eviction):
//
//   - a container: its writable layer (the overlay upper dir) and its log files, against its
//     resources.limits.ephemeral-storage;
//   - a disk emptyDir (not medium: Memory, whose tmpfs size is its bound): its files, against
//     its sizeLimit;
//   - the pod: every container's usage plus its disk emptyDirs, against the sum of its
//     containers' limits (only when each container has one, as for memory).
//
// A container without a limit gets the config's defaultEphemeralStorageLimit, as a Kubernetes
// LimitRange default would give it (0: none), so every pod is bounded unless the operator says
// otherwise. Checks run in kubelet's order (emptyDirs, the pod, then each container); the first
// one exceeded evicts the pod with its message. A pod whose trees cannot be measured within the
// walk's bounds is evicted last, with a message of boxd's own.
//
// Usage is measured by walking the trees on a worker thread (reconcilers/quota/disk_usage.h),
// at each resync, or read from project quotas where the filesystem has them
// (agent/project_quotas.h). Pure functions here; the agent side is in ephemeral_storage_agent.cc.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "agent/pod_plan.h"
#include "reconcilers/quota/project_quota.h"
#include "specs/pod.h"

namespace boxd::agent {

// What a pod's storage is measured on: host paths under the pod's dir.
struct StorageTargets {
  struct ContainerTrees {
    std::string upper;    // the overlay upper dir
    std::string logsDir;  // the pod's logs dir ...
    std::string logName;  // ... and the prefix of this container's log files ("app.log")
  };
  std::map<std::string, ContainerTrees> containers;  // every container, init ones included
  std::map<std::string, std::string> emptyDirs;      // disk emptyDirs: name -> host dir
  // Trees under a project quota (agent/project_quotas.h): usage is read from the quota, not
  // walked. By container name (its upper + work dirs; logs are still stat'ed) and emptyDir name.
  std::map<std::string, uint32_t> containerProjects;
  std::map<std::string, uint32_t> emptyDirProjects;
};

struct StorageUsage {
  std::map<std::string, int64_t> containers;  // bytes
  std::map<std::string, int64_t> emptyDirs;
  // The first tree a walk could not finish (more entries than the budget, or nested deeper
  // than reconcilers::kMaxTreeDepth): "container c", "emptyDir scratch". Its number is a lower
  // bound, and the pod is evicted as one that cannot be measured, so that no pod escapes its
  // limit by hiding its data behind a million empty files or a deep tree.
  std::string incomplete;
  std::string error;  // the first tree that could not be read (its usage counts as 0)
  // Trees whose project quota has reached its hard limit (usage within one filesystem block of
  // it: the next block is refused): "container c", "emptyDir scratch". Reaching it evicts, as
  // usage can never pass a hard limit.
  std::set<std::string> atQuota;
};

struct Eviction {
  std::string message;    // kubelet's wording
  std::string container;  // the container over its own limit, or empty
};

// Whether the pod has any ephemeral-storage bound at all (nothing to measure otherwise).
bool hasStorageLimits(const specs::PodSpec& pod, int64_t defaultLimit);

StorageTargets storageTargets(const reconcilers::Paths& paths, const specs::PodSpec& pod,
                              const std::string& uid);

// Blocking: walks every tree of targets (at most maxEntries entries in all); a tree under a
// project quota is read from the quota through quotas instead (walked when that read fails).
StorageUsage measureStorage(const StorageTargets& targets, int64_t maxEntries,
                            reconcilers::ProjectQuotaSys* quotas = nullptr);

// A container's ephemeral-storage limit: its own, else defaultLimit when > 0.
std::optional<int64_t> ephemeralLimitOf(const specs::Container& c, int64_t defaultLimit);
bool isDiskEmptyDir(const specs::Volume& v);

// The eviction the usage calls for, if any.
std::optional<Eviction> judgeStorage(const specs::PodSpec& pod, const StorageUsage& usage,
                                     int64_t defaultLimit, int64_t maxEntries = 0);

// A byte count as Kubernetes prints a quantity written that way: "10Mi", "1G", "1500".
std::string formatStorageQuantity(int64_t bytes);

}  // namespace boxd::agent
