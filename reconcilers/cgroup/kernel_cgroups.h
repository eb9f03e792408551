// The Cgroups implementations for the two kernel layouts, and detection of which one a host uses.
//
// v1: one directory per controller (root/memory/<rel>, root/cpu/<rel>, root/pids/<rel>);
//     memory.limit_in_bytes, cpu.cfs_period_us=100000 + cpu.cfs_quota_us=milli*100,
//     cpu.shares=max(2, milli*1024/1000), pids.max.
// v2: one tree (root/<rel>); the wanted controllers (memory cpu pids) are enabled in every
//     ancestor's cgroup.subtree_control; memory.max, cpu.max "quota 100000",
//     cpu.weight=1+((shares-2)*9999)/262142, pids.max; killAll writes cgroup.kill when present.
// A wanted controller the host lacks is skipped and reported by missingControllers().
// fs = nullptr means the kernel's cgroupfs; tests pass an emulating CgroupFs over a temp dir.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "reconcilers/cgroup/cgroup_fs.h"
#include "reconcilers/cgroup/cgroups.h"

namespace boxd::reconcilers {

std::unique_ptr<Cgroups> makeCgroupsV1(std::string root = "/sys/fs/cgroup",
                                       std::vector<std::string> controllers = {"memory", "cpu",
                                                                               "pids"},
                                       std::shared_ptr<CgroupFs> fs = nullptr);

std::unique_ptr<Cgroups> makeCgroupsV2(std::string root = "/sys/fs/cgroup",
                                       std::shared_ptr<CgroupFs> fs = nullptr);

// v2 when root/cgroup.controllers exists (a pure unified mount), else v1 (including hybrid hosts,
// whose cgroup2 at root/unified has no controllers). Fails when root has neither.
Result<std::unique_ptr<Cgroups>> detectCgroups(std::string root = "/sys/fs/cgroup",
                                               std::shared_ptr<CgroupFs> fs = nullptr);

// Limit conversions, exposed for tests and describe.
int64_t cpuSharesFromMilli(int64_t milli);    // max(2, milli*1024/1000)
int64_t cpuWeightFromShares(int64_t shares);  // 1 + ((shares-2)*9999)/262142, within [1, 10000]
int64_t cpuQuotaFromMilli(int64_t milli);     // milli*100 (µs per 100 ms period), at least 1000

}  // namespace boxd::reconcilers
