#include <algorithm>
#include <cerrno>

#include "reconcilers/cgroup/cgroup_tree.h"
#include "reconcilers/cgroup/kernel_cgroups.h"

namespace boxd::reconcilers {

int64_t cpuSharesFromMilli(int64_t milli) { return std::max<int64_t>(2, milli * 1024 / 1000); }

int64_t cpuWeightFromShares(int64_t shares) {
  int64_t s = std::clamp<int64_t>(shares, 2, 262144);
  return 1 + ((s - 2) * 9999) / 262142;
}

int64_t cpuQuotaFromMilli(int64_t milli) { return std::max<int64_t>(1000, milli * 100); }

namespace {

using namespace cgroup_tree;

class CgroupsV1 : public Cgroups {
 public:
  CgroupsV1(std::string root, std::vector<std::string> controllers, std::shared_ptr<CgroupFs> fs)
      : root_(std::move(root)), fs_(fs ? std::move(fs) : kernelCgroupFs()) {
    for (auto& c : controllers) {
      auto isDir = fs_->isDir(root_ + "/" + c);
      (isDir.ok() && *isDir ? present_ : missing_).push_back(std::move(c));
    }
  }

  std::string version() const override { return "v1"; }

  Status create(const std::string& rel, const CgroupLimits& limits) override {
    BOXD_TRY(checkRel(rel));
    for (const auto& c : present_) BOXD_TRY(makeTree(*fs_, root_ + "/" + c, rel));
    return writeLimits(rel, limits);
  }

  Status remove(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    Status first;
    for (const auto& c : present_) {
      Status st = removeTree(*fs_, dir(c, rel));
      if (!st.ok() && first.ok()) first = st;
    }
    return first;
  }

  Result<bool> exists(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    if (present_.empty()) return false;
    for (const auto& c : present_) {
      auto d = fs_->isDir(dir(c, rel));
      if (!d.ok()) return d.error();
      if (!*d) return false;
    }
    return true;
  }

  Result<std::vector<pid_t>> pids(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    std::vector<pid_t> all;
    for (const auto& c : present_) {
      auto p = treePids(*fs_, dir(c, rel));
      if (!p.ok()) return p.error();
      all.insert(all.end(), p->begin(), p->end());
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
  }

  Status killAll(const std::string& rel, int timeoutMs) override {
    BOXD_TRY(checkRel(rel));
    return killUntilEmpty([&] { return pids(rel); }, timeoutMs, rel);
  }

  std::vector<std::string> procsFiles(const std::string& rel) const override {
    std::vector<std::string> out;
    for (const auto& c : present_) out.push_back(dir(c, rel) + "/cgroup.procs");
    return out;
  }

  std::vector<std::string> dirs(const std::string& rel) const override {
    std::vector<std::string> out;
    for (const auto& c : present_) out.push_back(dir(c, rel));
    return out;
  }

  std::vector<std::string> missingControllers() const override { return missing_; }

  Result<std::optional<int64_t>> pidsLimitHits(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    if (!has("pids")) return std::optional<int64_t>();
    return sumPidsEvents(*fs_, dir("pids", rel));
  }

  std::string oomEventsFile(const std::string& rel) const override {
    return has("memory") ? dir("memory", rel) + "/memory.oom_control" : "";
  }

  Result<CgroupUsage> usage(const std::string& rel) override {
    BOXD_TRY(checkRel(rel));
    auto there = exists(rel);
    if (!there.ok()) return there.error();
    if (!*there) return makeError("cgroup " + rel + " does not exist", ENOENT);
    CgroupUsage u;
    if (has("cpuacct")) u.cpuUsageNs = readInt(*fs_, dir("cpuacct", rel) + "/cpuacct.usage");
    if (has("memory")) {
      u.memoryWorkingSetBytes =
          workingSet(*fs_, dir("memory", rel) + "/memory.usage_in_bytes",
                     dir("memory", rel) + "/memory.stat", "total_inactive_file");
    }
    if (has("pids")) u.pids = readInt(*fs_, dir("pids", rel) + "/pids.current");
    return u;
  }

 private:
  std::string dir(const std::string& controller, const std::string& rel) const {
    return root_ + "/" + controller + "/" + rel;
  }

  bool has(const std::string& c) const {
    return std::find(present_.begin(), present_.end(), c) != present_.end();
  }

  Status put(const std::string& controller, const std::string& rel, const std::string& file,
             int64_t value) {
    std::string path = dir(controller, rel) + "/" + file;
    Status st = fs_->write(path, std::to_string(value));
    if (!st.ok()) return st.error().wrap("set cgroup limit " + path + "=" + std::to_string(value));
    return {};
  }

  Status writeLimits(const std::string& rel, const CgroupLimits& l) {
    if (l.memoryBytes && has("memory"))
      BOXD_TRY(put("memory", rel, "memory.limit_in_bytes", *l.memoryBytes));
    if (has("cpu")) {
      if (l.cpuRequestMilli)
        BOXD_TRY(put("cpu", rel, "cpu.shares", cpuSharesFromMilli(*l.cpuRequestMilli)));
      if (l.cpuLimitMilli) {
        BOXD_TRY(put("cpu", rel, "cpu.cfs_period_us", 100000));
        BOXD_TRY(put("cpu", rel, "cpu.cfs_quota_us", cpuQuotaFromMilli(*l.cpuLimitMilli)));
      }
    }
    if (l.pidsMax && has("pids")) BOXD_TRY(put("pids", rel, "pids.max", *l.pidsMax));
    return {};
  }

  std::string root_;
  std::shared_ptr<CgroupFs> fs_;
  std::vector<std::string> present_;
  std::vector<std::string> missing_;
};

}  // namespace

std::unique_ptr<Cgroups> makeCgroupsV1(std::string root, std::vector<std::string> controllers,
                                       std::shared_ptr<CgroupFs> fs) {
  return std::make_unique<CgroupsV1>(std::move(root), std::move(controllers), std::move(fs));
}

}  // namespace boxd::reconcilers
