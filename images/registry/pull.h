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
//                                    io.boxd.image.absent-blobs         only when haveBlob skipped
//                                                                       layers: their digests,
//                                                                       comma-separated
//   layoutDir/blobs/sha256/<hex>   the manifest, the config and every layer, as the registry
//                                  served them (layers stay compressed), except the layers
//                                  haveBlob said the caller has (see PullOptions::haveBlob)
//
//   ping ─► manifest(tag|digest) ─index?─► select platform ─► manifest(digest)
//        ─► config + layers, maxParallel at a time, each: tmp file ─verify size+sha256─► rename
//        ─► manifest blob ─► index.json, oci-layout (written last: a layout with an index.json
//                            is complete)
//
// Endpoints: the mirrors the config names for the reference's registry, in order, then the
// registry itself; the first that serves the manifest serves every blob of the pull.
// Any failure, and a cancel through PullOptions::cancel, removes everything the pull wrote (the
// directory too if the pull created it): no blobs/sha256/.tmp-* is left behind.
// Blocking: call from a worker thread.
#pragma once

#include <atomic>
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
  // boxd pulls nothing for pods (images come from `boxctl image import` only); a pod whose
  // image is absent waits with ImageNotFound. Read by the agent, not by pullImage.
  bool offline = false;
};

struct PullEvent {
  // BlobQueued: a layer to download (each, after the manifest is resolved, before any
  // download starts; not the config). BlobSkipped: haveBlob said the caller has this layer;
  // it is not downloaded.
  enum class Kind {
    Resolved,
    BlobStart,
    BlobProgress,
    BlobDone,
    BlobRetry,
    BlobSkipped,
    BlobQueued
  };
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
  // Set (by a signal handler, another thread): transfers stop within about a second, the pull
  // removes what it wrote and fails with PullReason::Cancelled. Must outlive the call.
  const std::atomic<bool>* cancel = nullptr;
  // Layers the caller already has (e.g. the store unpacked them for another image).
  // Contract:
  //  - asked once per distinct layer digest of the chosen image manifest, as the manifest
  //    lists it (the digest of the compressed blob, not the diff ID), on the calling thread,
  //    after the manifest is resolved and before any blob is downloaded; never for the config
  //    or the manifest, which are always downloaded (a layer that is also the config too);
  //  - true: the layer is neither downloaded nor verified. The layout's manifest still lists it
  //    but blobs/sha256/<hex> is absent; PulledImage::skippedLayers names it, a BlobSkipped
  //    event reports it, and index.json's descriptor carries io.boxd.image.absent-blobs. Such a
  //    layout is not a complete OCI layout (skopeo refuses it): the caller supplies those
  //    layers from what it has, and vouches that it holds content with that digest;
  //  - empty, or false for every digest: every blob is downloaded (the default).
  std::function<bool(const std::string& digest)> haveBlob;
  // "host:port:address" entries resolved without DNS (curl's CURLOPT_RESOLVE): tests reach a
  // registry on 127.0.0.0/8 under a name. Not part of boxd.yaml.
  std::vector<std::string> resolve;
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
  std::vector<std::string> skippedLayers;  // digests haveBlob said the caller has
  int64_t sizeBytes = 0;     // manifest + config + layers, compressed, as the manifest says
  int64_t fetchedBytes = 0;  // of those, what this pull downloaded (without skipped layers)
};

Result<PulledImage> pullImage(const Reference& ref, const std::string& layoutDir,
                              const PullOptions& options);

}  // namespace boxd::images
