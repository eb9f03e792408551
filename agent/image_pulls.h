// Pulls into boxd's image store (the worker-thread half; the agent's half is image_pulls.cc):
//
//   store.makeTemporary() ─► pullImage(ref, tmp, haveBlob = layers the store holds) ─►
//   skipped layers checked against the config's diff IDs ─► store.importLayout(tmp)
//
// haveBlob answers from the store's own records: each image keeps its manifest, whose layer
// digests (compressed blobs) map one for one onto the diff IDs of the layers it unpacked. A
// layer is skipped only when that layer is still stored. Any failure leaves nothing: the pull
// removes what it wrote, importLayout removes the temporary, imported or not.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "agent/pull_progress.h"
#include "common/result.h"
#include "images/registry/pull.h"
#include "reconcilers/images/image_store.h"

namespace boxd::agent {

struct StorePull {
  std::string ref;     // the normalised reference pulled
  std::string id;      // the image id in the store
  std::string digest;  // the manifest's
  std::string repoDigest;
  int64_t sizeBytes = 0;      // unpacked, as the store counts it
  int64_t registryBytes = 0;  // as the registry counts it (compressed)
  int64_t fetchedBytes = 0;   // downloaded by this pull
  int layers = 0;
  int skippedLayers = 0;  // present in the store, not downloaded
  int newLayers = 0;      // unpacked by this pull
  int64_t elapsedMs = 0;
};

// Blob digest ("sha256:<hex>") -> diff ID ("sha256:<hex>") of every layer the store holds and
// knows the blob of. Blocking.
std::map<std::string, std::string> storedLayerBlobs(reconcilers::ImageStore& store,
                                                    const std::string& imagesDir);

// options.keyring holds the pod's credentials; the auth file's are appended here. Blocking:
// call on a worker thread. Errors keep the registry's reason (images::reasonOf). onUpdate
// (optional) is told each layer's progress (agent/pull_progress.h), on this thread and the
// pull's. An image pulled through an index (a multi-platform tag or `@<index digest>`) records
// the index's digest in the store, so `repo@<index digest>` finds it afterwards.
Result<StorePull> pullIntoStore(reconcilers::ImageStore& store, const std::string& imagesDir,
                                const images::Reference& ref, images::PullOptions options,
                                std::function<void(const LayerUpdate&)> onUpdate = {});

}  // namespace boxd::agent
