// The typed model of a boxd pod: a Kubernetes Pod v1 subset. Pure data, no syscalls.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "specs/config_sources.h"
#include "specs/object_key.h"
#include "specs/probe.h"
#include "specs/scheduling.h"

namespace boxd::specs {

enum class RestartPolicy { Always, OnFailure, Never };
const char* toString(RestartPolicy p);

struct EnvVar {
  std::string name;
  std::string value;
  std::optional<EnvVarSource> valueFrom;  // set: value is empty (specs/config_sources.h)
  bool operator==(const EnvVar&) const = default;
};

// Quantities normalized at parse time: cpu in millicores, memory in bytes.
struct Resources {
  std::optional<int64_t> cpuLimitMilli;
  std::optional<int64_t> cpuRequestMilli;
  std::optional<int64_t> memoryLimitBytes;
  std::optional<int64_t> memoryRequestBytes;
  // ephemeral-storage: the container's writable layer and logs (agent/ephemeral_storage.h).
  std::optional<int64_t> ephemeralLimitBytes;
  std::optional<int64_t> ephemeralRequestBytes;
  bool operator==(const Resources&) const = default;
};

// Where a container sees a volume.
struct VolumeMount {
  std::string name;       // a volume of spec.volumes
  std::string mountPath;  // absolute, inside the container
  bool readOnly = false;
  std::string subPath;  // relative path inside the volume; empty = the whole volume
  bool operator==(const VolumeMount&) const = default;
};

// emptyDir: a directory that lives exactly as long as its pod, shared by its containers.
struct EmptyDirVolume {
  bool memory = false;  // medium: Memory = tmpfs
  // Memory: the tmpfs size (unset = a share of the pod limit). Disk: the usage past which the pod
  // is evicted (agent/ephemeral_storage.h).
  std::optional<int64_t> sizeLimitBytes;
  bool operator==(const EmptyDirVolume&) const = default;
};

// hostPath: a path of the host, checked (and created for the *OrCreate types) before use.
struct HostPathVolume {
  std::string path;
  std::string type;  // "", Directory, DirectoryOrCreate, File, FileOrCreate, Socket, CharDevice,
                     // BlockDevice
  bool operator==(const HostPathVolume&) const = default;
};

// iscsi: a LUN of an iSCSI target, attached to the host, formatted if blank, mounted, and bound
// into the containers (Kubernetes' in-tree iscsi volume; docs/storage.md).
struct IscsiVolume {
  std::string targetPortal;          // "host:port" (port default 3260), or "[v6]:port"
  std::vector<std::string> portals;  // more portals of the same target (multipath / failover)
  std::string iqn;                   // the target's name
  int64_t lun = 0;                   // 0..16383
  std::string iscsiInterface = "default";
  std::string fsType = "ext4";  // ext4, ext3, ext2 or xfs
  bool readOnly = false;
  bool chapAuthDiscovery = false;
  bool chapAuthSession = false;
  std::string secretRef;      // name of a kind: Secret (type kubernetes.io/iscsi-chap); "" = none
  std::string initiatorName;  // "" = the host's
  bool operator==(const IscsiVolume&) const = default;
};

// What boxd may create when an RBD image does not exist: only with the pod annotation
// provision.rbd.boxd.io/<volume name> (docs/storage.md). Never resized or deleted.
struct RbdProvision {
  int64_t sizeBytes = 0;
  std::vector<std::string> features;  // librbd names: layering, exclusive-lock, object-map, ...
  bool operator==(const RbdProvision&) const = default;
};

// rbd: a Ceph RBD image, opened with librbd, attached, formatted if blank, mounted, bound into
// the containers (Kubernetes' in-tree rbd volume).
struct RbdVolume {
  std::vector<std::string> monitors;  // as written: "ip:port", "v1:ip:port", "v2:ip:port", "host"
  std::string pool = "rbd";
  std::string image;
  std::string user = "admin";                 // the cephx id
  std::string keyring = "/etc/ceph/keyring";  // used when there is no secretRef
  std::string secretRef;  // name of a kind: Secret whose data.key is the cephx key; "" = none
  std::string fsType = "ext4";
  bool readOnly = false;
  std::optional<RbdProvision> provision;  // from the pod's annotation
  bool operator==(const RbdVolume&) const = default;
};

struct Volume {
  std::string name;
  std::optional<EmptyDirVolume> emptyDir;  // exactly one source is set
  std::optional<HostPathVolume> hostPath;
  std::optional<IscsiVolume> iscsi;
  std::optional<RbdVolume> rbd;
  std::optional<ConfigVolume> config;  // configMap, secret, downwardAPI or projected
  bool isBlock() const { return iscsi.has_value() || rbd.has_value(); }
  bool operator==(const Volume&) const = default;
};

// A port the container listens on; with hostPort, boxd forwards that port of the host to it.
struct ContainerPort {
  std::string name;
  int64_t containerPort = 0;
  int64_t hostPort = 0;          // 0 = not published on the host
  std::string protocol = "TCP";  // TCP or UDP
  std::string hostIP;            // empty = every host address
  bool operator==(const ContainerPort&) const = default;
};

// securityContext of a container (Kubernetes semantics; docs/security.md). Unset fields take the
// pod's value, then boxd's default. Capability names are canonical: "NET_ADMIN", or "ALL".
struct Capabilities {
  std::vector<std::string> add, drop;
  bool operator==(const Capabilities&) const = default;
};
struct SecurityContext {
  std::optional<int64_t> runAsUser, runAsGroup;
  std::optional<bool> runAsNonRoot, privileged, readOnlyRootFilesystem, allowPrivilegeEscalation;
  Capabilities capabilities;
  bool operator==(const SecurityContext&) const = default;
};
// spec.securityContext: defaults for every container, and the supplementary groups. fsGroup is
// one more supplementary group of every container, and the group of its volumes' files
// (docs/security.md); fsGroupChangePolicy as written: unset, "Always" or "OnRootMismatch".
struct PodSecurityContext {
  std::optional<int64_t> runAsUser, runAsGroup;
  std::optional<bool> runAsNonRoot;
  std::vector<int64_t> supplementalGroups;
  std::optional<int64_t> fsGroup;
  std::optional<std::string> fsGroupChangePolicy;
  bool fsGroupOnRootMismatch() const { return fsGroupChangePolicy == "OnRootMismatch"; }
  bool operator==(const PodSecurityContext&) const = default;
};

struct Container {
  std::string name;
  std::string image;                 // "busybox", "busybox:1.36"
  std::vector<std::string> command;  // entrypoint; empty = image default (/bin/sh)
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::string workingDir;  // empty = "/"
  Resources resources;
  std::vector<VolumeMount> volumeMounts;
  std::vector<ContainerPort> ports;
  SecurityContext securityContext;
  std::vector<EnvFromSource> envFrom;
  // "Always", "IfNotPresent", "Never"; empty = Kubernetes' default, decided from the image
  // reference when the pod starts (agent/image_pull_policy.h).
  std::string imagePullPolicy;
  ContainerProbes probes;  // livenessProbe, readinessProbe, startupProbe, lifecycle
  // initContainers[].restartPolicy: only "Always", which makes it a sidecar (docs/workloads.md).
  std::optional<RestartPolicy> restartPolicy;
  bool isSidecar() const { return restartPolicy == RestartPolicy::Always; }
  bool operator==(const Container&) const = default;
};

// spec.dnsConfig: merged into the resolv.conf that dnsPolicy starts from.
struct DnsOption {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const DnsOption&) const = default;
};
struct DnsConfig {
  std::vector<std::string> nameservers;  // IP addresses
  std::vector<std::string> searches;
  std::vector<DnsOption> options;
  bool operator==(const DnsConfig&) const = default;
};

// spec.hostAliases: extra /etc/hosts lines.
struct HostAlias {
  std::string ip;
  std::vector<std::string> hostnames;
  bool operator==(const HostAlias&) const = default;
};

// Kubernetes' dnsPolicy. boxd runs no cluster DNS, so ClusterFirst (Kubernetes' default) and
// ClusterFirstWithHostNet both mean Default: the host's resolvers.
inline constexpr std::string_view kDnsPolicies[] = {"ClusterFirst", "ClusterFirstWithHostNet",
                                                    "Default", "None"};

struct PodSpec {
  std::string name;                               // metadata.name, DNS-1123 label
  std::string namespaceName = kDefaultNamespace;  // metadata.namespace, DNS-1123 label
  std::string key() const { return objectKey(namespaceName, name); }
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<Volume> volumes;
  std::vector<Container> initContainers;  // run one at a time, in order, each to exit 0
  std::vector<Container> containers;
  RestartPolicy restartPolicy = RestartPolicy::Always;
  std::string hostname;                        // empty = pod name
  int64_t terminationGracePeriodSeconds = 30;  // Kubernetes' default
  bool hostNetwork = false;                    // the host's network (and UTS) namespace
  std::string dnsPolicy = "ClusterFirst";
  std::optional<DnsConfig> dnsConfig;
  std::vector<HostAlias> hostAliases;
  PodSecurityContext securityContext;
  std::vector<std::string> imagePullSecrets;  // names of Secrets with registry credentials
  // spec.nodeSelector: labels this host must carry (agent config nodeLabels), else not run.
  std::map<std::string, std::string> nodeSelector;
  // Scheduling on boxd's one node (specs/scheduling.h, agent/scheduling.h).
  Affinity affinity;
  std::vector<TopologySpreadConstraint> topologySpreadConstraints;
  // spec.serviceAccountName (or the deprecated serviceAccount): recorded, no token is mounted
  // (boxd has no API server). automountServiceAccountToken: set explicitly to true.
  std::string serviceAccountName;
  bool automountServiceAccountToken = false;
  bool operator==(const PodSpec&) const = default;
};

// The annotation that carried init containers (a JSON array) before spec.initContainers existed.
// Still accepted, with a deprecation warning.
inline constexpr const char* kLegacyInitContainersAnnotation =
    "pod.beta.kubernetes.io/init-containers";

// Canonical JSON of the normalized spec: fields in a fixed order, defaults filled in. The same
// pod written in YAML or JSON, with any key order or quantity spelling, gives the same JSON.
nlohmann::json toJson(const PodSpec& pod);
// Reads back what toJson wrote (from the state store). Not for user input: use parseSpecFile.
Result<PodSpec> fromJson(const nlohmann::json& j);
// sha256 of the canonical JSON: a pod's identity for diffing desired against recorded.
std::string specHash(const PodSpec& pod);

// Splits "name[:tag][@digest]"; a registry host with a port is kept in name
// ("localhost:5000/x/busybox"). tag defaults to "latest" unless a digest pins the image
// ("busybox@sha256:…" → tag empty, digest "sha256:…"). Names are not normalized: "busybox" and
// "docker.io/library/busybox" stay distinct. Does not validate; the parser rejects malformed
// references before they get here.
struct ImageRef {
  std::string name;
  std::string tag;     // empty only when pinned by digest alone
  std::string digest;  // "sha256:<hex>" or empty
  std::string str() const {
    std::string s = name;
    if (!tag.empty()) s += ":" + tag;
    if (!digest.empty()) s += "@" + digest;
    return s;
  }
};
ImageRef parseImageRef(const std::string& ref);

}  // namespace boxd::specs
