// Image references as containerd reads them (distribution's ParseDockerRef):
//
//   nginx                        -> docker.io/library/nginx:latest
//   nginx:1.25                   -> docker.io/library/nginx:1.25
//   user/app@sha256:<64 hex>     -> docker.io/user/app@sha256:<64 hex>   (a digest drops the tag)
//   localhost:5000/app           -> localhost:5000/app:latest
//   quay.io/org/app:v1           -> quay.io/org/app:v1
//
// The first path component is a registry host when it holds a '.' or ':', is "localhost", or has
// upper-case letters; otherwise the registry is docker.io and a single component gets "library/".
// index.docker.io is the same registry as docker.io. Only sha256 digests are accepted.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace boxd::images {

struct Reference {
  std::string domain;  // "docker.io", "localhost:5000", "127.0.0.1:5000"
  std::string path;    // "library/nginx"
  std::string tag;     // "latest"; empty when pulled by digest
  std::string digest;  // "sha256:<64 hex>" or empty

  std::string name() const { return domain + "/" + path; }  // docker.io/library/nginx
  // The normalised reference: name:tag or name@digest.
  std::string str() const;
  // host[:port] the registry API is served from (docker.io's is registry-1.docker.io).
  std::string apiHost() const;
  // The tag, or the digest, as the manifest URL's last component.
  std::string manifestRef() const { return digest.empty() ? tag : digest; }
};

Result<Reference> parseReference(std::string_view text);

// True for "sha256:" followed by 64 lowercase hex characters.
bool validDigest(std::string_view digest);

// The host part (without port) of host[:port], IPv6 literals in brackets kept bracketed.
std::string hostOnly(std::string_view hostPort);
// localhost, 127.0.0.0/8 and [::1]: registries Docker reaches over plain HTTP without config.
bool isLoopbackHost(std::string_view hostPort);

}  // namespace boxd::images
