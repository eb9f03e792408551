// boxctl's human output, from boxd's JSON answers. Pure, so it is unit-tested.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::agent {

std::string formatAge(int64_t ms);       // 5s, 3m, 2h, 4d
std::string formatBytes(int64_t bytes);  // 1.9MiB
// The STATUS column: the reason when it says more than the phase (ImageNotFound, CrashLoopBackOff).
std::string statusColumn(const nlohmann::json& pod);
// allNamespaces (status -A): a NAMESPACE column first, as kubectl's.
std::string formatStatus(const nlohmann::json& status, bool allNamespaces = false);
std::string formatDescribe(const nlohmann::json& pod);  // a pod, or a Job ("kind": "Job")
// The JOBS table of `boxctl status`, as kubectl get jobs: NAME STATUS COMPLETIONS DURATION AGE.
std::string formatJobs(const nlohmann::json& jobs, int64_t nowMs);
std::string formatJobDescribe(const nlohmann::json& job);
// The CRONJOBS table of `boxctl status` and `describe cronjob/NAME` (boxctl_cronjob_format.cc).
std::string formatCronJobs(const nlohmann::json& cronJobs, int64_t nowMs);
std::string formatCronJobDescribe(const nlohmann::json& cronJob);
std::string formatTable(const std::vector<std::vector<std::string>>& rows);  // columns, 3 apart
std::string formatClock(int64_t ms);  // "2026-03-08 03:00:00", local time
std::string formatEvents(const nlohmann::json& events);
std::string formatImages(const nlohmann::json& images);
// "sha256:0123…" or "0123…" → the first 12 hex digits.
std::string shortImageId(const nlohmann::json& id);
std::string formatVolumes(const nlohmann::json& volumes);

}  // namespace boxd::agent
