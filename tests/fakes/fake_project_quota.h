// A ProjectQuotaSys that records every call (golden call sequences), keeps project IDs and
// limits in maps, and fails the calls it is told to, so the project-quota path is unit-tested
// without a kernel that has project quotas.
//
//   FakeProjectQuota q("/tmp/boxd-x");   // fds are shown by their path below this root
//   q.failOp("getquota", ESRCH);          // every Q_GETQUOTA fails with ESRCH
//   ... code under test ...
//   EXPECT_EQ(q.calls, (std::vector<std::string>{"getxattr pods/u/containers/a/upper", ...}));
#pragma once

#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "reconcilers/quota/project_quota.h"

namespace boxd::testing {

class FakeProjectQuota : public reconcilers::ProjectQuotaSys {
 public:
  explicit FakeProjectQuota(std::string root = "") : root_(std::move(root)) {}

  // "getxattr <dir>", "setxattr <dir> project=N inherit", "getquota N", "setquota N hard=BYTES".
  std::vector<std::string> calls;
  std::map<std::string, reconcilers::ProjectAttr> attrs;  // by dir, as shown in calls
  std::map<uint32_t, int64_t> limits;                     // hard limits set (0 = cleared)
  std::map<uint32_t, int64_t> usage;                      // bytes Q_GETQUOTA reports

  void failOp(const std::string& op, int err) { errors_[op] = err; }
  void clearFailures() { errors_.clear(); }

  Result<reconcilers::ProjectAttr> getProject(int fd) override {
    const std::string dir = shown(fd);
    calls.push_back("getxattr " + dir);
    if (int e = injected("getxattr")) return sysError("FS_IOC_FSGETXATTR", dir, e);
    auto it = attrs.find(dir);
    return it == attrs.end() ? reconcilers::ProjectAttr{} : it->second;
  }
  Status setProject(int fd, const reconcilers::ProjectAttr& a) override {
    const std::string dir = shown(fd);
    calls.push_back("setxattr " + dir + " project=" + std::to_string(a.projectId) +
                    (a.inherit ? " inherit" : ""));
    if (int e = injected("setxattr")) return sysError("FS_IOC_FSSETXATTR", dir, e);
    attrs[dir] = a;
    return {};
  }
  Result<reconcilers::ProjectQuotaUsage> getQuota(uint32_t id) override {
    calls.push_back("getquota " + std::to_string(id));
    if (int e = injected("getquota")) return sysError("quotactl Q_GETQUOTA", "fake", e);
    auto u = usage.find(id);
    auto l = limits.find(id);
    return reconcilers::ProjectQuotaUsage{u == usage.end() ? 0 : u->second,
                                          l == limits.end() ? 0 : l->second};
  }
  Status setLimit(uint32_t id, int64_t bytes) override {
    calls.push_back("setquota " + std::to_string(id) + " hard=" + std::to_string(bytes));
    if (int e = injected("setquota")) return sysError("quotactl Q_SETQUOTA", "fake", e);
    limits[id] = (bytes + 1023) / 1024 * 1024;
    return {};
  }

 private:
  std::string shown(int fd) const {
    char buf[4096] = {};
    ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf - 1);
    std::string path = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "fd?";
    if (!root_.empty() && path.rfind(root_ + "/", 0) == 0) return path.substr(root_.size() + 1);
    return path;
  }
  int injected(const std::string& op) const {
    auto it = errors_.find(op);
    return it == errors_.end() ? 0 : it->second;
  }

  std::string root_;
  std::map<std::string, int> errors_;
};

}  // namespace boxd::testing
