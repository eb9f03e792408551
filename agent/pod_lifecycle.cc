// Creating and tearing down pods, on top of the journaled StepRunner.
#include <limits.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/node_labels.h"
#include "agent/pod_files.h"
#include "agent/pod_plan.h"
#include "agent/probes.h"
#include "agent/project_quotas.h"
#include "agent/scheduling.h"
#include "agent/shim_watch.h"
#include "common/util.h"

namespace boxd::agent {

namespace {
std::string hostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}
}  // namespace

void Agent::beginCreate(PodState& pod, const DesiredPod& want) {
  bool fresh = pod.rec.uid.empty() || pod.rec.specHash != want.hash;
  pod.spec = want.spec;
  pod.rec.specHash = want.hash;
  pod.rec.specJson = specs::toJson(want.spec).dump();
  pod.rec.sourceFile = want.sourceFile;
  if (pod.rec.createdAtMs == 0) pod.rec.createdAtMs = nowMs();
  if (fresh) {
    pod.containers.clear();
    for (const auto& c : want.spec.containers) {
      pod.containers[c.name].rec = {
          pod.rec.name, c.name, "Waiting", "ContainerCreating", "", 0, 0, 0, 0, 0};
    }
  }
  const bool wasWaiting = pod.rec.phase.empty() || pod.rec.reason == kUnschedulable;
  if (std::string why = unschedulableReason(pod, want.spec); !why.empty()) {
    if (pod.rec.uid.empty()) pod.rec.uid = randomHex(16);
    if (pod.rec.reason != kUnschedulable) event(pod.rec.name, "Warning", "FailedScheduling", why);
    setPhase(pod, "Pending", kUnschedulable, why);
    logStoreError(store_->upsertPod(pod.rec), "record pod");
    return;
  }
  if (wasWaiting) rescheduleWaiting();  // pods waiting for (affinity to) this one
  // The images, pulled first when the pull policy says so (image_pulls.cc).
  std::vector<ContainerImage> images;
  if (pod.rec.uid.empty()) pod.rec.uid = randomHex(16);
  if (!podImages(pod, images)) {
    logStoreError(store_->upsertPod(pod.rec), "record pod");
    return;
  }
  pod.imagePulls.clear();
  pod.pullBackoffMs = 0;
  pod.pullNoticeTimer.reset();
  for (auto& [cname, c] : pod.containers) {
    if (c.rec.state != "Waiting") continue;
    c.rec.reason = "ContainerCreating";
    c.rec.message.clear();
  }
  pod.rec.uid = randomHex(16);  // a new incarnation: new paths, new cgroup
  if (pod.spec.annotations.count(specs::kLegacyInitContainersAnnotation) > 0) {
    event(pod.rec.name, "Warning", "Deprecated",
          std::string("annotation ") + specs::kLegacyInitContainersAnnotation +
              " is deprecated; move its containers to spec.initContainers");
  }
  if (pod.spec.automountServiceAccountToken) {
    event(pod.rec.name, "Warning", "NoServiceAccountToken",
          "automountServiceAccountToken is true, but boxd has no API server: no service account "
          "token is mounted at /var/run/secrets/kubernetes.io/serviceaccount");
  }
  pod.imageIds.clear();
  for (size_t i = 0; i < images.size(); ++i)
    pod.imageIds[allContainers(pod.spec)[i]->name] = images[i].id;
  pod.busy = true;
  pod.dirty = false;
  setPhase(pod, "Pending", "ContainerCreating", "");
  logStoreError(store_->upsertPod(pod.rec), "record pod");
  for (auto& [name, c] : pod.containers) saveContainer(pod, c);
  const std::string name = pod.rec.name, uid = pod.rec.uid;
  auto net = podNetwork(pod);
  if (!net.ok()) return createFailed(name, net.error(), {});
  pod.podFiles = net->enabled;
  auto plan = planPod(cfg_.paths, *cgroups_, pod.spec, pod.rec.uid, images, *net, blockPlan_,
                      cfg_.podPidsLimit);
  if (Status q = quotas_ ? quotas_->plan(plan, cfg_.paths, pod.spec, uid,
                                         cfg_.defaultEphemeralStorageLimit, store_->journalAll())
                         : Status();
      !q.ok()) {
    releaseAddress(name, uid);
    return createFailed(name, q.error(), {});
  }
  const size_t steps = plan.size();
  runner_.create(name, uid, std::move(plan), [this, name, uid, steps](Status st, Status undone) {
    if (quotas_) quotas_->release(uid);  // its project IDs are in the journal now, or free
    if (st.ok()) return created(name, uid, steps);
    if (undone.ok()) releaseAddress(name, uid);
    createFailed(name, st.error(), undone);
  });
}

Result<PodNetwork> Agent::podNetwork(PodState& pod) {
  PodNetwork net;
  const NetworkConfig& n = cfg_.network;
  pod.podIp.clear();
  if (!n.enabled || !ipam_) return net;
  net.enabled = true;
  net.hostNetwork = pod.spec.hostNetwork;
  std::string hostname = pod.spec.hostname.empty() ? pod.spec.name : pod.spec.hostname;
  if (net.hostNetwork) {
    hostname = hostName();
  } else {
    auto addr = ipam_->acquire(pod.rec.name, pod.rec.uid);
    if (!addr.ok()) return addr.error().wrap("allocate the pod's address");
    const Ipv4Net& subnet = ipam_->net();
    net.bridge = n.bridge;
    net.subnet = subnet.str();
    net.gatewayCidr = subnet.cidrOf(subnet.gateway());
    net.gateway = formatIpv4(subnet.gateway());
    net.address = subnet.cidrOf(*addr);
    net.mtu = n.mtu;
    net.hostPorts = n.hostPorts;
    net.masquerade = n.masquerade;
    net.nftTable = n.nftTable;
    pod.podIp = formatIpv4(*addr);
  }
  // Two small host files, read on the loop thread: they are local and tiny, and the plan must
  // hold their rendered content (it is journaled, so recovery never re-reads them).
  auto hostResolv = readFile(n.resolvConf);
  if (hostResolv.ok() && !net.hostNetwork && onlyLoopbackNameservers(*hostResolv)) {
    // Behind a local stub resolver: the pod gets the servers the stub forwards to.
    if (auto upstream = readFile(kResolvedUpstream); upstream.ok()) hostResolv = upstream;
  }
  if (!hostResolv.ok() && pod.spec.dnsPolicy != "None")
    event(pod.rec.name, "Warning", "DNSConfigForming",
          "cannot read " + n.resolvConf + " (" + hostResolv.error().message +
              "); the pod gets no nameservers from the host");
  std::string hostHosts;
  if (net.hostNetwork) {
    auto h = readFile(n.hostsFile);
    if (h.ok()) hostHosts = *h;
  }
  net.hosts = renderHostsFile(pod.spec, hostname, pod.podIp, hostHosts);
  ResolvConf rc = renderResolvConf(pod.spec, hostResolv.ok() ? *hostResolv : "", !net.hostNetwork);
  if (!rc.warning.empty()) event(pod.rec.name, "Warning", "DNSConfigForming", rc.warning);
  net.resolvConf = rc.content;
  net.hostname = hostname + "\n";
  return net;
}

void Agent::created(const std::string& name, const std::string& uid, size_t steps) {
  auto it = pods_.find(name);
  if (it == pods_.end() || it->second->rec.uid != uid) return;
  PodState& pod = *it->second;
  pod.busy = false;
  pod.created = true;
  pod.adopting = false;  // a new sandbox: nothing of it to adopt
  pod.retryBackoffMs = 0;
  pod.pidsLimitHits = 0;  // a fresh pod cgroup
  event(name, "Normal", "Created", "pod sandbox ready (" + std::to_string(steps) + " steps)");
  watchShim(pod);
  startContainers(pod);
  if (pod.dirty) markDirty(name);
}

void Agent::createFailed(const std::string& name, const Error& err, const Status& undone) {
  auto it = pods_.find(name);
  if (it == pods_.end()) return;
  PodState& pod = *it->second;
  event(name, "Warning", "FailedCreate", err.message);
  pod.busy = false;
  std::string msg = err.message;
  if (!undone.ok()) {
    msg += "; rollback incomplete: " + undone.error().message;
    pod.needsTeardown = true;
  }
  for (auto& [cname, c] : pod.containers) {
    c.rec.state = "Waiting";
    c.rec.reason = "CreateFailed";
    saveContainer(pod, c);
  }
  setPhase(pod, "Pending", "CreateFailed", msg);
  retryLater(pod);
}

// Retries the pod after a failure: 10 s doubling to 5 min, as kubelet.
void Agent::retryLater(PodState& pod) {
  pod.retryBackoffMs = pod.retryBackoffMs == 0
                           ? cfg_.restartBackoffMs
                           : std::min<int64_t>(pod.retryBackoffMs * 2, cfg_.maxBackoffMs);
  if (!pod.retryTimer) pod.retryTimer = std::make_unique<Timer>(loop_);
  const std::string name = pod.rec.name;
  event(name, "Normal", "BackOff",
        "retrying in " + std::to_string(pod.retryBackoffMs / 1000) + "s");
  pod.retryTimer->start(static_cast<uint64_t>(pod.retryBackoffMs),
                        [this, name] { reconcile(name); });
}

void Agent::beginTeardown(PodState& pod) {
  const std::string name = pod.rec.name;
  pod.busy = true;
  pod.dirty = false;
  // The shim watch stays until the pod is gone: it tells each container's stop (the Killing
  // events); exits and a lost shim are ignored while the pod is busy.
  pod.retryTimer.reset();
  std::vector<std::string> running;
  for (auto& [cname, c] : pod.containers) {
    c.restartTimer.reset();
    if (c.rec.state == "Running") running.push_back(cname);
  }
  setPhase(pod, "Terminating", "", "");
  // preStop hooks first (hooks.cc), sidecars last (sidecars.cc), then every step undone in
  // reverse.
  stopInOrder(pod, running, pod.spec.terminationGracePeriodSeconds,
              [this, name] { undoPod(name); });
}

void Agent::undoPod(const std::string& name) {
  if (auto it = pods_.find(name); it != pods_.end()) {
    for (auto& [cname, c] : it->second->containers) c.probes.reset();
  }
  runner_.undoAll(name, [this, name](Status st) {
    auto it = pods_.find(name);
    if (it == pods_.end()) return;
    PodState& p = *it->second;
    if (!st.ok()) {
      p.watch.reset();  // nothing of a half torn-down pod is restarted on its events
      p.busy = false;
      p.needsTeardown = true;
      setPhase(p, "Terminating", "TeardownFailed", st.error().message);
      event(name, "Warning", "TeardownFailed", st.error().message);
      return retryLater(p);
    }
    releaseAddress(name, p.rec.uid);
    if (p.evicting) return evicted(p);
    logStoreError(store_->deletePod(name), "delete pod");
    event(name, "Normal", "Deleted", "pod torn down; every host resource removed");
    schedulePacing(p);
    pods_.erase(it);
    // The last pod gone: boxd's cgroup parent goes too (made again with the next pod). On the
    // loop thread, so no pod's create can run between the check and the rmdir.
    if (pods_.empty()) {
      Status parent = cgroups_->remove(cfg_.paths.cgroupParent);
      if (!parent.ok())
        spdlog::warn("cgroup parent {}: {}, ignoring", cfg_.paths.cgroupParent,
                     parent.error().message);
    }
    notifyPodWatchers(name);
    markDirty(name);      // created afresh if it is still desired
    rescheduleWaiting();  // after it: a replaced pod keeps its place on the node
  });
}

}  // namespace boxd::agent
