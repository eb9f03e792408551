// The create plan of a pod: an ordered list of steps, each undone in reverse on failure.
//
//    poddir ──► cgroup (pod) ──► [netns ──► veth ──► hostport] ──► files ──► volumes
//      │            │               │         │          │            │          │
//   rm -rf       kill+rmdir      umount   delete link  delete map   rm files  umount+rm
//                                 +rm     (the peer    elements               (emptyDir)
//                                          goes too)
//   a block volume (iscsi, rbd) is three steps there: blocksession ──► blockdevice ──► blockfs
//   (logout / helper stop, detach, unmount; each shared by its users: reconcilers/block)
//      ──► per container: cgroup, rootfs ──► shim (joins the pinned netns, or the host's for
//                                                  hostNetwork)
//                                                             │
//                                                  shutdown (SIGTERM, grace, KILL)
// No step binds anything into a container: its volumes and pod files (/etc/hosts, resolv.conf,
// hostname) are a list of mounts in each start request (containerMounts below), made by the
// shim in the container's own mount namespace before pivot_root (agent/shim/mounts.h). They go
// with that namespace, so teardown never unmounts a path a container could have changed.
// Containers are then started through the shim; they are supervised, not steps: they die with
// the shim, whose undo stops them.
//
// Pure: the plan is data (kind + params), materialized by reconcilers::stepFromJournal, the same
// path crash recovery takes, so the journal alone can always undo what the plan did.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reconcilers/block/block_backend.h"
#include "reconcilers/cgroup/cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/sandbox/shim_protocol.h"
#include "specs/pod.h"

namespace boxd::agent {

struct PlannedStep {
  std::string kind;
  nlohmann::json params;
};

struct ContainerPaths {
  std::string rootfs;  // overlay mount point
  std::string upper, work;
  std::string cgroupRel;  // "boxd/web-1a2b3c4d/app"
  std::string logPath;
};

struct PodPaths {
  std::string dir;        // <state>/pods/<uid>
  std::string cgroupRel;  // "boxd/<name>-<uid8>", "boxd/<namespace>.<name>-<uid8>"
  std::string socket, pidFile, shimLog;
  std::string netns;        // <run>/netns/<uid>: the pinned network namespace
  std::string etcDir;       // <pod dir>/etc: hosts, resolv.conf, hostname
  std::string hostIf;       // host end of the pod's veth: "bxd" + 12 hex of the uid
  std::string blockMounts;  // <run>/block/mounts: where block volumes' filesystems are mounted
};

// How block volumes reach this host, decided by the agent from its config and the host's
// capabilities (reconcilers/block/block_host.h).
struct BlockPlan {
  std::string iscsiBackend = "iscsi-user";  // or iscsi-kernel
  std::string rbdBackend = "rbd-user";      // or rbd-kernel
  std::string initiatorName;                // when the volume names none
};

// The pod's network, as the agent decided it from its config and the IPAM. Default: networking
// off (loopback only, the shim makes a fresh network namespace).
struct PodNetwork {
  bool enabled = false;
  bool hostNetwork = false;  // the pod uses the host's network (no netns, veth or hostport)
  std::string bridge;
  std::string subnet;       // "10.88.0.0/16"
  std::string gatewayCidr;  // the bridge's address: "10.88.0.1/16"
  std::string gateway;      // "10.88.0.1"
  std::string address;      // the pod's: "10.88.0.5/16"
  int mtu = 0;
  bool hostPorts = false;  // publish ports[].hostPort
  bool masquerade = false;
  std::string nftTable;
  // Rendered by pod_files.h: the files bound at /etc/hosts, /etc/resolv.conf, /etc/hostname.
  std::string hosts, resolvConf, hostname;

  std::string podIp() const { return address.substr(0, address.find('/')); }
};

PodPaths podPaths(const reconcilers::Paths& paths, const std::string& name, const std::string& uid);
ContainerPaths containerPaths(const reconcilers::Paths& paths, const std::string& name,
                              const std::string& uid, const std::string& container);

// The image a container runs: its id in the image store and its layer trees, top first.
struct ContainerImage {
  ContainerImage() = default;
  ContainerImage(std::string id_, std::vector<std::string> lowers_)
      : id(std::move(id_)), lowers(std::move(lowers_)) {}
  ContainerImage(const char* lower) : lowers{lower} {}  // NOLINT: one layer, no id (tests)
  std::string id;
  std::vector<std::string> lowers;
};

// images: one per container, in allContainers() order. podPidsLimit: the pod
// cgroup's pids.max (the config's podPidsLimit; 0 = none).
std::vector<PlannedStep> planPod(const reconcilers::Paths& paths,
                                 const reconcilers::Cgroups& cgroups, const specs::PodSpec& pod,
                                 const std::string& uid, const std::vector<ContainerImage>& images,
                                 const PodNetwork& net = {}, const BlockPlan& block = {},
                                 int64_t podPidsLimit = 0);

// The attach description of an iscsi or rbd volume. Keys: a session per target (IQN, initiator
// name, interface) or image; a device per LUN (by IQN, whatever portals name it) or image.
reconcilers::BlockVolume blockVolumeOf(const specs::Volume& v, const BlockPlan& block = {});

const specs::Volume* findVolume(const specs::PodSpec& pod, const std::string& name);
// Where a volume lives on the host: the hostPath, <pod dir>/volumes/<name> for an emptyDir, the
// filesystem's mount under <run>/block/mounts for a block volume.
std::string volumeHostPath(const PodPaths& pp, const specs::Volume& v);
int64_t memoryVolumeSize(const specs::PodSpec& pod, const specs::Volume& v);
PlannedStep volumeStep(const PodPaths& pp, const specs::PodSpec& pod, const specs::Volume& v);

// The mounts the shim makes for container c (ContainerLaunch::mounts): its volumeMounts, then,
// when the pod has pod files (its plan had a "files" step), /etc/hosts, /etc/resolv.conf and
// /etc/hostname from pp.etcDir unless a volume is mounted over them. Sorted by depth, stable, so
// a mount comes after the ones above it.
std::vector<reconcilers::ContainerMount> containerMounts(const PodPaths& pp,
                                                         const specs::PodSpec& pod,
                                                         const specs::Container& c, bool podFiles);

// Pod-level limits: the sum over containers when every container sets one (as kubelet does),
// and pidsLimit (> 0) as pids.max: like kubelet's podPidsLimit, a node setting, since a pod spec
// has no field for it.
reconcilers::CgroupLimits podLimits(const specs::PodSpec& pod, int64_t pidsLimit = 0);
reconcilers::CgroupLimits containerLimits(const specs::Container& c);

// Init containers first, in order, then the containers: the order of the plan's rootfs steps.
std::vector<const specs::Container*> allContainers(const specs::PodSpec& pod);
const specs::Container* findContainer(const specs::PodSpec& pod, const std::string& name);
bool isInitContainer(const specs::PodSpec& pod, const std::string& name);

// argv of a container: command + args; without a command, args alone, else /bin/sh.
std::vector<std::string> containerArgv(const specs::Container& c);
std::vector<std::string> containerEnv(const specs::PodSpec& pod, const specs::Container& c);

}  // namespace boxd::agent
