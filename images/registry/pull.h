// Pulls one image from its registry (or a mirror) into an OCI image layout directory:
//
//   layoutDir/oci-layout           {"imageLayoutVersion": "1.0.0"}
//   layoutDir/index.json           one manifest descriptor: the image manifest for the platform,
//                                  its mediaType as served (OCI or Docker schema 2), the platform
//                                  when it came from an index, and annotations:
//                                    org.opencontainers.image.ref.name  the tag (pulled by tag)
//                                    io.containerd.image.name           the normalised reference
//                                    io.boxd.image.repo-digest          name@digest the tag or
//                                                                       digest resolved to (the
//                                                                       index's when there was one)
//   layoutDir/blobs/sha256/<hex>   the manifest, the config and every layer, as the registry
//                                  served them (layers stay compressed)
//
//   ping ─► manifest(tag|digest) ─index?─► select platform ─► manifest(digest)
//        ─► config + layers, maxParallel at a time, each: tmp file ─verify size+sha256─► rename
//        ─► manifest blob ─► index.json, oci-layout (written last: a layout with an index.json
//                            is complete)
//
// Endpoints: the mirrors the config names for the reference's registry, in order, then the
// registry itself; the first that serves the manifest serves every blob of the pull.
// Any failure removes everything the pull wrote (the directory too if the pull created it).
// Blocking: call from a worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "images/registry/credentials.h"
#include "images/registry/manifest.h"
#include "images/registry/pull_error.h"
#include "images/registry/reference.h"

namespace boxd::images {

// The node's registry settings (boxd.yaml `images:`).
struct RegistryConfig {
  std::string authFile;                         // Docker config JSON; "" = none
  std::vector<std::string> insecureRegistries;  // host[:port]
  // registry (as in the normalised reference: "docker.io", "quay.io", "host:port") -> mirrors
  std::map<std::string, std::vector<std::string>> mirrors;
  std::string certsDir = "/etc/boxd/certs.d";  // <certsDir>/<host[:port]>/*.crt
};

struct PullEvent {
  enum class Kind { Resolved, BlobStart, BlobProgress, BlobDone, BlobRetry };
  Kind kind = Kind::Resolved;
  std::string digest;  // the blob's (Resolved: the manifest's)
  std::string mediaType;
  int64_t size = 0;  // expected size
  int64_t done = 0;  // bytes so far
  std::string endpoint;
};

struct PullOptions {
  RegistryConfig config;
  Keyring keyring;  // imagePullSecrets' first, then the auth file's
  Platform platform = hostPlatform();
  int maxParallel = 3;
  int maxAttempts = 4;
  int64_t timeoutMs = 30LL * 60 * 1000;  // the whole pull
  int64_t connectTimeoutMs = 10000;
  int64_t stallTimeoutMs = 30000;  // no byte for this long: the transfer is dead
  int64_t maxBytesPerSecond = 0;   // per transfer; 0 = unlimited (tests slow pulls down)
  // Called from the pull's threads, one call at a time.
  std::function<void(const PullEvent&)> progress;
};

struct PulledImage {
  Reference ref;
  std::string endpoint;  // host[:port] it came from
  std::string manifestDigest;
  std::string manifestMediaType;
  std::string
      repoDigest;     // what the tag resolved to (an index's digest for a multi-platform image)
  Platform platform;  // from the index, or the requested one
  Descriptor config;
  std::vector<Descriptor> layers;
  int64_t sizeBytes = 0;  // manifest + config + layers as downloaded
};

Result<PulledImage> pullImage(const Reference& ref, const std::string& layoutDir,
                              const PullOptions& options);

}  // namespace boxd::images
