#include "agent/pod_plan.h"

#include <algorithm>

#include "common/util.h"
#include "reconcilers/block/block_backend.h"
#include "reconcilers/cgroup/cgroup_step.h"

namespace boxd::agent {

using nlohmann::json;

PodPaths podPaths(const reconcilers::Paths& paths, const std::string& name,
                  const std::string& uid) {
  PodPaths p;
  p.dir = paths.podDir(uid);
  // name is the pod's key: "namespace/name" outside the default namespace becomes
  // "namespace.name" (names and namespaces hold no dots).
  std::string leaf = name;
  std::replace(leaf.begin(), leaf.end(), '/', '.');
  p.cgroupRel = paths.cgroupParent + "/" + leaf + "-" + uid.substr(0, 8);
  p.socket = paths.shimsDir() + "/" + uid + ".sock";
  p.pidFile = paths.shimsDir() + "/" + uid + ".pid";
  p.shimLog = p.dir + "/shim.log";
  p.netns = paths.runDir + "/netns/" + uid;
  p.etcDir = p.dir + "/etc";
  p.hostIf = "bxd" + uid.substr(0, 12);
  p.blockMounts = paths.runDir + "/block/mounts";
  return p;
}

ContainerPaths containerPaths(const reconcilers::Paths& paths, const std::string& name,
                              const std::string& uid, const std::string& container) {
  PodPaths pod = podPaths(paths, name, uid);
  ContainerPaths c;
  std::string base = pod.dir + "/containers/" + container;
  c.rootfs = base + "/rootfs";
  c.upper = base + "/upper";
  c.work = base + "/work";
  c.cgroupRel = pod.cgroupRel + "/" + container;
  c.logPath = pod.dir + "/logs/" + container + ".log";
  return c;
}

static void addSum(std::optional<int64_t>& total, const std::optional<int64_t>& v, bool& all) {
  if (!v) {
    all = false;
    return;
  }
  total = total.value_or(0) + *v;
}

reconcilers::CgroupLimits podLimits(const specs::PodSpec& pod, int64_t pidsLimit) {
  reconcilers::CgroupLimits l;
  bool allMem = true, allCpu = true;
  for (const auto* c : allContainers(pod)) {  // sidecars run alongside: counted (Kubernetes)
    if (isInitContainer(pod, c->name) && !c->isSidecar()) continue;
    addSum(l.memoryBytes, c->resources.memoryLimitBytes, allMem);
    addSum(l.cpuLimitMilli, c->resources.cpuLimitMilli, allCpu);
  }
  if (!allMem) l.memoryBytes.reset();
  if (!allCpu) l.cpuLimitMilli.reset();
  if (pidsLimit > 0) l.pidsMax = pidsLimit;
  return l;
}

reconcilers::CgroupLimits containerLimits(const specs::Container& c) {
  reconcilers::CgroupLimits l;
  l.memoryBytes = c.resources.memoryLimitBytes;
  l.cpuLimitMilli = c.resources.cpuLimitMilli;
  // Kubernetes: a limit without a request implies request = limit.
  l.cpuRequestMilli =
      c.resources.cpuRequestMilli ? c.resources.cpuRequestMilli : c.resources.cpuLimitMilli;
  return l;
}

const specs::Volume* findVolume(const specs::PodSpec& pod, const std::string& name) {
  for (const auto& v : pod.volumes) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::string volumeHostPath(const PodPaths& pp, const specs::Volume& v) {
  if (v.isBlock()) return reconcilers::blockMountPath(pp.blockMounts, blockVolumeOf(v));
  return v.hostPath ? v.hostPath->path : pp.dir + "/volumes/" + v.name;
}

reconcilers::BlockVolume blockVolumeOf(const specs::Volume& vol, const BlockPlan& block) {
  reconcilers::BlockVolume b;
  if (vol.iscsi) {
    const auto& i = *vol.iscsi;
    b.backend = block.iscsiBackend;
    b.portals.push_back(i.targetPortal);
    for (const auto& p : i.portals) {
      if (std::find(b.portals.begin(), b.portals.end(), p) == b.portals.end())
        b.portals.push_back(p);
    }
    b.iqn = i.iqn;
    b.lun = i.lun;
    b.initiatorName = i.initiatorName.empty() ? block.initiatorName : i.initiatorName;
    b.iscsiInterface = i.iscsiInterface;
    b.chapDiscovery = i.chapAuthDiscovery;
    b.chapSession = i.chapAuthSession;
    b.secretRef = i.secretRef;
    b.readOnly = i.readOnly;
    b.sessionKey = "iscsi|" + i.iqn + "|" + b.initiatorName + "|" + i.iscsiInterface;
    b.deviceKey = "iscsi|" + i.iqn + "|lun" + std::to_string(i.lun);
  } else if (vol.rbd) {
    const auto& r = *vol.rbd;
    b.backend = block.rbdBackend;
    b.monitors = r.monitors;
    b.pool = r.pool;
    b.image = r.image;
    b.user = r.user;
    b.keyring = r.keyring;
    b.secretRef = r.secretRef;
    b.readOnly = r.readOnly;
    if (r.provision) {
      b.provisionBytes = r.provision->sizeBytes;
      b.provisionFeatures = r.provision->features;
    }
    auto mons = r.monitors;
    std::sort(mons.begin(), mons.end());
    std::string joined;
    for (const auto& m : mons) joined += (joined.empty() ? "" : ",") + m;
    b.sessionKey = b.deviceKey = "rbd|" + joined + "|" + r.pool + "/" + r.image;
  }
  return b;
}

// A memory emptyDir without a sizeLimit gets half the pod's memory limit, or 64 MiB (the size
// of /dev/shm) when the pod has none; its pages count against the pod's memory cgroup anyway.
int64_t memoryVolumeSize(const specs::PodSpec& pod, const specs::Volume& v) {
  if (v.emptyDir->sizeLimitBytes) return *v.emptyDir->sizeLimitBytes;
  auto limit = podLimits(pod).memoryBytes;
  return limit ? *limit / 2 : int64_t{64} << 20;
}

PlannedStep volumeStep(const PodPaths& pp, const specs::PodSpec& pod, const specs::Volume& v) {
  if (v.hostPath) return {"hostpath", {{"path", v.hostPath->path}, {"type", v.hostPath->type}}};
  if (v.config) {
    // The directory config volumes are written into (agent/config_volumes.h): a tmpfs when it
    // holds Secret data, room for two versions of each source (1 MiB at most each) plus one.
    bool secret = v.config->holdsSecret();
    int64_t bytes = (2 * static_cast<int64_t>(v.config->sources.size()) + 1) << 20;
    return {
        "emptydir",
        {{"path", volumeHostPath(pp, v)}, {"memory", secret}, {"sizeBytes", secret ? bytes : 0}}};
  }
  bool memory = v.emptyDir->memory;
  return {"emptydir",
          {{"path", volumeHostPath(pp, v)},
           {"memory", memory},
           {"sizeBytes", memory ? memoryVolumeSize(pod, v) : 0}}};
}

namespace {

// session (not for krbd, which maps the image directly) → device → filesystem; the shim binds
// the mount into the containers.
void planBlockVolume(std::vector<PlannedStep>& plan, const PodPaths& pp, const std::string& uid,
                     const specs::Volume& v, const BlockPlan& block, const std::string& ns) {
  reconcilers::BlockVolume bv = blockVolumeOf(v, block);
  // The Secret of the pod's own namespace (its key in the desired state).
  if (!bv.secretRef.empty()) bv.secretRef = specs::objectKey(ns, bv.secretRef);
  nlohmann::json volume = reconcilers::blockVolumeToJson(bv);
  std::string user = uid + "/" + v.name;
  if (bv.backend != "rbd-kernel")
    plan.push_back({"blocksession", {{"volume", volume}, {"user", user}}});
  plan.push_back({"blockdevice", {{"volume", volume}, {"user", user}}});
  plan.push_back({"blockfs",
                  {{"volume", volume},
                   {"user", user},
                   {"fsType", v.iscsi ? v.iscsi->fsType : v.rbd->fsType},
                   {"mountPath", reconcilers::blockMountPath(pp.blockMounts, bv)}}});
}

// kubelet gives the pod's fsGroup to the volumes it sets up: emptyDirs and read-write block
// filesystems, walked here; config volumes get it when written; hostPath never.
void planFsGroup(std::vector<PlannedStep>& plan, const PodPaths& pp, const specs::PodSpec& pod,
                 const specs::Volume& v) {
  const specs::PodSecurityContext& sc = pod.securityContext;
  if (!sc.fsGroup) return;
  bool readOnlyBlock = (v.iscsi && v.iscsi->readOnly) || (v.rbd && v.rbd->readOnly);
  if (!v.emptyDir && (!v.isBlock() || readOnlyBlock)) return;
  plan.push_back({"fsgroup",
                  {{"path", volumeHostPath(pp, v)},
                   {"volume", v.name},
                   {"gid", *sc.fsGroup},
                   {"readOnly", false},
                   {"policy", sc.fsGroupOnRootMismatch() ? "OnRootMismatch" : "Always"}}});
}

void planNetwork(std::vector<PlannedStep>& plan, const PodPaths& pp, const specs::PodSpec& pod,
                 const PodNetwork& net) {
  if (!net.hostNetwork) {
    plan.push_back({"netns", {{"path", pp.netns}}});
    plan.push_back({"veth",
                    {{"netns", pp.netns},
                     {"bridge", net.bridge},
                     {"gatewayCidr", net.gatewayCidr},
                     {"hostIf", pp.hostIf},
                     {"podIf", "eth0"},
                     {"address", net.address},
                     {"gateway", net.gateway},
                     {"mtu", net.mtu},
                     // The localnet guard comes with the bridge, hostPorts or not; the bridge
                     // routes 127.0.0.1 only when hostPorts may DNAT it to pods.
                     {"nftTable", net.nftTable},
                     {"routeLocalnet", net.hostPorts}}});
    nlohmann::json ports = nlohmann::json::array();
    for (const auto* c : allContainers(pod)) {
      for (const auto& p : c->ports) {
        if (p.hostPort == 0) continue;
        ports.push_back({{"hostPort", p.hostPort},
                         {"containerPort", p.containerPort},
                         {"protocol", p.protocol},
                         {"hostIP", p.hostIP}});
      }
    }
    if (net.hostPorts && !ports.empty()) {
      plan.push_back({"hostport",
                      {{"table", net.nftTable},
                       {"bridge", net.bridge},
                       {"subnet", net.subnet},
                       {"masquerade", net.masquerade},
                       {"podIp", net.podIp()},
                       {"ports", std::move(ports)}}});
    }
  }
  plan.push_back(
      {"files",
       {{"dir", pp.etcDir},
        {"files",
         {{"hosts", net.hosts}, {"resolv.conf", net.resolvConf}, {"hostname", net.hostname}}}}});
}

// The container paths boxd binds its pod files at (unless a volume is mounted there).
constexpr const char* kPodFiles[][2] = {
    {"hosts", "/etc/hosts"}, {"resolv.conf", "/etc/resolv.conf"}, {"hostname", "/etc/hostname"}};

// A volume mounted at the file itself or at a directory above it (/etc) takes precedence.
bool mountedOver(const specs::Container& c, const std::string& path) {
  for (const auto& m : c.volumeMounts) {
    if (m.mountPath == path || startsWith(path, m.mountPath + "/") || m.mountPath == "/")
      return true;
  }
  return false;
}

}  // namespace

std::vector<PlannedStep> planPod(const reconcilers::Paths& paths,
                                 const reconcilers::Cgroups& cgroups, const specs::PodSpec& pod,
                                 const std::string& uid, const std::vector<ContainerImage>& images,
                                 const PodNetwork& net, const BlockPlan& block,
                                 int64_t podPidsLimit) {
  PodPaths pp = podPaths(paths, pod.key(), uid);
  std::vector<PlannedStep> plan;
  plan.push_back({"poddir", {{"path", pp.dir}}});
  plan.push_back({"cgroup",
                  {{"rel", pp.cgroupRel},
                   {"limits", reconcilers::cgroupLimitsToJson(podLimits(pod, podPidsLimit))}}});
  if (net.enabled) planNetwork(plan, pp, pod, net);
  for (const auto& v : pod.volumes) {
    if (v.isBlock())
      planBlockVolume(plan, pp, uid, v, block, pod.namespaceName);
    else
      plan.push_back(volumeStep(pp, pod, v));
    planFsGroup(plan, pp, pod, v);
  }
  auto all = allContainers(pod);
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& c = *all[i];
    ContainerPaths cp = containerPaths(paths, pod.key(), uid, c.name);
    plan.push_back(
        {"cgroup",
         {{"rel", cp.cgroupRel}, {"limits", reconcilers::cgroupLimitsToJson(containerLimits(c))}}});
    plan.push_back({"rootfs",
                    {{"lowers", images.at(i).lowers},
                     {"upper", cp.upper},
                     {"work", cp.work},
                     {"target", cp.rootfs},
                     {"image", images.at(i).id},
                     {"container", c.name}}});
  }
  plan.push_back({"shim",
                  {{"podName", pod.name},
                   {"podUid", uid},
                   {"socket", pp.socket},
                   {"pidFile", pp.pidFile},
                   {"logFile", pp.shimLog},
                   {"hostname", pod.hostname.empty() ? pod.name : pod.hostname},
                   {"cgroupProcs", cgroups.procsFiles(pp.cgroupRel)},
                   {"graceSeconds", pod.terminationGracePeriodSeconds},
                   {"shimBinary", paths.shimBinary}}});
  if (net.enabled) plan.back().params["netns"] = net.hostNetwork ? "host" : pp.netns;
  return plan;
}

std::vector<reconcilers::ContainerMount> containerMounts(const PodPaths& pp,
                                                         const specs::PodSpec& pod,
                                                         const specs::Container& c, bool podFiles) {
  std::vector<reconcilers::ContainerMount> out;
  for (const auto& m : c.volumeMounts) {
    const specs::Volume* v = findVolume(pod, m.name);
    if (v == nullptr) continue;  // the parser refuses such a pod
    // Config volumes are always read-only in containers, as in Kubernetes.
    out.push_back({volumeHostPath(pp, *v), m.subPath, m.mountPath,
                   m.readOnly || v->config.has_value(), v->emptyDir.has_value()});
  }
  for (const auto& [file, mountPath] : kPodFiles) {
    if (podFiles && !mountedOver(c, mountPath))
      out.push_back({pp.etcDir + "/" + file, "", mountPath, false, false});
  }
  auto depth = [](const std::string& path) {
    auto parts = split(path, '/');
    return std::count_if(parts.begin(), parts.end(), [](const auto& p) { return !p.empty(); });
  };
  std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    return depth(a.mountPath) < depth(b.mountPath);
  });
  return out;
}

std::vector<const specs::Container*> allContainers(const specs::PodSpec& pod) {
  std::vector<const specs::Container*> out;
  for (const auto& c : pod.initContainers) out.push_back(&c);
  for (const auto& c : pod.containers) out.push_back(&c);
  return out;
}

const specs::Container* findContainer(const specs::PodSpec& pod, const std::string& name) {
  for (const auto* c : allContainers(pod)) {
    if (c->name == name) return c;
  }
  return nullptr;
}

bool isInitContainer(const specs::PodSpec& pod, const std::string& name) {
  for (const auto& c : pod.initContainers) {
    if (c.name == name) return true;
  }
  return false;
}

std::vector<std::string> containerArgv(const specs::Container& c) {
  std::vector<std::string> argv = c.command;
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  if (argv.empty()) argv.push_back("/bin/sh");
  return argv;
}

std::vector<std::string> containerEnv(const specs::PodSpec& pod, const specs::Container& c) {
  std::vector<std::string> env;
  env.push_back("HOSTNAME=" + (pod.hostname.empty() ? pod.name : pod.hostname));
  for (const auto& e : c.env) env.push_back(e.name + "=" + e.value);
  return env;
}

}  // namespace boxd::agent
