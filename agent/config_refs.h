// What a container gets from ConfigMaps, Secrets and its pod's own fields: its environment
// (env valueFrom, envFrom, $(VAR) expansion), its command line, and the files of its pod's
// configMap / secret / downwardAPI / projected volumes. Pure: the objects and the pod's facts
// come in, so every Kubernetes rule is unit-tested.
//
// A missing ConfigMap, Secret or key that is not optional is an error naming the object and the
// key (kubelet's CreateContainerConfigError); values never appear in errors or warnings.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "specs/config_sources.h"
#include "specs/pod.h"
#include "specs/secret.h"

namespace boxd::agent {

// The objects and facts the references read.
struct ConfigContext {
  const std::map<std::string, specs::ConfigMap>* configMaps = nullptr;
  const std::map<std::string, specs::Secret>* secrets = nullptr;
  std::string uid, namespaceName = "default";
  std::string podIp, hostIp, nodeName;
  int64_t nodeCpuMilli = 0, nodeMemoryBytes = 0;  // limits.* of a container without a limit
};

struct ContainerConfig {
  std::vector<std::string> env;            // NAME=value, in Kubernetes' order (HOSTNAME first)
  std::vector<std::string> command, args;  // as the spec writes them, $(VAR) expanded
  std::vector<std::string> argv;           // command + args; neither: /bin/sh (a rootfs image)
  // Keys of envFrom sources skipped as invalid variable names (kubelet's event), without values.
  std::vector<std::string> skippedKeys;
};

Result<ContainerConfig> containerConfig(const specs::PodSpec& pod, const specs::Container& c,
                                        const ConfigContext& ctx);

// A file of a config volume, relative to the volume: "app.conf", "conf/a.yaml".
struct VolumeFile {
  std::string content;
  unsigned mode = 0644;
  bool operator==(const VolumeFile&) const = default;
};
using VolumeFiles = std::map<std::string, VolumeFile>;

// The files of v (v.config set). Later sources of a projected volume win over earlier ones for
// the same path, as Kubernetes writes them.
Result<VolumeFiles> configVolumeFiles(const specs::PodSpec& pod, const specs::Volume& v,
                                      const ConfigContext& ctx);

// What boxd says of a key that a reference names and its object lacks, in kubelet's words:
// "couldn't find key K in ConfigMap NS/NAME" (or Secret). One text for the container's error at
// run time and for `boxctl validate`. inBinaryData: a ConfigMap holds the key under binaryData,
// which env[].valueFrom does not read (kubelet reads data only); said so.
std::string missingKeyMessage(bool secret, const std::string& namespaceName,
                              const std::string& name, const std::string& key,
                              bool inBinaryData = false);

// The downward API value of fieldPath ("metadata.labels['app']", "status.podIP", ...).
std::string fieldValue(const specs::PodSpec& pod, const std::string& fieldPath,
                       const ConfigContext& ctx);
// resourceFieldRef of container `self` (when ref.containerName is empty): rounded up to the
// divisor, as Kubernetes; a limit that is not set reads as the node's capacity.
std::string resourceValue(const specs::PodSpec& pod, const specs::ResourceFieldRef& ref,
                          const std::string& self, const ConfigContext& ctx);

}  // namespace boxd::agent
