// Workload kinds on one host (apps/v1 Deployment, ReplicaSet, DaemonSet, StatefulSet), the way
// `podman kube play` treats them: the pod template becomes `replicas` pods on this host, named
// as Kubernetes names them, each carrying its owner in an annotation. Pure code.
//
//   Deployment   <name>-<template hash>-<5 chars>   label pod-template-hash
//   ReplicaSet   <name>-<5 chars>
//   DaemonSet    <name>-<5 chars>                   one pod (this host is the only node)
//   StatefulSet  <name>-<ordinal>                   labels controller-revision-hash, pod-name
//
// The template hash is a hash of the template's canonical JSON (specs::toJson), so it is stable
// across restarts of boxd and changes exactly when the template does; the 5 characters are
// derived from it and the replica's index, so a new template gives new pod names (and the old
// pods are rolled, agent/rollout.h). A StatefulSet keeps its names; its pods' spec hash changes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "specs/pod.h"

namespace boxd::specs {

enum class WorkloadKind { Deployment, ReplicaSet, DaemonSet, StatefulSet };

std::string_view toString(WorkloadKind k);
// The kind named by a document's `kind`, if it is a workload kind boxd runs.
std::optional<WorkloadKind> workloadKind(std::string_view kind);

struct Workload {
  WorkloadKind kind = WorkloadKind::Deployment;
  std::string name;
  std::string namespaceName = kDefaultNamespace;  // its pods' namespace
  int64_t replicas = 1;                           // always 1 for a DaemonSet
  PodSpec podTemplate;  // name empty; labels and annotations from spec.template.metadata
};

// Annotations boxd puts on every pod of a workload.
inline constexpr const char* kOwnerAnnotation = "boxd.io/owner";      // "Deployment/web"
inline constexpr const char* kReplicaAnnotation = "boxd.io/replica";  // "0", "1", ...

// n characters of [bcdfghjklmnpqrstvwxz2456789] (Kubernetes' alphabet for generated names) from
// the sha256 of seed: the same seed, the same characters.
std::string encodedName(std::string_view seed, size_t n);
// 10 characters of [bcdfghjklmnpqrstvwxz2456789] (Kubernetes' pod-template-hash alphabet).
std::string templateHash(const PodSpec& podTemplate);
// The longest pod name a workload's name gives (the name plus what boxd appends).
size_t longestPodName(WorkloadKind kind, std::string_view name, int64_t replicas);
// The pods of a workload, replica 0 first.
std::vector<PodSpec> expandWorkload(const Workload& w);

// "Deployment/web" for a pod of a workload; "" for a pod declared as a Pod.
std::string ownerOf(const PodSpec& pod);
// The replica index of a pod of a workload (its ordinal for a StatefulSet); -1 if none.
int64_t replicaOf(const PodSpec& pod);

}  // namespace boxd::specs
