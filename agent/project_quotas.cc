#include "agent/project_quotas.h"

#include <algorithm>

#include "reconcilers/quota/quota_step.h"

namespace boxd::agent {

namespace {

constexpr const char* kContainerOwner = "container ";
constexpr const char* kEmptyDirOwner = "emptyDir ";

bool isRootfsOf(const PlannedStep& s, const std::string& container) {
  return s.kind == "rootfs" && s.params.value("container", "") == container;
}

bool isEmptyDirAt(const PlannedStep& s, const std::string& path) {
  return s.kind == "emptydir" && s.params.value("path", "") == path;
}

PlannedStep quotaStep(const std::string& podDir, uint32_t id, int64_t limit,
                      const std::string& owner, std::vector<reconcilers::QuotaDir> dirs) {
  reconcilers::ProjectQuotaParams p{podDir, id, limit, owner, std::move(dirs)};
  return {"projquota", reconcilers::projectQuotaParamsToJson(p)};
}

}  // namespace

uint32_t projectIdOfRow(const std::string& kind, const nlohmann::json& params) {
  if (kind != "projquota" || !params.is_object() || !params.contains("projectId") ||
      !params["projectId"].is_number_integer())
    return 0;
  const int64_t id = params["projectId"].get<int64_t>();
  return id > 0 && id <= int64_t{UINT32_MAX} ? static_cast<uint32_t>(id) : 0;
}

Result<std::vector<uint32_t>> ProjectIdAllocator::reserve(const std::string& uid, size_t n,
                                                          const std::set<uint32_t>& journaled) {
  std::set<uint32_t> used = journaled;
  for (const auto& [owner, ids] : held_) used.insert(ids.begin(), ids.end());
  std::vector<uint32_t> got;
  for (uint64_t id = range_.min; id <= range_.max && got.size() < n; ++id) {
    if (used.count(static_cast<uint32_t>(id)) == 0) got.push_back(static_cast<uint32_t>(id));
  }
  if (got.size() < n)
    return makeError("no free project quota ID left in " + std::to_string(range_.min) + "-" +
                         std::to_string(range_.max) + " (" + std::to_string(used.size()) +
                         " in use; see the config's projectQuotaIds)",
                     ENOSPC);
  auto& mine = held_[uid];
  mine.insert(mine.end(), got.begin(), got.end());
  return got;
}

size_t ProjectIdAllocator::heldCount() const {
  size_t n = 0;
  for (const auto& [owner, ids] : held_) n += ids.size();
  return n;
}

size_t countQuotaSteps(const specs::PodSpec& pod, int64_t defaultLimit) {
  size_t n = 0;
  for (const auto* c : allContainers(pod)) n += ephemeralLimitOf(*c, defaultLimit) ? 1 : 0;
  for (const auto& v : pod.volumes) n += isDiskEmptyDir(v) && v.emptyDir->sizeLimitBytes ? 1 : 0;
  return n;
}

void insertQuotaSteps(std::vector<PlannedStep>& plan, const reconcilers::Paths& paths,
                      const specs::PodSpec& pod, const std::string& uid, int64_t defaultLimit,
                      const std::vector<uint32_t>& ids) {
  const PodPaths pp = podPaths(paths, pod.key(), uid);
  size_t next = 0;
  for (const auto* c : allContainers(pod)) {
    auto limit = ephemeralLimitOf(*c, defaultLimit);
    if (!limit || next >= ids.size()) continue;
    const std::string base = "containers/" + c->name;
    PlannedStep s = quotaStep(pp.dir, ids[next++], *limit, kContainerOwner + c->name,
                              {{base + "/upper", 0755}, {base + "/work", 0700}});
    auto at = std::find_if(plan.begin(), plan.end(),
                           [&](const PlannedStep& p) { return isRootfsOf(p, c->name); });
    plan.insert(at, std::move(s));
  }
  for (const auto& v : pod.volumes) {
    if (!isDiskEmptyDir(v) || !v.emptyDir->sizeLimitBytes || next >= ids.size()) continue;
    const std::string path = volumeHostPath(pp, v);
    PlannedStep s = quotaStep(pp.dir, ids[next++], *v.emptyDir->sizeLimitBytes,
                              kEmptyDirOwner + v.name, {{"volumes/" + v.name, 0777}});
    auto at = std::find_if(plan.begin(), plan.end(),
                           [&](const PlannedStep& p) { return isEmptyDirAt(p, path); });
    plan.insert(at == plan.end() ? at : at + 1, std::move(s));
  }
}

void applyProjectIds(StorageTargets& targets, const std::vector<state::JournalRow>& rows) {
  for (const auto& r : rows) {
    uint32_t id = projectIdOfRow(r.kind, r.params);
    if (id == 0 || r.state != state::StepState::Done) continue;
    const std::string owner = r.params.value("owner", "");
    if (owner.rfind(kContainerOwner, 0) == 0)
      targets.containerProjects[owner.substr(std::string(kContainerOwner).size())] = id;
    else if (owner.rfind(kEmptyDirOwner, 0) == 0)
      targets.emptyDirProjects[owner.substr(std::string(kEmptyDirOwner).size())] = id;
  }
}

std::string ephemeralStorageMode(const std::vector<state::JournalRow>& rows) {
  std::vector<std::string> ids;
  for (const auto& r : rows) {
    if (uint32_t id = projectIdOfRow(r.kind, r.params); id != 0) ids.push_back(std::to_string(id));
  }
  if (ids.empty()) return "measured every resync";
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
  return "enforced by project quota (project " + list + "; logs measured every resync)";
}

ProjectQuotas::ProjectQuotas(std::unique_ptr<reconcilers::ProjectQuotaSys> sys,
                             reconcilers::QuotaSupport support, ProjectIdRange range)
    : sys_(std::move(sys)), support_(std::move(support)), range_(range), ids_(range) {}

std::unique_ptr<ProjectQuotas> ProjectQuotas::start(const reconcilers::Paths& paths, bool enable,
                                                    ProjectIdRange range) {
  const std::string dir = paths.podsDir();
  auto sys = reconcilers::RealProjectQuotaSys::open(dir, "");
  std::unique_ptr<reconcilers::ProjectQuotaSys> real;
  reconcilers::QuotaSupport support;
  if (!sys.ok()) {
    support = {false, sys.error().message};
  } else {
    real = std::move(*sys);
    support = reconcilers::detectProjectQuotaAt(dir, real.get());
    if (support.enabled && !enable) support = {false, "projectQuota: false in the config"};
  }
  return std::make_unique<ProjectQuotas>(std::move(real), std::move(support), range);
}

std::string ProjectQuotas::startLine() const {
  if (support_.enabled)
    return "ephemeral-storage: enforced by project quota (" + support_.detail + "), project IDs " +
           std::to_string(range_.min) + "-" + std::to_string(range_.max);
  return "ephemeral-storage: measured every resync, no project quotas: " + support_.detail;
}

Status ProjectQuotas::plan(std::vector<PlannedStep>& plan, const reconcilers::Paths& paths,
                           const specs::PodSpec& pod, const std::string& uid, int64_t defaultLimit,
                           const Result<std::vector<state::JournalRow>>& journal) {
  if (!support_.enabled || sys_ == nullptr) return {};
  const size_t n = countQuotaSteps(pod, defaultLimit);
  if (n == 0) return {};
  if (!journal.ok()) return journal.error().wrap("read the project IDs in use");
  std::set<uint32_t> used;
  for (const auto& r : *journal) {
    if (uint32_t id = projectIdOfRow(r.kind, r.params); id != 0) used.insert(id);
  }
  auto ids = ids_.reserve(uid, n, used);
  if (!ids.ok()) return ids.error().wrap("ephemeral-storage project quota");
  insertQuotaSteps(plan, paths, pod, uid, defaultLimit, *ids);
  return {};
}

}  // namespace boxd::agent
