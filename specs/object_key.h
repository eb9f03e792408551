// Namespaced objects (Pods, Secrets, ConfigMaps) and the key boxd knows them by.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace boxd::specs {

// metadata.namespace when a document names none, as in Kubernetes.
inline constexpr const char* kDefaultNamespace = "default";

// The key of an object inside boxd (state store, events, API, desired state): its bare name in
// the default namespace, "namespace/name" in any other. Names and namespaces never hold '/', so
// the key is unambiguous, and the pods of a boxd that had no namespaces keep their keys.
inline std::string objectKey(std::string_view ns, std::string_view name) {
  if (ns.empty() || ns == kDefaultNamespace) return std::string(name);
  return std::string(ns) + "/" + std::string(name);
}

// The inverse of objectKey: {namespace, name}.
inline std::pair<std::string, std::string> splitObjectKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return {kDefaultNamespace, std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

}  // namespace boxd::specs
