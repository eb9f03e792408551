// Sidecar containers (initContainers[] with restartPolicy: Always), with Kubernetes' rules
// (docs/workloads.md). Pure decisions over what each container's current run looks like; the
// agent applies them (sidecars.cc, containers.cc).
//
//   init[0] ─► init[1] (sidecar) ─started─► init[2] ─exit 0─► containers ... all completed
//   (exit 0)    keeps running, restarted       ("started": running, postStart     │
//               on every exit (backoff),        done, startupProbe passed)         ▼
//               whatever the pod's policy                      sidecars stopped in reverse order,
//                                                              phase from the containers alone
#pragma once

#include <map>
#include <string>
#include <vector>

#include "specs/pod.h"

namespace boxd::agent {

// One container's current run, as the rules need it.
struct RunFacts {
  std::string state = "Waiting";  // "Waiting", "Running" or "Terminated"
  int exitCode = 0;
  bool starting = false;    // a start in flight
  bool restartDue = false;  // a restart timer armed
  bool started = false;     // running, postStart hook done, startup probe passed
  int restarts = 0;
};
using PodFacts = std::map<std::string, RunFacts>;  // by container name; absent = never run

// Where the init sequence stands: the first init container that holds it back (index ==
// initContainers.size() once every one has passed), and how many passed before it (kubectl's
// Init:N/M). A regular init container passes when it exited 0, a sidecar once it has started.
// Once a regular container has run, the init sequence is over for good: a sidecar restarting
// later holds nothing back.
struct InitProgress {
  size_t index = 0;
  size_t passed = 0;
};
InitProgress initProgress(const specs::PodSpec& pod, const PodFacts& facts);

// The pod is done with its work: every regular container terminated for good (nothing running,
// starting or due to restart, and the pod's restartPolicy will not run it again; never with
// Always), or a regular init container failed under restartPolicy Never.
// Its sidecars are then stopped and not restarted.
bool podCompleted(const specs::PodSpec& pod, const PodFacts& facts);

// The sidecars to stop as the pod completes, last declared first, as long as one runs or starts.
std::vector<std::string> sidecarsToStop(const specs::PodSpec& pod, const PodFacts& facts);

// The order of a pod's deletion: the regular (and init) containers of running together first;
// then the sidecars among them, one at a time, last declared first.
struct StopOrder {
  std::vector<std::string> first;
  std::vector<std::string> sidecars;
};
StopOrder stopOrder(const specs::PodSpec& pod, const std::vector<std::string>& running);

// The containers that keep running once started, probed and counted in READY: the sidecars
// (in order), then the regular containers.
std::vector<const specs::Container*> longRunningContainers(const specs::PodSpec& pod);

bool isSidecar(const specs::PodSpec& pod, const std::string& name);

}  // namespace boxd::agent
