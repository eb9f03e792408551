#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/util.h"
#include "reconcilers/cgroup/cgroup_tree.h"
#include "reconcilers/cgroup/kernel_cgroups.h"

namespace boxd::reconcilers {

namespace {

using namespace cgroup_tree;

const std::vector<std::string> kWanted = {"memory", "cpu", "pids"};

std::vector<std::string> tokens(const std::string& content) {
  std::vector<std::string> out;
  for (const auto& t : split(trim(content), ' '))
    if (!t.empty()) out.push_back(trim(t));
  return out;
}

template <typename T>
bool contains(const std::vector<T>& v, const T& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class CgroupsV2 : public Cgroups {
 public:
  CgroupsV2(std::string root, std::shared_ptr<CgroupFs> fs)
      : root_(std::move(root)), fs_(fs ? std::move(fs) : kernelCgroupFs()) {
    auto offered = fs_->read(root_ + "/cgroup.controllers");
    std::vector<std::string> have = offered.ok() ? tokens(*offered) : std::vector<std::string>{};
    for (const auto& c : kWanted) (contains(have, c) ? enabled_ : missing_).push_back(c);
  }

  std::string version() const override { return "v2"; }

  Status create(const std::string& rel, const CgroupLimits& limits) override {
    BOXD_TRY(checkRel(rel));
    BOXD_TRY(
        makeTree(*fs_, root_, rel, [this](const std::string& d) { return enableControllers(d); }));
    return writeLimits(rel, limits);
  }

  Status remove(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    return removeTree(*fs_, dir(rel));
  }

  Result<bool> exists(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    return fs_->isDir(dir(rel));
  }

  Result<std::vector<pid_t>> pids(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    return treePids(*fs_, dir(rel));
  }

  Status killAll(const std::string& rel, int timeoutMs) override {
    BOXD_TRY(checkRel(rel));
    const std::string kill = dir(rel) + "/cgroup.kill";
    if (fs_->fileExists(kill)) {
      auto listed = pids(rel);
      if (!listed.ok()) return listed.error().wrap("kill processes in cgroup " + rel);
      if (contains(*listed, ::getpid()))
        return makeError(
            "refusing to kill processes in cgroup " + rel + ": it contains this process", EPERM);
      Status st = fs_->write(kill, "1");
      if (!st.ok() && st.error().code != ENOENT)
        return st.error().wrap("kill processes in cgroup " + rel);
    }
    return killUntilEmpty([&] { return pids(rel); }, timeoutMs, rel);
  }

  std::vector<std::string> procsFiles(const std::string& rel) const override {
    return {dir(rel) + "/cgroup.procs"};
  }
  std::vector<std::string> dirs(const std::string& rel) const override { return {dir(rel)}; }
  std::vector<std::string> missingControllers() const override { return missing_; }

  Result<std::optional<int64_t>> pidsLimitHits(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    if (!has("pids")) return std::optional<int64_t>();
    // Hierarchical on v2: the count of a cgroup includes the refusals of its limit below it.
    return readPidsEvents(*fs_, dir(rel) + "/pids.events");
  }

  std::string oomEventsFile(const std::string& rel) const override {
    return has("memory") ? dir(rel) + "/memory.events" : "";
  }

  Result<CgroupUsage> usage(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    auto there = fs_->isDir(dir(rel));
    if (!there.ok()) return there.error();
    if (!*there) return makeError("cgroup " + rel + " does not exist", ENOENT);
    CgroupUsage u;
    // cpu.stat's usage_usec is there without the cpu controller too (the core accounts it).
    if (auto stat = fs_->read(dir(rel) + "/cpu.stat"); stat.ok()) {
      if (auto us = keyedValue(*stat, "usage_usec")) u.cpuUsageNs = *us * 1000;
    }
    if (has("memory"))
      u.memoryWorkingSetBytes = workingSet(*fs_, dir(rel) + "/memory.current",
                                           dir(rel) + "/memory.stat", "inactive_file");
    if (has("pids")) u.pids = readInt(*fs_, dir(rel) + "/pids.current");
    return u;
  }

 private:
  std::string dir(const std::string& rel) const { return root_ + "/" + rel; }
  bool has(const std::string& c) const { return contains(enabled_, c); }

  // Makes the wanted controllers available to d's children: "+ctrl" into d/cgroup.subtree_control.
  Status enableControllers(const std::string& d) {
    const std::string path = d + "/cgroup.subtree_control";
    auto current = fs_->read(path);
    if (!current.ok()) return current.error().wrap("enable cgroup controllers");
    const auto on = tokens(*current);
    for (const auto& c : enabled_) {
      if (contains(on, c)) continue;
      Status st = fs_->write(path, "+" + c);
      if (!st.ok()) return st.error().wrap("enable cgroup controller " + c + " in " + path);
    }
    return {};
  }

  Status put(const std::string& rel, const std::string& file, const std::string& value) {
    std::string path = dir(rel) + "/" + file;
    Status st = fs_->write(path, value);
    if (!st.ok()) return st.error().wrap("set cgroup limit " + path + "=" + value);
    return {};
  }

  Status writeLimits(const std::string& rel, const CgroupLimits& l) {
    if (l.memoryBytes && has("memory"))
      BOXD_TRY(put(rel, "memory.max", std::to_string(*l.memoryBytes)));
    if (has("cpu")) {
      if (l.cpuRequestMilli)
        BOXD_TRY(put(rel, "cpu.weight",
                     std::to_string(cpuWeightFromShares(cpuSharesFromMilli(*l.cpuRequestMilli)))));
      if (l.cpuLimitMilli)
        BOXD_TRY(
            put(rel, "cpu.max", std::to_string(cpuQuotaFromMilli(*l.cpuLimitMilli)) + " 100000"));
    }
    if (l.pidsMax && has("pids")) BOXD_TRY(put(rel, "pids.max", std::to_string(*l.pidsMax)));
    return {};
  }

  std::string root_;
  std::shared_ptr<CgroupFs> fs_;
  std::vector<std::string> enabled_;
  std::vector<std::string> missing_;
};

}  // namespace

std::unique_ptr<Cgroups> makeCgroupsV2(std::string root, std::shared_ptr<CgroupFs> fs) {
  return std::make_unique<CgroupsV2>(std::move(root), std::move(fs));
}

}  // namespace boxd::reconcilers
