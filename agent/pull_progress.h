// Per-layer progress of a pull into boxd's store, for `boxctl image pull` (and whoever joins a
// pull under way). A layer goes through, as `docker pull` shows them:
//
//   Waiting ─► Downloading (done/size bytes) ─► Verifying ─► Download complete
//           ─► Extracting ─► Pull complete
//   Already exists        the store has the layer; nothing downloaded or unpacked
//   Retrying              the transfer broke and starts again (Downloading next)
//
// LayerUpdateSource turns the pull's events (images::PullEvent, on the pull's threads) and the
// store's unpacking (ImageStore::LayerObserver) into LayerUpdates; byte progress of a layer at
// most every kProgressIntervalMs, every state change always. PullProgress keeps the latest
// update of each layer on the loop thread: a client joining a pull under way is sent those
// first. The config blob is not a layer and is not shown. Lines on the socket:
//   {"type": "LAYER", "digest": "sha256:…", "state": "Downloading", "done": N, "size": N}
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "images/registry/pull.h"

namespace boxd::agent {

constexpr int64_t kProgressIntervalMs = 200;

struct LayerUpdate {
  std::string digest;  // the layer blob's, "sha256:<hex>"
  std::string state;
  int64_t done = 0;  // bytes downloaded (Downloading, Verifying, Download complete)
  int64_t size = 0;  // the blob's size, as the manifest says
};

class LayerUpdateSource {
 public:
  // emit: called on the thread of the event, one call at a time. nowMs: a monotonic clock.
  LayerUpdateSource(std::function<void(const LayerUpdate&)> emit, std::function<int64_t()> nowMs);
  void pullEvent(const images::PullEvent& e);
  void unpacking(const std::string& digest, bool done);

 private:
  struct Layer {
    int64_t size = 0;
    std::string state;
    int64_t lastEmitMs = 0;
  };
  void set(Layer& l, const std::string& digest, const std::string& state, int64_t done);
  std::function<void(const LayerUpdate&)> emit_;
  std::function<int64_t()> now_;
  std::map<std::string, Layer> layers_;  // only layers: the config never gets a row
};

class PullProgress {
 public:
  void apply(const LayerUpdate& u);
  std::vector<nlohmann::json> lines() const;  // the latest of each layer, in order of appearance
  static nlohmann::json line(const LayerUpdate& u);

 private:
  std::vector<LayerUpdate> layers_;
};

}  // namespace boxd::agent
