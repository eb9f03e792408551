#include "agent/rollout.h"

#include <algorithm>
#include <vector>

#include "common/util.h"
#include "specs/workload.h"

namespace boxd::agent {
namespace {

// The workload a pod belongs to, with its namespace ("" for a pod declared as a Pod): two
// Deployments of one name in two namespaces are paced apart.
std::string ownerGroup(const specs::PodSpec& pod) {
  std::string owner = specs::ownerOf(pod);
  return owner.empty() ? owner : pod.namespaceName + "/" + owner;
}

using Pods = std::vector<const DesiredPod*>;

bool byReplica(const DesiredPod* a, const DesiredPod* b) {
  int64_t ra = specs::replicaOf(a->spec), rb = specs::replicaOf(b->spec);
  return ra != rb ? ra < rb : a->spec.key() < b->spec.key();
}

// Two pods of this template cannot run side by side: a hostPort (or a port of the host's
// network) or a read-write block volume.
bool claimsHostResources(const specs::PodSpec& pod) {
  for (const auto& c : pod.containers) {
    for (const auto& port : c.ports) {
      if (port.hostPort != 0 || pod.hostNetwork) return true;
    }
  }
  for (const auto& v : pod.volumes) {
    if ((v.iscsi && !v.iscsi->readOnly) || (v.rbd && !v.rbd->readOnly)) return true;
  }
  return false;
}

// Deployment, ReplicaSet, DaemonSet: pods of an older template have other names.
void paceReplicas(const std::string& owner, const Pods& wanted,
                  const std::map<std::string, CurrentPod>& current,
                  std::map<std::string, DesiredPod>& out) {
  Pods old;
  for (const auto& [name, c] : current) {
    if (ownerGroup(c.recorded.spec) != owner) continue;
    bool isWanted = std::any_of(wanted.begin(), wanted.end(),
                                [&](const DesiredPod* p) { return p->spec.key() == name; });
    if (!isWanted) old.push_back(&c.recorded);
  }
  if (old.empty()) {  // nothing to roll: create and scale at once
    for (const DesiredPod* p : wanted) out.emplace(p->spec.key(), *p);
    return;
  }
  int64_t n = static_cast<int64_t>(wanted.size());
  int64_t readyNew = 0, existingNew = 0;
  bool inProgress = false;  // a new pod exists that is not ready yet
  for (const DesiredPod* p : wanted) {
    auto c = current.find(p->spec.key());
    if (c == current.end()) continue;
    out.emplace(p->spec.key(), *p);
    existingNew++;
    if (c->second.ready && c->second.recorded.hash == p->hash)
      readyNew++;
    else
      inProgress = true;
  }
  bool exclusive = startsWith(specs::ownerOf(wanted.front()->spec), "DaemonSet/") ||
                   claimsHostResources(wanted.front()->spec);
  // Surge: an old pod goes for each new one ready. Exclusive: an old pod goes first, and its
  // replacement comes once it is gone.
  int64_t keep = exclusive ? n - existingNew - (inProgress ? 0 : 1) : n - readyNew;
  keep = std::max<int64_t>(0, keep);
  int64_t oldCount = static_cast<int64_t>(old.size());
  bool room = exclusive ? oldCount + existingNew < n : oldCount <= keep;
  for (const DesiredPod* p : wanted) {
    if (inProgress || !room) break;
    if (out.count(p->spec.key())) continue;
    out.emplace(p->spec.key(), *p);  // the next new pod
    inProgress = true;
  }
  std::sort(old.begin(), old.end(), byReplica);  // the lowest replicas stay longest
  for (int64_t i = 0; i < keep && i < oldCount; ++i)
    out.emplace(old[static_cast<size_t>(i)]->spec.key(), *old[static_cast<size_t>(i)]);
}

// StatefulSet: the same names; an older template shows as another spec hash.
void paceStatefulSet(const Pods& wanted, const std::map<std::string, CurrentPod>& current,
                     std::map<std::string, DesiredPod>& out) {
  bool blocked = false;  // a pod of the new template is not ready (or not created) yet
  const DesiredPod* lastStale = nullptr;
  for (const DesiredPod* p : wanted) {
    auto c = current.find(p->spec.key());
    if (c == current.end()) {
      if (!blocked) out.emplace(p->spec.key(), *p);
      blocked = true;
      continue;
    }
    if (c->second.recorded.hash == p->hash) {
      out.emplace(p->spec.key(), *p);
      blocked = blocked || !c->second.ready;
      continue;
    }
    if (!c->second.ready) {  // an old pod that serves nothing (or is being replaced): replace it
      out.emplace(p->spec.key(), *p);
      blocked = true;
      continue;
    }
    out.emplace(p->spec.key(), c->second.recorded);  // old template, kept for now
    lastStale = p;
  }
  if (!blocked && lastStale != nullptr) out[lastStale->spec.key()] = *lastStale;
}

}  // namespace

std::map<std::string, DesiredPod> pacedPods(const std::map<std::string, DesiredPod>& fromSpecs,
                                            const std::map<std::string, CurrentPod>& current) {
  std::map<std::string, DesiredPod> out;
  std::map<std::string, Pods> byOwner;
  for (const auto& [name, p] : fromSpecs) {
    std::string owner = ownerGroup(p.spec);
    if (owner.empty())
      out.emplace(name, p);
    else
      byOwner[owner].push_back(&p);
  }
  for (auto& [owner, pods] : byOwner) {
    std::sort(pods.begin(), pods.end(), byReplica);
    if (startsWith(specs::ownerOf(pods.front()->spec), "StatefulSet/"))
      paceStatefulSet(pods, current, out);
    else
      paceReplicas(owner, pods, current, out);
  }
  return out;
}

}  // namespace boxd::agent
