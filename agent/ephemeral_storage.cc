#include "agent/ephemeral_storage.h"

#include <algorithm>
#include <utility>

#include "reconcilers/quota/disk_usage.h"

namespace boxd::agent {

std::optional<int64_t> ephemeralLimitOf(const specs::Container& c, int64_t defaultLimit) {
  if (c.resources.ephemeralLimitBytes) return c.resources.ephemeralLimitBytes;
  if (defaultLimit > 0) return defaultLimit;
  return std::nullopt;
}

bool isDiskEmptyDir(const specs::Volume& v) { return v.emptyDir && !v.emptyDir->memory; }

namespace {

int64_t valueOr0(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

std::string formatStorageQuantity(int64_t bytes) {
  static constexpr std::pair<const char*, int> kBinary[] = {{"Ei", 60}, {"Pi", 50}, {"Ti", 40},
                                                            {"Gi", 30}, {"Mi", 20}, {"Ki", 10}};
  static constexpr std::pair<const char*, int64_t> kDecimal[] = {
      {"E", 1000000000000000000}, {"P", 1000000000000000}, {"T", 1000000000000},
      {"G", 1000000000},          {"M", 1000000},          {"k", 1000}};
  if (bytes <= 0) return std::to_string(bytes);
  for (const auto& [suffix, shift] : kBinary) {
    int64_t unit = int64_t{1} << shift;
    if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  for (const auto& [suffix, unit] : kDecimal) {
    if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

bool hasStorageLimits(const specs::PodSpec& pod, int64_t defaultLimit) {
  for (const auto* c : allContainers(pod)) {
    if (ephemeralLimitOf(*c, defaultLimit)) return true;
  }
  for (const auto& v : pod.volumes) {
    if (isDiskEmptyDir(v) && v.emptyDir->sizeLimitBytes) return true;
  }
  return false;
}

StorageTargets storageTargets(const reconcilers::Paths& paths, const specs::PodSpec& pod,
                              const std::string& uid) {
  StorageTargets t;
  const PodPaths pp = podPaths(paths, pod.name, uid);
  for (const auto* c : allContainers(pod)) {
    ContainerPaths cp = containerPaths(paths, pod.name, uid, c->name);
    t.containers[c->name] = {cp.upper, pp.dir + "/logs", c->name + ".log"};
  }
  for (const auto& v : pod.volumes) {
    if (isDiskEmptyDir(v)) t.emptyDirs[v.name] = volumeHostPath(pp, v);
  }
  return t;
}

StorageUsage measureStorage(const StorageTargets& targets, int64_t maxEntries,
                            reconcilers::ProjectQuotaSys* quotas) {
  StorageUsage u;
  // A tree under a project: its usage from the quota, and whether the hard limit is reached.
  auto fromQuota = [&](const std::map<std::string, uint32_t>& projects, const std::string& name,
                       int64_t& out, const std::string& what) {
    auto it = projects.find(name);
    if (quotas == nullptr || it == projects.end()) return false;
    auto q = quotas->getQuota(it->second);
    if (!q.ok()) {
      if (u.error.empty()) u.error = q.error().wrap(what + ", walked instead").message;
      return false;
    }
    out += q->bytes;
    if (q->hardLimitBytes > 0 && q->bytes + quotas->blockSize() > q->hardLimitBytes)
      u.atQuota.insert(what);
    return true;
  };
  int64_t budget = maxEntries;
  auto note = [&](const Result<reconcilers::TreeUsage>& r, int64_t& out, const std::string& what) {
    if (!r.ok()) {
      if (u.error.empty()) u.error = r.error().message;
      return;
    }
    out += r->bytes;
    budget -= r->entries;
    if (!r->complete && u.incomplete.empty()) u.incomplete = what;
  };
  for (const auto& [name, trees] : targets.containers) {
    int64_t& bytes = u.containers[name];
    if (!fromQuota(targets.containerProjects, name, bytes, "container " + name))
      note(reconcilers::treeUsage(trees.upper, std::max<int64_t>(budget, 1)), bytes,
           "container " + name);
    note(reconcilers::filesUsage(trees.logsDir, trees.logName), bytes, "container " + name);
  }
  for (const auto& [name, dir] : targets.emptyDirs) {
    if (fromQuota(targets.emptyDirProjects, name, u.emptyDirs[name], "emptyDir " + name)) continue;
    note(reconcilers::treeUsage(dir, std::max<int64_t>(budget, 1)), u.emptyDirs[name],
         "emptyDir " + name);
  }
  return u;
}

std::optional<Eviction> judgeStorage(const specs::PodSpec& pod, const StorageUsage& usage,
                                     int64_t defaultLimit, int64_t maxEntries) {
  // 1. Each disk emptyDir against its sizeLimit.
  for (const auto& v : pod.volumes) {
    if (!isDiskEmptyDir(v) || !v.emptyDir->sizeLimitBytes) continue;
    if (valueOr0(usage.emptyDirs, v.name) > *v.emptyDir->sizeLimitBytes ||
        usage.atQuota.count("emptyDir " + v.name) > 0) {
      return Eviction{"Usage of EmptyDir volume \"" + v.name + "\" exceeds the limit \"" +
                          formatStorageQuantity(*v.emptyDir->sizeLimitBytes) + "\".",
                      ""};
    }
  }
  // 2. The pod against the sum of its containers' limits (init containers as Kubernetes counts
  //    them for a pod: the larger of the sum of the app containers and sidecars, and any init
  //    container plus the sidecars declared before it, which run beside it).
  auto add = [](std::optional<int64_t> a, std::optional<int64_t> b) {
    return a && b ? std::optional<int64_t>(*a + *b) : std::nullopt;
  };
  std::optional<int64_t> total = 0;
  for (const auto* c : allContainers(pod)) {
    if (!isInitContainer(pod, c->name) || c->isSidecar())
      total = add(total, ephemeralLimitOf(*c, defaultLimit));
  }
  std::optional<int64_t> sidecars = 0;  // those declared so far
  for (const auto& c : pod.initContainers) {
    auto l = ephemeralLimitOf(c, defaultLimit);
    if (c.isSidecar()) {
      sidecars = add(sidecars, l);
      continue;
    }
    auto during = add(l, sidecars);
    if (total && (!during || *during > *total)) total = during;
  }
  if (total) {
    int64_t used = 0;
    for (const auto& [name, bytes] : usage.containers) used += bytes;
    for (const auto& [name, bytes] : usage.emptyDirs) used += bytes;
    if (used > *total) {
      return Eviction{"Pod ephemeral local storage usage exceeds the total limit of containers " +
                          formatStorageQuantity(*total) + ".",
                      ""};
    }
  }
  // 3. Each container against its own limit.
  for (const auto* c : allContainers(pod)) {
    auto l = ephemeralLimitOf(*c, defaultLimit);
    if (l && (valueOr0(usage.containers, c->name) > *l ||
              usage.atQuota.count("container " + c->name) > 0)) {
      return Eviction{"Container " + c->name + " exceeded its local ephemeral storage limit \"" +
                          formatStorageQuantity(*l) + "\".",
                      c->name};
    }
  }
  // 4. What cannot be measured is not let off: the walk's bounds are the pod's too.
  if (!usage.incomplete.empty() && hasStorageLimits(pod, defaultLimit)) {
    return Eviction{"Pod ephemeral local storage usage cannot be measured: " + usage.incomplete +
                        " holds more than " + std::to_string(maxEntries) +
                        " files or directories, or nests them deeper than " +
                        std::to_string(reconcilers::kMaxTreeDepth) + " levels.",
                    ""};
  }
  return std::nullopt;
}

}  // namespace boxd::agent
