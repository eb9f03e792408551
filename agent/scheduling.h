// boxd as the scheduler of its one node (docs/scheduling.md). Before a pod is run, the filters
// Kubernetes' scheduler applies are evaluated against this node and the pods already on it, in
// the scheduler's order: node affinity (nodeSelector and
// affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution), topology spread
// (topologySpreadConstraints with DoNotSchedule), inter-pod affinity (existing pods'
// anti-affinity, the pod's anti-affinity, the pod's affinity). A pod that does not fit stays
// Pending (Unschedulable) with the scheduler's message. Preferred terms and ScheduleAnyway
// constraints only rank nodes: with one node they change nothing. Pure functions.
#pragma once

#include <string>
#include <vector>

#include "agent/node_labels.h"
#include "specs/pod.h"

namespace boxd::agent {

// The node: its name (the host name, lowercased, as the kubelet registers it) and labels.
struct Node {
  std::string name;
  Labels labels;
};
// This host, with the config's nodeLabels.
Node thisNode(const Labels& configured);

// A pod counts as on the node (for pod affinity, anti-affinity and spreading) unless it is
// Unschedulable itself or has terminated (Succeeded, Failed), as in the scheduler's cache.
bool occupiesNode(const std::string& phase, const std::string& reason);

// Each returns "" when the pod passes the filter, else the scheduler's message
// ("0/1 nodes are available: 1 node(s) didn't match ...") with what did not match in parentheses.
std::string nodeAffinityMismatch(const specs::PodSpec& pod, const Node& node);
std::string topologySpreadMismatch(const specs::PodSpec& pod, const Node& node,
                                   const std::vector<const specs::PodSpec*>& placed);
std::string interPodAffinityMismatch(const specs::PodSpec& pod, const Node& node,
                                     const std::vector<const specs::PodSpec*>& placed);
// Every filter, in order (nodeSelector first): the first failure's message, or "".
std::string scheduleMismatch(const specs::PodSpec& pod, const Node& node,
                             const std::vector<const specs::PodSpec*>& placed);

// Whether a pod affinity term of `owner` selects `other` (namespaces, namespaceSelector,
// labelSelector with matchLabelKeys / mismatchLabelKeys from the owner's labels).
bool affinityTermSelects(const specs::PodAffinityTerm& term, const specs::PodSpec& owner,
                         const specs::PodSpec& other);

}  // namespace boxd::agent
