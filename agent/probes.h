// Probes and lifecycle hooks of running containers, with kubelet's semantics (docs/probes.md):
//
//   container Running (a new pid) ──► postStart hook ──► startup probe until it succeeds
//                                       │ fails: kill     │ failureThreshold failures: kill
//                                       ▼                 ▼
//                                     liveness (failureThreshold failures: kill → restartPolicy)
//                                     readiness (drives the container's ready, the pod's Ready)
//
// Each probe ticks every periodSeconds from max(now, startedAt + initialDelaySeconds), on the
// agent's ProbeTicker (a check runs up to 20 ms after its tick is due, never before); one check
// at a time per probe (a tick while one is in flight is skipped). A result changes the probe's
// state after failureThreshold failures or successThreshold successes in a row. Every failure is
// an Unhealthy event with the check's output. State lives in memory only: after a boxd restart
// every running container starts a new run (counters at zero, not ready until its readiness
// probe succeeds), so nothing is killed for the time boxd was down.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/dispatcher.h"
#include "agent/probe_check.h"
#include "agent/probe_ticker.h"
#include "common/fd.h"
#include "specs/probe.h"

namespace boxd::agent {

enum class ProbeKind { Liveness, Readiness, Startup };
const char* probeName(ProbeKind k);  // "Liveness", "Readiness", "Startup"

struct ProbeWorker {
  ProbeKind kind = ProbeKind::Liveness;
  std::string pod, container;  // whose probe it is
  specs::Probe spec;
  TickHandle timer;              // reset(): no more ticks
  std::unique_ptr<Check> check;  // the last check (done or in flight)
  bool inFlight = false;
  bool onHold = false;  // failed liveness/startup: waits for the container's next run
  std::optional<bool> last;
  int64_t run = 0;  // results equal to last, in a row
};

// kubelet's counting: the state a result sets, or nullopt while the threshold is not reached.
std::optional<bool> countResult(ProbeWorker& w, bool success);

// The probes and hooks of one run of a container (one pid); dropped when the run ends.
struct ContainerProbeRun {
  int pid = 0;
  int64_t startedAtMs = 0;
  Fd netns;  // the pod's network namespace (not set for hostNetwork)
  CheckTarget target;
  bool postStartDone = false;
  bool started = false;         // the startup probe succeeded, or there is none
  bool ready = false;           // the readiness probe's state (false until it succeeds)
  bool killing = false;         // a failed probe or hook is stopping the container
  std::string killReason;       // what that failure said, for the container's last state
  std::unique_ptr<Check> hook;  // postStart in flight
  std::vector<std::unique_ptr<ProbeWorker>> workers;
};

}  // namespace boxd::agent
