// The layered, content-addressed image store. Each layer is unpacked once, under its diff ID,
// and shared by every image that has it; an image is a small record naming its layers.
//
//   imagesDir/layers/<layer key>/fs          the layer's tree (whiteouts in overlayfs form)
//   imagesDir/layers/<layer key>/layer.json  {"diffId", "sizeBytes"}
//   imagesDir/images/<image key>/image.json  {"id", "digest", "mediaType", "layers", ...}
//                               /config.json, manifest.json   the blobs as imported
//   imagesDir/.tmp-<random>                  work in progress; removed by start()
//
// Ids and keys (keys never hold ':' or ',' so layer paths can be overlayfs lowerdirs):
//   image from a manifest or docker save  id "sha256:<config hex>"  key "sha256-<hex>"
//   rootfs import (one layer, no config)  id "<tree hex>"           key "tree-<hex>"
//   layer of an image                                               key "sha256-<diff ID hex>"
//   layer of a rootfs import                                        key "tree-<tree hex>"
// The tree hash of a rootfs import is content_hash.h's, as before layers: the ids recorded by
// older boxd versions stay valid, and start() moves their imagesDir/<hex>/rootfs into place.
//
//   import(layout | docker save | rootfs)
//     each layer not yet stored: unpack (unpack.h: safety, whiteouts, digests verified while
//       reading) ──► .tmp-X/fs ──rename──► layers/<key>   (already there: tmp discarded)
//     then the record: .tmp-Y/image.json ──rename (or exchange)──► images/<key>
//     any failure removes its temporaries; a crash leaves only .tmp-* for start() to remove.
//
// Imports share a lock that removals (remove, removeUnusedLayers) take exclusively, so a layer
// being imported is never collected before its image record exists. Blocking: call from a
// worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "reconcilers/images/oci_layout.h"

namespace boxd::reconcilers {

struct LayerInfo {
  std::string key;        // "sha256-<diff ID hex>" or "tree-<hex>"
  std::string diffId;     // "sha256:<hex>"; empty for a rootfs import
  int64_t sizeBytes = 0;  // sum of regular file sizes
};

struct ImageInfo {
  std::string id;
  std::string digest;     // "sha256:<manifest hex>" when imported with a manifest, else empty
  std::string mediaType;  // the manifest's
  // "sha256:<hex>" of the indexes (manifest lists) this manifest was chosen from: a pull by an
  // index's digest, or by a tag naming one, and an OCI layout with a nested index. Kept across
  // imports of the same image, so `repo@<index digest>` finds it (images are looked up by
  // digest, id, or one of these).
  std::vector<std::string> indexDigests;
  std::vector<LayerInfo> layers;  // bottom first
  nlohmann::json config;          // the image config blob; null for a rootfs import
  int64_t createdAtMs = 0;
  int64_t sizeBytes() const;
};

struct ImportedImage {
  std::string id;
  int64_t sizeBytes = 0;
  std::string digest;             // as ImageInfo::digest
  std::vector<std::string> refs;  // names the source gave (ref.name annotation, RepoTags)
  int newLayers = 0;              // layers unpacked by this import (the others were shared)
};

class ImageStore {
 public:
  explicit ImageStore(std::string imagesDir);

  // Removes temporaries left by an interrupted import and migrates images of the
  // whole-rootfs layout (imagesDir/<hex>/rootfs) as single-layer images. Call before any import.
  Status start();
  // A fresh empty directory inside the store (same filesystem), e.g. for a pull to write an OCI
  // image layout into; importLayout consumes it. Removed by start() if left behind.
  Result<std::string> makeTemporary();

  // src: a rootfs directory or tarball (one layer, no config), an OCI image layout directory or
  // tar, or a `docker save` directory or tar. One entry per image the source holds.
  Result<std::vector<ImportedImage>> import(const std::string& src);
  // Told each layer's unpacking: before (done false) and after (done true); digest is the
  // layer blob's ("sha256:<hex>"). A layer already stored is told once, done. On the calling
  // thread.
  using LayerObserver = std::function<void(const std::string& digest, bool done)>;
  // An OCI image layout directory from makeTemporary(); removed afterwards, imported or not.
  // indexDigest: the index a pull resolved (and verified) to this layout's manifest, recorded
  // in ImageInfo::indexDigests ("" = none; annotations of a layout are not trusted for it).
  Result<std::vector<ImportedImage>> importLayout(const std::string& layoutDir,
                                                  const LayerObserver& onLayer = {},
                                                  const std::string& indexDigest = "");

  Result<ImageInfo> info(const std::string& id);
  // The overlayfs lower dirs of the image, top layer first.
  Result<std::vector<std::string>> lowerDirs(const std::string& id);
  Result<std::vector<ImageInfo>> list();
  Result<bool> has(const std::string& id);
  // Removes the image record; absent = success. Its layers stay until removeUnusedLayers.
  // Callers make sure no pod still uses the image.
  Status remove(const std::string& id);
  // Removes the layers no image record names; returns how many. Refuses to remove anything if
  // a record cannot be read.
  Result<int> removeUnusedLayers();
  // Removes every image record not in keep and created before notAfterMs (an import finishing
  // meanwhile is not yet known to the caller), then the layers left unused; one exclusive pass.
  struct Pruned {
    std::vector<std::string> images;
    int layers = 0;
  };
  Result<Pruned> prune(const std::vector<std::string>& keep, int64_t notAfterMs);
  Status removeTemporaries();

  // An id as import() makes them (64 hex, or sha256:<64 hex>).
  static bool validId(const std::string& id);
  static std::string keyOf(const std::string& id);

 private:
  Result<std::vector<ImportedImage>> importSources(const std::vector<ImageSource>& sources,
                                                   const LayerObserver& onLayer = {});
  Result<ImportedImage> importSource(const ImageSource& src, const LayerObserver& onLayer);
  Result<ImportedImage> importRootfs(const std::string& tmp);
  Result<bool> storeLayer(const LayerSource& layer, LayerInfo& out);
  Status commitImage(const ImageInfo& img, const std::string& manifestPath,
                     const std::string& configPath);
  Status migrateLegacy(const std::string& hex);
  Result<ImageInfo> readInfo(const std::string& key);
  Result<int> removeUnusedLayersLocked();

  std::string dir_;  // canonical once start() or an import ran
  std::shared_mutex mu_;
};

}  // namespace boxd::reconcilers
