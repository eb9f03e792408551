// Kubernetes Secret documents (kind: Secret, v1) from the specs directory: credentials that pods
// name by secretRef (iSCSI CHAP, the cephx key). Values are kept in memory only and never appear
// in logs, events, status, describe, errors, journal rows, command lines or environments.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace boxd::specs {

struct Secret {
  std::string name;             // metadata.name, DNS-1123 subdomain
  std::string type = "Opaque";  // "kubernetes.io/iscsi-chap", ...
  // data (base64-decoded) merged with stringData (which wins, as in Kubernetes): raw bytes.
  std::map<std::string, std::string> data;
  bool immutable = false;
  std::string namespaceName = "default";  // metadata.namespace: only pods there see it
  bool operator==(const Secret&) const = default;
};

// Redacted view for anything printed: the keys and their sizes, never the values.
std::string describeSecret(const Secret& s);

// A data value as Kubernetes decodes it: standard alphabet, '=' padding required, line breaks
// ignored. nullopt if it is not valid base64.
std::optional<std::string> decodeBase64(std::string_view text);

// The cephx key of an rbd volume: data key "key", surrounding whitespace removed (a key stored
// with `echo KEY | base64` ends with a newline). The error names the secret and the key.
Result<std::string> cephKey(const Secret& s);

// The data keys of an iSCSI CHAP Secret (type kubernetes.io/iscsi-chap), as Kubernetes names them.
inline constexpr const char* kChapSessionUser = "node.session.auth.username";
inline constexpr const char* kChapSessionPassword = "node.session.auth.password";
inline constexpr const char* kChapSessionUserIn = "node.session.auth.username_in";
inline constexpr const char* kChapSessionPasswordIn = "node.session.auth.password_in";
inline constexpr const char* kChapDiscoveryUser = "discovery.sendtargets.auth.username";
inline constexpr const char* kChapDiscoveryPassword = "discovery.sendtargets.auth.password";
inline constexpr const char* kChapDiscoveryUserIn = "discovery.sendtargets.auth.username_in";
inline constexpr const char* kChapDiscoveryPasswordIn = "discovery.sendtargets.auth.password_in";

// CHAP credentials; empty = not given. The *In pair is the target's credentials for mutual CHAP.
struct ChapCredentials {
  std::string sessionUser, sessionPassword, sessionUserIn, sessionPasswordIn;
  std::string discoveryUser, discoveryPassword, discoveryUserIn, discoveryPasswordIn;
};
// Which CHAP the volume asks for (its chapAuthDiscovery / chapAuthSession).
struct ChapNeeds {
  bool discovery = false;
  bool session = false;
};
// Reads the CHAP keys of s. Errors (naming the secret and key, never a value): a user without
// its password or the reverse, a value with a control character (a newline from `echo` without
// -n), or a pair that `needs` asks for and the secret lacks. Values are taken as written.
Result<ChapCredentials> chapCredentials(const Secret& s, ChapNeeds needs = {});

}  // namespace boxd::specs
