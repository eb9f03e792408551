#include "reconcilers/cgroup/cgroup_step.h"

#include "reconcilers/host/host.h"

namespace boxd::reconcilers {

namespace {

using Field = std::optional<int64_t> CgroupLimits::*;
struct NamedField {
  const char* name;
  Field field;
};
constexpr NamedField kFields[] = {
    {"memoryBytes", &CgroupLimits::memoryBytes},
    {"cpuLimitMilli", &CgroupLimits::cpuLimitMilli},
    {"cpuRequestMilli", &CgroupLimits::cpuRequestMilli},
    {"pidsMax", &CgroupLimits::pidsMax},
};

}  // namespace

nlohmann::json cgroupLimitsToJson(const CgroupLimits& limits) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : kFields)
    if (limits.*f.field) j[f.name] = *(limits.*f.field);
  return j;
}

Result<CgroupLimits> cgroupLimitsFromJson(const nlohmann::json& j) {
  if (j.is_null()) return CgroupLimits{};
  if (!j.is_object())
    return makeError("cgroup limits: expected an object, got " + j.dump(), EINVAL);
  CgroupLimits out;
  for (const auto& f : kFields) {
    auto it = j.find(f.name);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_number_integer())
      return makeError(std::string("cgroup limits: ") + f.name + " is not an integer", EINVAL);
    out.*f.field = it->get<int64_t>();
  }
  return out;
}

CgroupStep::CgroupStep(Cgroups& cgroups, std::string rel, CgroupLimits limits)
    : cgroups_(cgroups), rel_(std::move(rel)), limits_(limits) {}

Result<std::unique_ptr<CgroupStep>> CgroupStep::fromParams(const nlohmann::json& params,
                                                           Host& host) {
  if (!params.is_object() || !params.contains("rel") || !params["rel"].is_string())
    return makeError("cgroup step: params need a string \"rel\": " + params.dump(), EINVAL);
  auto limits = cgroupLimitsFromJson(params.value("limits", nlohmann::json()));
  if (!limits.ok()) return limits.error().wrap("cgroup step");
  return std::make_unique<CgroupStep>(host.cgroups, params["rel"].get<std::string>(), *limits);
}

std::string CgroupStep::resource() const {
  std::string out;
  for (const auto& d : cgroups_.dirs(rel_)) out += (out.empty() ? "" : ",") + d;
  return out.empty() ? rel_ : out;
}

nlohmann::json CgroupStep::params() const {
  return {{"rel", rel_}, {"limits", cgroupLimitsToJson(limits_)}};
}

Result<bool> CgroupStep::observe() { return cgroups_.exists(rel_); }

Status CgroupStep::apply() {
  Status st = cgroups_.create(rel_, limits_);
  if (!st.ok()) return st.error().wrap("create cgroup " + rel_);
  return {};
}

Status CgroupStep::undo() {
  Status st = cgroups_.killAll(rel_, kKillTimeoutMs);
  if (st.ok()) st = cgroups_.remove(rel_);
  if (!st.ok()) return st.error().wrap("remove cgroup " + rel_);
  return {};
}

}  // namespace boxd::reconcilers
