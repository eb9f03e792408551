#include "specs/workload.h"

#include "common/hash.h"

namespace boxd::specs {
namespace {

// Kubernetes' alphabet for generated names: no vowels (no words), no 0/1/3 (no look-alikes).
constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";

}  // namespace

std::string encodedName(std::string_view text, size_t n) {
  std::string hex = sha256Hex(text);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    unsigned byte = static_cast<unsigned>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
    out += kAlphabet[byte % kAlphabet.size()];
  }
  return out;
}

namespace {

std::string podName(const Workload& w, const std::string& hash, int64_t i) {
  std::string suffix = encodedName(hash + "/" + std::to_string(i), 5);
  switch (w.kind) {
    case WorkloadKind::Deployment:
      return w.name + "-" + hash + "-" + suffix;
    case WorkloadKind::StatefulSet:
      return w.name + "-" + std::to_string(i);
    default:
      return w.name + "-" + suffix;
  }
}

}  // namespace

std::string_view toString(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::Deployment:
      return "Deployment";
    case WorkloadKind::ReplicaSet:
      return "ReplicaSet";
    case WorkloadKind::DaemonSet:
      return "DaemonSet";
    case WorkloadKind::StatefulSet:
      return "StatefulSet";
  }
  return "";
}

std::optional<WorkloadKind> workloadKind(std::string_view kind) {
  for (WorkloadKind k : {WorkloadKind::Deployment, WorkloadKind::ReplicaSet,
                         WorkloadKind::DaemonSet, WorkloadKind::StatefulSet}) {
    if (kind == toString(k)) return k;
  }
  return std::nullopt;
}

std::string templateHash(const PodSpec& podTemplate) {
  return encodedName(toJson(podTemplate).dump(), 10);
}

size_t longestPodName(WorkloadKind kind, std::string_view name, int64_t replicas) {
  switch (kind) {
    case WorkloadKind::Deployment:
      return name.size() + 1 + 10 + 1 + 5;
    case WorkloadKind::StatefulSet:
      return name.size() + 1 + std::to_string(replicas > 0 ? replicas - 1 : 0).size();
    default:
      return name.size() + 1 + 5;
  }
}

std::vector<PodSpec> expandWorkload(const Workload& w) {
  std::string hash = templateHash(w.podTemplate);
  int64_t replicas = w.kind == WorkloadKind::DaemonSet ? 1 : w.replicas;
  std::vector<PodSpec> out;
  for (int64_t i = 0; i < replicas; ++i) {
    PodSpec pod = w.podTemplate;
    pod.name = podName(w, hash, i);
    pod.namespaceName = w.namespaceName;
    pod.annotations[kOwnerAnnotation] = std::string(toString(w.kind)) + "/" + w.name;
    pod.annotations[kReplicaAnnotation] = std::to_string(i);
    switch (w.kind) {
      case WorkloadKind::Deployment:
        pod.labels["pod-template-hash"] = hash;
        break;
      case WorkloadKind::StatefulSet:
        pod.labels["controller-revision-hash"] = w.name + "-" + hash;
        pod.labels["statefulset.kubernetes.io/pod-name"] = pod.name;
        pod.labels["apps.kubernetes.io/pod-index"] = std::to_string(i);
        break;
      case WorkloadKind::DaemonSet:
        pod.labels["controller-revision-hash"] = hash;
        break;
      case WorkloadKind::ReplicaSet:
        break;
    }
    out.push_back(std::move(pod));
  }
  return out;
}

std::string ownerOf(const PodSpec& pod) {
  auto it = pod.annotations.find(kOwnerAnnotation);
  return it == pod.annotations.end() ? "" : it->second;
}

int64_t replicaOf(const PodSpec& pod) {
  auto it = pod.annotations.find(kReplicaAnnotation);
  if (it == pod.annotations.end() || it->second.empty() || it->second.size() > 9 ||
      it->second.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(it->second);
}

}  // namespace boxd::specs
