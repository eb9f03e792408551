// Helpers shared by the v1 and v2 Cgroups: path checks, subtree walks, the bounded kill loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "reconcilers/cgroup/cgroup_fs.h"

namespace boxd::reconcilers::cgroup_tree {

// rel must be relative, non-empty, without "", "." or ".." components: a cgroup call must never
// reach the controller root (killAll("") would kill the host).
Status checkRel(const std::string& rel);

// mkdir root/rel one level at a time; `beforeChild(dir)` runs on each existing parent first.
Status makeTree(CgroupFs& fs, const std::string& root, const std::string& rel,
                const std::function<Status(const std::string& dir)>& beforeChild = nullptr);

// rmdir the subtree deepest first; absent = success. A directory whose processes have all
// exited may stay busy for a moment: EBUSY is retried for up to a second while no live process
// is listed in it.
Status removeTree(CgroupFs& fs, const std::string& dir);

// Every pid listed in cgroup.procs of dir and its descendants (sorted, unique); absent = none.
Result<std::vector<pid_t>> treePids(CgroupFs& fs, const std::string& dir);

// SIGKILLs every live process `listPids` returns until none is left or timeoutMs passes.
// Refuses (without killing anything) when the calling process itself is listed.
Status killUntilEmpty(const std::function<Result<std::vector<pid_t>>()>& listPids, int timeoutMs,
                      const std::string& what);

// The "max" count of a pids.events file (forks refused at the limit); an absent file (a kernel
// without it) is nullopt, not an error.
Result<std::optional<int64_t>> readPidsEvents(CgroupFs& fs, const std::string& path);
// The "max" counts of dir's pids.events and its descendants', summed: on v1 a cgroup counts the
// forks refused to its own processes, whichever ancestor's limit refused them.
Result<std::optional<int64_t>> sumPidsEvents(CgroupFs& fs, const std::string& dir);

// A cgroup file holding one integer; nullopt when absent or not a number.
std::optional<int64_t> readInt(CgroupFs& fs, const std::string& path);
// usage - the inactiveKey value of the memory.stat at statPath, clamped at 0 (cAdvisor's working
// set); nullopt when either file is missing.
std::optional<int64_t> workingSet(CgroupFs& fs, const std::string& usagePath,
                                  const std::string& statPath, const std::string& inactiveKey);

std::string join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace boxd::reconcilers::cgroup_tree
