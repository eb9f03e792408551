// Reading images out of the formats an air-gapped host is given, and the one a pull writes:
//   OCI image layout  oci-layout, index.json (manifests, maybe a nested index per platform),
//                     blobs/sha256/<hex>: manifest, config, layers
//   docker save       manifest.json [{Config, RepoTags, Layers}] with the config and layer tars
// Pure parsing and digest checks of the small blobs (manifest against the digest naming it,
// config against the manifest's); layer blobs are verified while they are unpacked.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kRefNameAnnotation = "org.opencontainers.image.ref.name";

struct LayerSource {
  std::string path;    // the blob file
  std::string digest;  // sha256 hex of the blob, empty when the source names none (docker save)
  std::string diffId;  // sha256 hex of the uncompressed tar, from the config's rootfs.diff_ids
  std::string mediaType;
};

struct ImageSource {
  std::string manifestDigest;  // sha256 hex; empty for docker save (no registry manifest)
  std::string mediaType;       // the manifest's; empty for docker save
  std::string manifestPath;    // the manifest blob; empty for docker save
  std::string configDigest;    // sha256 hex of the config blob: the image id
  std::string configPath;
  nlohmann::json config;            // the image config blob, parsed
  std::vector<LayerSource> layers;  // bottom first
  std::vector<std::string> refs;    // names the source gives it (ref.name annotation, RepoTags)
  // "sha256:<hex>" of the nested index (verified like every blob) it was chosen from.
  std::vector<std::string> indexDigests;
};

// Whether dir looks like an OCI image layout (has oci-layout) or a docker save tree
// (manifest.json, no oci-layout).
bool isOciLayout(const std::string& dir);
bool isDockerArchive(const std::string& dir);

// Every image of the layout's index.json; an index entry that is itself an index (multi
// platform) contributes the manifest for linux and this host's architecture.
Result<std::vector<ImageSource>> readOciLayout(const std::string& dir);
Result<std::vector<ImageSource>> readDockerArchive(const std::string& dir);

// This host's architecture in OCI's words (amd64, arm64, ...).
std::string hostArchitecture();

}  // namespace boxd::reconcilers
