#include "specs/scheduling.h"

#include <algorithm>

#include "specs/scheduling_json.h"

namespace boxd::specs {

using nlohmann::json;

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : matchLabels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const Requirement& r : matchExpressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    if ((r.op == "In" && !in) || (r.op == "NotIn" && in) || (r.op == "Exists" && !has) ||
        (r.op == "DoesNotExist" && has))
      return false;
  }
  return true;
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LabelSelector::Requirement, key, op, values)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(LabelSelector, matchLabels, matchExpressions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NodeSelectorRequirement, key, op, values)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NodeSelectorTerm, matchExpressions, matchFields)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PreferredSchedulingTerm, weight, preference)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(NodeAffinity, required, preferred)

namespace {

// A nil selector is an absent key; {} is an empty object.
void putSelector(json& j, const char* key, const std::optional<LabelSelector>& s) {
  if (s) j[key] = *s;
}
std::optional<LabelSelector> getSelector(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<LabelSelector>();
}

}  // namespace

void to_json(json& j, const PodAffinityTerm& t) {
  j = json{{"namespaces", t.namespaces}, {"topologyKey", t.topologyKey}};
  putSelector(j, "labelSelector", t.labelSelector);
  putSelector(j, "namespaceSelector", t.namespaceSelector);
  if (!t.matchLabelKeys.empty()) j["matchLabelKeys"] = t.matchLabelKeys;
  if (!t.mismatchLabelKeys.empty()) j["mismatchLabelKeys"] = t.mismatchLabelKeys;
}
void from_json(const json& j, PodAffinityTerm& t) {
  t.labelSelector = getSelector(j, "labelSelector");
  t.namespaceSelector = getSelector(j, "namespaceSelector");
  t.namespaces = j.value("namespaces", std::vector<std::string>{});
  t.topologyKey = j.value("topologyKey", "");
  t.matchLabelKeys = j.value("matchLabelKeys", std::vector<std::string>{});
  t.mismatchLabelKeys = j.value("mismatchLabelKeys", std::vector<std::string>{});
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WeightedPodAffinityTerm, weight, podAffinityTerm)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PodAffinityRules, required, preferred)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Affinity, nodeAffinity, podAffinity,
                                                podAntiAffinity)

void to_json(json& j, const TopologySpreadConstraint& c) {
  j = json{{"maxSkew", c.maxSkew},
           {"topologyKey", c.topologyKey},
           {"whenUnsatisfiable", c.whenUnsatisfiable},
           {"nodeAffinityPolicy", c.nodeAffinityPolicy},
           {"nodeTaintsPolicy", c.nodeTaintsPolicy},
           {"matchLabelKeys", c.matchLabelKeys}};
  putSelector(j, "labelSelector", c.labelSelector);
  if (c.minDomains) j["minDomains"] = *c.minDomains;
}
void from_json(const json& j, TopologySpreadConstraint& c) {
  c.maxSkew = j.value("maxSkew", int64_t{1});
  c.topologyKey = j.value("topologyKey", "");
  c.whenUnsatisfiable = j.value("whenUnsatisfiable", "");
  c.nodeAffinityPolicy = j.value("nodeAffinityPolicy", "");
  c.nodeTaintsPolicy = j.value("nodeTaintsPolicy", "");
  c.matchLabelKeys = j.value("matchLabelKeys", std::vector<std::string>{});
  c.labelSelector = getSelector(j, "labelSelector");
  if (auto it = j.find("minDomains"); it != j.end() && !it->is_null())
    c.minDomains = it->get<int64_t>();
}

namespace detail {

void addSchedulingJson(json& j, const PodSpec& pod) {
  if (!pod.affinity.empty()) j["affinity"] = pod.affinity;
  if (!pod.topologySpreadConstraints.empty())
    j["topologySpreadConstraints"] = pod.topologySpreadConstraints;
  if (!pod.serviceAccountName.empty()) j["serviceAccountName"] = pod.serviceAccountName;
  if (pod.automountServiceAccountToken) j["automountServiceAccountToken"] = true;
}

Status readSchedulingJson(const json& j, PodSpec& pod) {
  try {
    if (auto it = j.find("affinity"); it != j.end() && !it->is_null())
      pod.affinity = it->get<Affinity>();
    pod.topologySpreadConstraints =
        j.value("topologySpreadConstraints", std::vector<TopologySpreadConstraint>{});
    pod.serviceAccountName = j.value("serviceAccountName", "");
    pod.automountServiceAccountToken = j.value("automountServiceAccountToken", false);
  } catch (const json::exception& ex) {
    return makeError(std::string("decode pod spec: scheduling fields: ") + ex.what());
  }
  return okStatus();
}

}  // namespace detail
}  // namespace boxd::specs
