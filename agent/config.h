// boxd's configuration: defaults, then /etc/boxd/boxd.yaml (or --config), then flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "images/registry/pull.h"
#include "reconcilers/host/host.h"

namespace YAML {
class Node;
}

namespace boxd::agent {

// Pod networking (docs/networking.md). Pods without hostNetwork get a veth on the bridge and an
// address from the subnet; hostPorts are forwarded with nftables.
struct NetworkConfig {
  bool enabled = true;  // false: pods get loopback only, as before boxd had networking
  std::string bridge = "boxd0";
  std::string subnet;      // empty: 10.88.0.0/16, or the next free /16 up to 10.99 if taken
  int mtu = 0;             // 0: the kernel's default (1500)
  bool hostPorts = true;   // forward ports[].hostPort to pods (nftables DNAT)
  bool masquerade = true;  // traffic from pods to beyond the subnet leaves with the host's address
  // boxd turns net.ipv4.ip_forward on at start: hostPorts reached from other machines, pods
  // reaching beyond the host and a pod reaching its own hostPort all need it.
  bool ipForward = true;
  std::string nftTable = "boxd";                // the nftables table (family ip) boxd owns
  std::string resolvConf = "/etc/resolv.conf";  // the host resolvers pods start from
  std::string hostsFile = "/etc/hosts";         // the base of hostNetwork pods' /etc/hosts
};

// Block volumes (docs/storage.md). The data path of each kind is chosen by host capability:
// "auto" takes the kernel's (open-iscsi, krbd) where the host has it, else boxd-blockd.
struct BlockConfig {
  std::string iscsiBackend = "auto";  // auto, kernel, user
  std::string rbdBackend = "auto";    // auto, kernel, user
  int64_t connectTimeoutMs = 10000;   // login / cluster connection
  int64_t ioTimeoutMs = 30000;        // one I/O of the userspace path: past it, EIO
  std::string helperBinary;           // boxd-blockd; empty = next to boxd
  std::string initiatorName;          // iSCSI initiator name; empty = the host's, else generated
};

struct Config {
  std::string specsDir = "/etc/boxd/specs";
  reconcilers::Paths paths;       // stateDir, runDir, cgroupParent, shimBinary
  int resyncSeconds = 30;         // full re-observe of every pod (drift repair)
  int rescanSeconds = 10;         // re-read the specs dir and compare content hashes
  size_t specMaxBytes = 4 << 20;  // a larger file in the specs dir is reported, not read
  int restartBackoffMs = 10000;   // first delay after the first quick restart; doubles
  int maxBackoffMs = 300000;      // 5 minutes, as kubelet
  // A Job's pod after a failure waits this long, doubling per failure since its last success,
  // up to jobMaxBackoffMs (Kubernetes' job controller: 10 s, capped at 6 minutes).
  int64_t jobBackoffMs = 10000;
  int64_t jobMaxBackoffMs = 360000;
  std::string logLevel = "info";
  int64_t logMaxBytes = 10 << 20;  // a container's log file is rotated past this size
  int logMaxFiles = 2;             // files kept per container run: the current + rotated ones
  // pids.max of every pod's cgroup (fork bombs stay inside the pod). 0 = unlimited (the YAML
  // takes 0 or -1). A node setting, as kubelet's podPidsLimit: a pod spec has no field for it.
  int64_t podPidsLimit = 2048;
  // boxctl's socket: connections open at once (more are refused with an error line) and how
  // long a connection may stay without a complete request line.
  int apiMaxConnections = 64;
  int apiIdleTimeoutMs = 30000;
  // A watch (status -w, events -w) may fall behind by this many bytes before boxd drops it.
  int64_t apiWatchQueueBytes = 1 << 20;
  // Events kept: the newest eventsPerPod of each pod; those of a deleted pod for
  // deletedPodEventsSeconds after its deletion; at most eventsMaxRows in all (oldest go first).
  int eventsPerPod = 100;
  int64_t deletedPodEventsMs = 3600 * 1000;
  int eventsMaxRows = 10000;
  // ephemeral-storage (agent/ephemeral_storage.h): the limit of a container that sets none, as a
  // LimitRange default (0 = none), and the entries one measurement of a pod may walk.
  int64_t defaultEphemeralStorageLimit = int64_t{10} << 30;
  int64_t ephemeralStorageMaxEntries = 1000000;
  // Project quotas where the pods' filesystem has them (agent/project_quotas.h); false keeps
  // the measured path. The project IDs boxd allocates ("projectQuotaIds: MIN-MAX").
  bool projectQuota = true;
  uint32_t projectQuotaIdMin = 1500000000;
  uint32_t projectQuotaIdMax = 1500999999;
  // Bytes kept free on the state dir's filesystem (state/space_reserve.h): given up when the
  // state database hits ENOSPC, so a teardown can still be journaled. 0 = none.
  int64_t stateReserveBytes = int64_t{16} << 20;
  NetworkConfig network;
  BlockConfig block;
  images::RegistryConfig images;  // registries: auth file, insecure ones, mirrors, CA dirs
  // Where the Prometheus metrics are served: "" = not served (the default), "unix:/path" or
  // "127.0.0.1:PORT" (agent/metrics.h). `boxctl metrics` works either way.
  std::string metricsAddress;
  // Labels of this node, matched by pods' nodeSelector, over the well-known kubernetes.io/hostname,
  // kubernetes.io/os and kubernetes.io/arch (agent/node_labels.h).
  std::map<std::string, std::string> nodeLabels;

  std::string socketPath() const { return paths.runDir + "/boxd.sock"; }
};

// Applies the YAML config file at path (keys: specs, stateDir, runDir, cgroupParent,
// resyncSeconds, rescanSeconds, restartBackoffSeconds, logLevel, logMaxBytes, logMaxFiles,
// podPidsLimit, apiMaxConnections, apiIdleTimeoutSeconds, apiWatchQueueBytes, eventsPerPod,
// deletedPodEventsSeconds, eventsMaxRows, specMaxBytes, nodeLabels (a mapping of label keys to
// values), a network mapping with the fields of NetworkConfig, and a block mapping:
// iscsiBackend, rbdBackend, connectTimeoutSeconds, ioTimeoutSeconds, helperBinary,
// initiatorName), and an images mapping: authFile, insecureRegistries (a list of host[:port]),
// mirrors (registry -> list of host[:port]), certsDir). Unknown keys are errors.
Status loadConfigFile(const std::string& path, Config& cfg);

// The storage keys of the config file (config_storage.cc): defaultEphemeralStorageLimit and
// stateReserveBytes (quantities: "10Gi", or 0), ephemeralStorageMaxEntries, projectQuota (a
// bool), projectQuotaIds ("MIN-MAX", 1 <= MIN <= MAX < 2^32).
bool isStorageKey(const std::string& key);
Status applyStorageKey(Config& cfg, const std::string& key, const YAML::Node& v);

// Parses boxd's command line into cfg. Returns false with a message for --help (ok) or errors.
struct CliOutcome {
  bool exit = false;  // --help printed or error
  int code = 0;
  std::string message;
};
CliOutcome parseBoxdArgs(int argc, char** argv, Config& cfg);

}  // namespace boxd::agent
