// Kubernetes Secret documents (kind: Secret, v1) from the specs directory: credentials that pods
// name by secretRef (iSCSI CHAP, the cephx key). Values are kept in memory only and never appear
// in logs, events, status, describe, errors, journal rows, command lines or environments.
#pragma once

#include <map>
#include <string>

namespace boxd::specs {

struct Secret {
  std::string name;            // metadata.name, DNS-1123 subdomain
  std::string type = "Opaque";  // "kubernetes.io/iscsi-chap", ...
  // data (base64-decoded) merged with stringData (which wins, as in Kubernetes): raw bytes.
  std::map<std::string, std::string> data;
  bool immutable = false;
  bool operator==(const Secret&) const = default;
};

// Redacted view for anything printed: the keys and their sizes, never the values.
std::string describeSecret(const Secret& s);

}  // namespace boxd::specs
