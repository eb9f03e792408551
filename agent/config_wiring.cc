// ConfigMaps, Secrets and the downward API into containers: the agent side of config_refs.h
// (what a container gets) and config_volumes.h (how a volume is written).
//
//   startContainer ──► prepareContainer: env, argv, the config volumes it mounts (loop thread)
//        │ a missing object or key: Waiting, CreateContainerConfigError, retried each specs pass
//        ▼
//   thread pool: writeConfigVolume for each (unchanged ones are left alone) ──► shim start
//
//   specs pass ──► onConfigObjects ──► refreshConfigVolumes of every created pod: a changed
//                  ConfigMap or Secret is written in place through ..data (pods are not
//                  recreated; env is read at container start only, as in Kubernetes)
//
// Values never reach a log, an event or an error: those name objects, keys and volumes.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/security_context.h"

namespace boxd::agent {

namespace {

constexpr const char* kConfigError = "CreateContainerConfigError";

struct NodeFacts {
  std::string name, ip;
  int64_t cpuMilli = 0, memoryBytes = 0;
};

// The node's name (the host name), first non-loopback IPv4 address and capacity: what the
// downward API reads as spec.nodeName, status.hostIP and a limit a container does not set.
const NodeFacts& nodeFacts() {
  static const NodeFacts facts = [] {
    NodeFacts f;
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) f.name = host;
    struct ifaddrs* addrs = nullptr;
    if (::getifaddrs(&addrs) == 0) {
      for (auto* a = addrs; a != nullptr && f.ip.empty(); a = a->ifa_next) {
        if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
        char buf[INET_ADDRSTRLEN];
        auto* in = reinterpret_cast<struct sockaddr_in*>(a->ifa_addr);
        if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) == nullptr) continue;
        if (std::string(buf).rfind("127.", 0) != 0) f.ip = buf;
      }
      ::freeifaddrs(addrs);
    }
    f.cpuMilli = ::sysconf(_SC_NPROCESSORS_ONLN) * 1000;
    f.memoryBytes = static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGE_SIZE);
    return f;
  }();
  return facts;
}

// Secret files belong to the user every container mounting the volume runs as (so 0600 is
// readable by it); root when they differ.
uid_t volumeOwner(const specs::PodSpec& pod, const specs::Volume& v) {
  std::optional<uid_t> owner;
  for (const auto* list : {&pod.initContainers, &pod.containers}) {
    for (const auto& c : *list) {
      bool mounts = false;
      for (const auto& m : c.volumeMounts) mounts = mounts || m.name == v.name;
      if (!mounts) continue;
      auto sec = resolveSecurity(pod, c);
      uid_t uid = sec.ok() ? sec->uid : 0;
      if (owner && *owner != uid) return 0;
      owner = uid;
    }
  }
  return v.config && v.config->holdsSecret() ? owner.value_or(0) : 0;
}

// The group config volumes' files are given (kubelet's fsGroup), if any.
std::optional<gid_t> fsGroupOf(const specs::PodSpec& pod) {
  if (!pod.securityContext.fsGroup) return std::nullopt;
  return static_cast<gid_t>(*pod.securityContext.fsGroup);
}

}  // namespace

ConfigContext Agent::configContext(const PodState& pod) {
  ConfigContext ctx;
  ctx.configMaps = configMaps_.get();
  ctx.secrets = secrets_.get();
  ctx.uid = pod.rec.uid;
  ctx.namespaceName = pod.spec.namespaceName;
  ctx.podIp = pod.podIp;
  const NodeFacts& node = nodeFacts();
  ctx.hostIp = node.ip;
  ctx.nodeName = node.name;
  ctx.nodeCpuMilli = node.cpuMilli;
  ctx.nodeMemoryBytes = node.memoryBytes;
  return ctx;
}

Result<ContainerConfig> Agent::prepareContainer(PodState& pod, const specs::Container& c,
                                                std::vector<ConfigWrite>& writes) {
  ConfigContext ctx = configContext(pod);
  auto cfg = containerConfig(pod.spec, c, ctx);
  if (!cfg.ok()) return cfg.error();
  if (!cfg->skippedKeys.empty()) {
    std::string keys;
    for (const auto& k : cfg->skippedKeys) keys += (keys.empty() ? "" : ", ") + k;
    event(pod.rec.name, "Warning", "InvalidEnvironmentVariableNames",
          "container " + c.name + ": envFrom keys skipped, not valid variable names: " + keys);
  }
  PodPaths pp = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid);
  for (const auto& m : c.volumeMounts) {
    const specs::Volume* v = findVolume(pod.spec, m.name);
    if (v == nullptr || !v->config) continue;
    auto files = configVolumeFiles(pod.spec, *v, ctx);
    if (!files.ok()) return files.error();
    writes.push_back({v->name, volumeHostPath(pp, *v), std::move(*files), volumeOwner(pod.spec, *v),
                      fsGroupOf(pod.spec)});
  }
  return cfg;
}

void Agent::waitForConfig(PodState& pod, const std::string& container, const std::string& why) {
  auto& c = pod.containers[container];
  bool changed = c.rec.reason != kConfigError || c.rec.message != why;
  c.configWait = true;
  c.rec.state = "Waiting";
  c.rec.reason = kConfigError;
  c.rec.message = why;
  saveContainer(pod, c);
  if (changed) event(pod.rec.name, "Warning", "Failed", "Error: " + why);
  updatePhase(pod);
}

void Agent::onConfigObjects() {
  auto next = std::make_shared<std::map<std::string, specs::ConfigMap>>();
  for (const auto& [name, cm] : desired_.configMaps) next->emplace(name, cm.configMap);
  configMaps_ = std::move(next);
  for (const auto& d : desired_.skipped) {
    if (std::find(lastSkippedNotes_.begin(), lastSkippedNotes_.end(), d.str()) ==
        lastSkippedNotes_.end())
      spdlog::info("spec: {}", d.str());
  }
  lastSkippedNotes_.clear();
  for (const auto& d : desired_.skipped) lastSkippedNotes_.push_back(d.str());
  for (auto& [name, pod] : pods_) {
    if (pod->created && !pod->busy) refreshConfigVolumes(*pod);
  }
}

void Agent::refreshConfigVolumes(PodState& pod) {
  ConfigContext ctx = configContext(pod);
  PodPaths pp = podPaths(cfg_.paths, pod.rec.name, pod.rec.uid);
  for (const auto& v : pod.spec.volumes) {
    if (!v.config) continue;
    // A missing object is the starting container's error to report; here the last content
    // stays until the object is back, as with kubelet.
    auto files = configVolumeFiles(pod.spec, v, ctx);
    if (!files.ok()) continue;
    uid_t owner = volumeOwner(pod.spec, v);
    std::string digest = volumeFilesDigest(*files, owner);
    std::string& known = pod.configDigests[v.name];
    if (digest == known) continue;
    known = digest;
    auto result = std::make_shared<Result<bool>>(false);
    std::string dir = volumeHostPath(pp, v);
    const std::string podName = pod.rec.name, volume = v.name;
    dispatcher_.runBlocking(
        [dir, f = std::move(*files), owner, group = fsGroupOf(pod.spec), result] {
          *result = writeConfigVolume(dir, f, owner, group);
        },
        [this, podName, volume, result] {
          if (!result->ok()) {
            event(podName, "Warning", "FailedMount",
                  "volume " + volume + ": " + result->error().message);
            auto it = pods_.find(podName);
            if (it != pods_.end()) it->second->configDigests.erase(volume);  // retry next pass
            return;
          }
          if (**result)
            event(podName, "Normal", "VolumeUpdated",
                  "volume " + volume + " updated from its ConfigMap/Secret/downward API sources");
        });
  }
}

}  // namespace boxd::agent
