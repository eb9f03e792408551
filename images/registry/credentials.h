// Registry credentials: Docker config JSON (the data of a kubernetes.io/dockerconfigjson or
// kubernetes.io/dockercfg Secret, or a node-level auth file in the same format) and the
// lookup of an image's credentials the way kubelet's keyring does it.
//
// A credential's secret parts never appear in an error, a log line, argv or the environment:
// errors name the source and the registry key, never the value.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "images/registry/reference.h"

namespace boxd::images {

struct Credential {
  std::string username;
  std::string password;
  std::string source;  // where it came from, for messages: "secret regcred", "/etc/boxd/auth.json"
};

// The keys (registry locations) of a Docker config and their credentials, matched as kubelet
// matches them: keys are schemeless URLs ("registry.example.com:5000/team", "*.example.com",
// "https://index.docker.io/v1/"), longest first; a key matches an image when its host labels
// match one for one ('*' globs within a label), the ports are equal and the image's path starts
// with the key's path. Keys for index.docker.io also serve docker.io images.
class Keyring {
 public:
  // The first matching credential for the reference, if any.
  std::optional<Credential> lookup(const Reference& ref) const;
  // For a registry host[:port] alone (a mirror): the key must match host and port exactly.
  std::optional<Credential> lookupHost(std::string_view hostPort) const;
  void add(const std::string& location, Credential c);
  void merge(const Keyring& other);  // other's entries after this one's
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string key;  // host[:port][/path], no scheme, /v1/ and /v2/ dropped
    Credential cred;
  };
  std::vector<Entry> entries_;  // sorted: longer keys first
};

// Parses Docker config JSON: {"auths": {LOCATION: ENTRY}} (.dockerconfigjson) or, when
// `legacy`, {LOCATION: ENTRY} (.dockercfg). ENTRY has "auth" (base64 of user:password, which
// wins) or "username" and "password". `source` names the file or Secret in errors.
Result<Keyring> parseDockerConfig(std::string_view json, bool legacy, const std::string& source);

// The credentials of an image pull Secret: type kubernetes.io/dockerconfigjson with key
// .dockerconfigjson, or kubernetes.io/dockercfg with key .dockercfg (data already
// base64-decoded, as specs::Secret holds it).
Result<Keyring> keyringFromSecret(const std::string& name, const std::string& type,
                                  const std::map<std::string, std::string>& data);

// A node-level auth file (the config's images.authFile): .dockerconfigjson format, or the
// legacy one when the file has no "auths". A missing file is an empty keyring.
Result<Keyring> loadAuthFile(const std::string& path);

// A WWW-Authenticate challenge: scheme "Bearer" or "Basic" and its parameters (lowercased
// names), e.g. realm, service, scope.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
  std::string param(const std::string& key) const {
    auto it = params.find(key);
    return it == params.end() ? "" : it->second;
  }
};
// Parses a header value; several challenges may be listed, comma-separated.
std::vector<Challenge> parseChallenges(std::string_view header);

std::string base64Encode(std::string_view bytes);

}  // namespace boxd::images
