// Scheduling fields of a pod: affinity (node, pod, pod anti-), topologySpreadConstraints, and the
// service account fields. boxd is a one-node scheduler: agent/scheduling.h evaluates these
// against its one node and the pods already on it (docs/scheduling.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace boxd::specs {

// A Kubernetes label selector (matchLabels AND matchExpressions). An empty selector matches
// every label set; where Kubernetes allows a nil selector (matching nothing), the field is an
// std::optional.
struct LabelSelector {
  struct Requirement {
    std::string key, op;  // op: In, NotIn, Exists, DoesNotExist
    std::vector<std::string> values;
    bool operator==(const Requirement&) const = default;
  };
  std::map<std::string, std::string> matchLabels;
  std::vector<Requirement> matchExpressions;
  bool empty() const { return matchLabels.empty() && matchExpressions.empty(); }
  bool matches(const std::map<std::string, std::string>& labels) const;
  bool operator==(const LabelSelector&) const = default;
};

// A node selector requirement: matchExpressions on the node's labels (operators In, NotIn,
// Exists, DoesNotExist, Gt, Lt) or matchFields on metadata.name (In, NotIn, one value).
struct NodeSelectorRequirement {
  std::string key, op;
  std::vector<std::string> values;
  bool operator==(const NodeSelectorRequirement&) const = default;
};
// Its requirements are ANDed; a term with none matches no node.
struct NodeSelectorTerm {
  std::vector<NodeSelectorRequirement> matchExpressions;
  std::vector<NodeSelectorRequirement> matchFields;
  bool operator==(const NodeSelectorTerm&) const = default;
};
struct PreferredSchedulingTerm {
  int64_t weight = 1;  // 1..100
  NodeSelectorTerm preference;
  bool operator==(const PreferredSchedulingTerm&) const = default;
};
struct NodeAffinity {
  // requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms, ORed; empty = not set
  // (Kubernetes requires at least one term when the field is set).
  std::vector<NodeSelectorTerm> required;
  std::vector<PreferredSchedulingTerm> preferred;  // accepted; no effect on one node
  bool operator==(const NodeAffinity&) const = default;
};

struct PodAffinityTerm {
  std::optional<LabelSelector> labelSelector;  // nil: matches no pod
  std::vector<std::string> namespaces;
  // nil and no namespaces: the pod's own namespace; {}: every namespace. A namespace's labels
  // are kubernetes.io/metadata.name=<name>, as in Kubernetes (boxd has no Namespace objects).
  std::optional<LabelSelector> namespaceSelector;
  std::string topologyKey;
  std::vector<std::string> matchLabelKeys;     // key In (this pod's value), when it has the key
  std::vector<std::string> mismatchLabelKeys;  // key NotIn (this pod's value)
  bool operator==(const PodAffinityTerm&) const = default;
};
struct WeightedPodAffinityTerm {
  int64_t weight = 1;  // 1..100
  PodAffinityTerm podAffinityTerm;
  bool operator==(const WeightedPodAffinityTerm&) const = default;
};
struct PodAffinityRules {
  std::vector<PodAffinityTerm> required;           // requiredDuringScheduling...
  std::vector<WeightedPodAffinityTerm> preferred;  // accepted; no effect on one node
  bool empty() const { return required.empty() && preferred.empty(); }
  bool operator==(const PodAffinityRules&) const = default;
};

struct Affinity {
  NodeAffinity nodeAffinity;
  PodAffinityRules podAffinity;
  PodAffinityRules podAntiAffinity;
  bool empty() const {
    return nodeAffinity.required.empty() && nodeAffinity.preferred.empty() && podAffinity.empty() &&
           podAntiAffinity.empty();
  }
  bool operator==(const Affinity&) const = default;
};

struct TopologySpreadConstraint {
  int64_t maxSkew = 1;
  std::string topologyKey;
  std::string whenUnsatisfiable;  // DoNotSchedule, ScheduleAnyway
  std::optional<LabelSelector> labelSelector;
  std::optional<int64_t> minDomains;  // DoNotSchedule only
  std::string nodeAffinityPolicy;     // "", Honor, Ignore
  std::string nodeTaintsPolicy;       // "", Honor, Ignore
  std::vector<std::string> matchLabelKeys;
  bool operator==(const TopologySpreadConstraint&) const = default;
};

}  // namespace boxd::specs
