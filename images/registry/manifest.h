// Manifests as the registry serves them: an index (OCI image index or Docker manifest list)
// naming one manifest per platform, or an image manifest (OCI or Docker schema 2) naming a
// config and layers. Docker schema 1 is refused: it has no config blob and no content digests
// for its layers' uncompressed contents.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace boxd::images {

inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
// The Accept header of a manifest request: the four kinds above, schema 1 deliberately absent.
std::string manifestAccept();

// The largest manifest or index boxd reads (containerd's limit too).
inline constexpr int64_t kMaxManifestBytes = 4 << 20;

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
  std::string str() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
  }
};

struct Descriptor {
  std::string mediaType;
  std::string digest;  // sha256:<hex>
  int64_t size = 0;
  bool hasPlatform = false;
  Platform platform;
  std::vector<std::string> urls;
};

enum class ManifestKind { Index, Image };

struct Manifest {
  ManifestKind kind = ManifestKind::Image;
  std::string mediaType;              // as served (Content-Type) or as the document says
  std::vector<Descriptor> manifests;  // Index
  Descriptor config;                  // Image
  std::vector<Descriptor> layers;     // Image
};

// Parses a manifest body; contentType is the response's Content-Type (may be empty or generic).
// `what` names it in errors ("manifest of 127.0.0.1:5000/app:v1").
Result<Manifest> parseManifest(std::string_view body, std::string_view contentType,
                               const std::string& what);

// The platform of this host as OCI names it: linux and the GOARCH of uname's machine
// (x86_64 -> amd64, aarch64 -> arm64/v8, armv7l -> arm/v7, ...).
Platform hostPlatform();

// The manifest of an index for `want`: os and architecture equal; the variant the best one
// `want` runs (arm/v7 runs v7, v6, v5 in that order; arm64 v8 or none; amd64 none or v1).
// Entries are otherwise taken in index order. The error lists the platforms the index has.
Result<Descriptor> selectPlatform(const Manifest& index, const Platform& want,
                                  const std::string& what);

}  // namespace boxd::images
