// Configuration a pod takes from outside its own spec: ConfigMap documents, and the volume and
// environment sources that read ConfigMaps, Secrets and the pod's own fields (Kubernetes'
// configMap, secret, downwardAPI and projected volumes; env valueFrom and envFrom). Pure data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace boxd::specs {

// kind: ConfigMap (v1). data holds text, binaryData raw bytes (base64 in the document); a key is
// in one of them only, as Kubernetes requires.
struct ConfigMap {
  std::string name;  // DNS-1123 subdomain
  std::map<std::string, std::string> data;
  std::map<std::string, std::string> binaryData;
  bool immutable = false;
  std::string namespaceName = "default";  // metadata.namespace: only pods there see it
  bool operator==(const ConfigMap&) const = default;
};

// A resource of a container as the downward API reads it (resourceFieldRef).
struct ResourceFieldRef {
  std::string containerName;  // empty in env: the container itself
  std::string resource;       // limits.cpu, limits.memory, requests.cpu, requests.memory
  // The divisor in the resource's unit: millicores for cpu, bytes for memory. Default 1 core or
  // 1 byte, as Kubernetes.
  int64_t divisor = 0;
  bool operator==(const ResourceFieldRef&) const = default;
};

// One key of a ConfigMap or Secret written as a file of a volume (items[]).
struct KeyToPath {
  std::string key;
  std::string path;             // relative, no "..", as Kubernetes
  std::optional<int64_t> mode;  // 0..0777
  bool operator==(const KeyToPath&) const = default;
};

// One file of a downwardAPI volume.
struct DownwardAPIFile {
  std::string path;
  std::string fieldPath;  // metadata.name, metadata.namespace, metadata.uid, metadata.labels,
                          // metadata.annotations; empty when resource is set
  std::optional<ResourceFieldRef> resource;
  std::optional<int64_t> mode;
  bool operator==(const DownwardAPIFile&) const = default;
};

// A configMap, secret or downwardAPI source: a whole volume, or one source of a projected one.
struct ConfigSource {
  enum class Kind { ConfigMap, Secret, DownwardAPI };
  Kind kind = Kind::ConfigMap;
  std::string name;              // the ConfigMap or Secret; empty for DownwardAPI
  std::vector<KeyToPath> items;  // empty: every key, as a file named after it
  std::vector<DownwardAPIFile> fields;
  bool optional = false;  // a missing object (or item key) is an empty source, not an error
  bool operator==(const ConfigSource&) const = default;
};

// configMap / secret / downwardAPI / projected: files that boxd writes with Kubernetes' atomic
// layout (..<timestamp> + ..data + one link per top-level name) and keeps up to date.
struct ConfigVolume {
  std::string type;  // "configMap", "secret", "downwardAPI" or "projected": how it was written
  std::vector<ConfigSource> sources;
  int64_t defaultMode = 0644;
  bool holdsSecret() const {
    for (const auto& s : sources)
      if (s.kind == ConfigSource::Kind::Secret) return true;
    return false;
  }
  bool operator==(const ConfigVolume&) const = default;
};

// env[].valueFrom: exactly one of them.
struct EnvVarSource {
  enum class Kind { ConfigMapKey, SecretKey, Field, Resource };
  Kind kind = Kind::ConfigMapKey;
  std::string name, key;  // ConfigMapKey / SecretKey
  bool optional = false;
  std::string fieldPath;  // Field: metadata.name, metadata.labels['x'], status.podIP, ...
  ResourceFieldRef resource;
  bool operator==(const EnvVarSource&) const = default;
};

// envFrom[]: every key of a ConfigMap or Secret, each prefixed.
struct EnvFromSource {
  bool secret = false;
  std::string name;
  std::string prefix;
  bool optional = false;
  bool operator==(const EnvFromSource&) const = default;
};

}  // namespace boxd::specs
