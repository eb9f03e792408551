// Rolling a workload's pods one at a time (docs/workloads.md). Pure logic, no syscalls.
//
// The specs give the pods of a workload's current template (specs/workload.h). When pods of an
// older template still run, the pods the reconciler is given are paced:
//
//   Deployment, ReplicaSet (a new template gives new pod names): surge by one
//     - at most one new pod that is not yet ready at a time, and only while no old pod is still
//       going: `replicas` + 1 pods at most, counting those being torn down;
//     - old pods are kept while fewer than `replicas` new pods are ready: once a new pod is
//       ready, one old pod goes (the highest replica first). Never fewer than `replicas` ready
//       pods because of the rollout.
//   DaemonSet, and a template that claims something of the host two pods cannot share (a
//   hostPort, a port of the host's network, a read-write block volume): delete, then create
//     - one old pod goes first; its replacement is created once it is gone; the next old pod
//       goes once that replacement is ready. `replicas` pods at most, one of them not ready.
//   StatefulSet (names stay <name>-<ordinal>; the spec changes)
//     - pods missing are created in ordinal order, each once the one before is ready;
//     - a pod of the old template keeps its recorded spec until every pod of the new template
//       is ready; then the highest such ordinal is replaced (deleted, then created again).
//
// "Ready" = phase Running with every container running. A pod that is not ready holds the
// rollout, as a Kubernetes rollout waits (no progress deadline). Scaling down removes the pods
// of the highest replica indexes / ordinals at once.
#pragma once

#include <map>
#include <string>

#include "agent/desired.h"

namespace boxd::agent {

// A pod as it is now (recorded and observed).
struct CurrentPod {
  DesiredPod recorded;  // spec, hash and source file of the incarnation that runs
  bool ready = false;
};

// The pods to reconcile towards: `fromSpecs` with the pods of workloads in a rollout paced as
// above (some new pods withheld, some old ones kept as recorded). Pods not owned by a workload
// pass through unchanged.
std::map<std::string, DesiredPod> pacedPods(const std::map<std::string, DesiredPod>& fromSpecs,
                                            const std::map<std::string, CurrentPod>& current);

}  // namespace boxd::agent
