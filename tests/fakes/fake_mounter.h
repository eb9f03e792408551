// A Mounter that records what it was asked to do and keeps a set of "mounted" targets, with
// injectable failures, so mount/rollback logic is unit-tested without root.
//
//   FakeMounter m;
//   m.failTarget("/x", boxd::makeError("unmount /x: busy", EBUSY), 2);  // next 2 calls on /x fail
//   ... code under test ...
//   EXPECT_EQ(m.calls, (std::vector<std::string>{"mount overlay /x", "unmount /x"}));
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reconcilers/host/mounter.h"

namespace boxd::testing {

class FakeMounter : public reconcilers::Mounter {
 public:
  // "mount <fstype> <target>", "unmount <target>", "unmount-detach <target>"; failed calls too.
  std::vector<std::string> calls;
  std::set<std::string> mounted;
  std::map<std::string, std::string> data;  // target -> options of its latest mount
  std::optional<Error> observeError;        // returned by isMountPoint() while set

  // The call that will get index `index` in `calls` (0-based) fails with err.
  void failCall(size_t index, Error err) { callErrors_[index] = std::move(err); }
  // The next `times` mount/unmount calls on target fail with err (-1 = every call).
  void failTarget(const std::string& target, Error err, int times = -1) {
    targetErrors_[target] = {std::move(err), times};
  }

  Status mount(const std::string& /*source*/, const std::string& target, const std::string& fstype,
               unsigned long /*flags*/, const std::string& options) override {
    calls.push_back("mount " + fstype + " " + target);
    if (auto err = injected(target)) return *err;
    mounted.insert(target);
    data[target] = options;
    return {};
  }

  Status unmount(const std::string& target, bool detach = false) override {
    calls.push_back(std::string(detach ? "unmount-detach " : "unmount ") + target);
    if (auto err = injected(target)) return *err;
    mounted.erase(target);
    return {};
  }

  Result<bool> isMountPoint(const std::string& target) override {
    if (observeError) return *observeError;
    return mounted.count(target) > 0;
  }

 private:
  struct TargetError {
    Error err;
    int times;
  };

  std::optional<Error> injected(const std::string& target) {
    if (auto it = callErrors_.find(calls.size() - 1); it != callErrors_.end()) return it->second;
    auto it = targetErrors_.find(target);
    if (it == targetErrors_.end() || it->second.times == 0) return std::nullopt;
    if (it->second.times > 0) --it->second.times;
    return it->second.err;
  }

  std::map<size_t, Error> callErrors_;
  std::map<std::string, TargetError> targetErrors_;
};

}  // namespace boxd::testing
