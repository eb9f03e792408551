// The node's labels and spec.nodeSelector (docs/config.md). boxd is its own one-node scheduler:
// a pod whose nodeSelector this host's labels do not match is not run; it stays Pending with the
// scheduler's reason (Unschedulable) and message, and a FailedScheduling event. Labels come from
// the config's nodeLabels, over the well-known kubernetes.io/hostname, kubernetes.io/os and
// kubernetes.io/arch that every Kubernetes node carries. As in Kubernetes, the selector is
// checked before a pod is run, never against a pod that runs (IgnoredDuringExecution).
#pragma once

#include <map>
#include <string>

#include "common/result.h"
#include "specs/pod.h"

namespace YAML {
class Node;
}

namespace boxd::agent {

using Labels = std::map<std::string, std::string>;

inline constexpr const char* kUnschedulable = "Unschedulable";

// The config's nodeLabels mapping into out: keys and values checked as Kubernetes label keys
// and values.
Status parseNodeLabels(const YAML::Node& v, Labels& out);

// The well-known labels of this host (hostname lowercased, os "linux", arch as Go names it:
// amd64, arm64, ...), overridden by the configured ones.
Labels nodeLabels(const Labels& configured);
// The same for given facts (unit tests).
Labels nodeLabelsFor(const Labels& configured, const std::string& hostname,
                     const std::string& machine);

// Empty when every nodeSelector entry is among the labels; else the scheduler's message, with
// the first unmatched entry.
std::string nodeSelectorMismatch(const specs::PodSpec& pod, const Labels& labels);

}  // namespace boxd::agent
