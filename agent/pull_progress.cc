#include "agent/pull_progress.h"

namespace boxd::agent {

using nlohmann::json;

LayerUpdateSource::LayerUpdateSource(std::function<void(const LayerUpdate&)> emit,
                                     std::function<int64_t()> nowMs)
    : emit_(std::move(emit)), now_(std::move(nowMs)) {}

void LayerUpdateSource::set(Layer& l, const std::string& digest, const std::string& state,
                            int64_t done) {
  const int64_t now = now_();
  if (state == l.state && state == "Downloading" && now - l.lastEmitMs < kProgressIntervalMs)
    return;
  l.state = state;
  l.lastEmitMs = now;
  emit_({digest, state, done, l.size});
}

void LayerUpdateSource::pullEvent(const images::PullEvent& e) {
  using K = images::PullEvent::Kind;
  if (e.kind == K::BlobQueued || e.kind == K::BlobSkipped) {
    Layer& l = layers_[e.digest];
    l.size = e.size;
    set(l, e.digest, e.kind == K::BlobQueued ? "Waiting" : "Already exists", 0);
    return;
  }
  auto it = layers_.find(e.digest);
  if (it == layers_.end()) return;  // the config, the manifest
  Layer& l = it->second;
  switch (e.kind) {
    case K::BlobStart:
      return set(l, e.digest, "Downloading", 0);
    case K::BlobProgress:
      // Every byte in: the digest and size are checked and the blob committed next.
      return set(l, e.digest, e.done >= l.size && l.size > 0 ? "Verifying" : "Downloading", e.done);
    case K::BlobRetry:
      return set(l, e.digest, "Retrying", 0);
    case K::BlobDone:
      return set(l, e.digest, "Download complete", l.size);
    default:
      return;
  }
}

void LayerUpdateSource::unpacking(const std::string& digest, bool done) {
  auto it = layers_.find(digest);
  if (it == layers_.end() || it->second.state == "Already exists") return;
  set(it->second, digest, done ? "Pull complete" : "Extracting", it->second.size);
}

void PullProgress::apply(const LayerUpdate& u) {
  for (auto& l : layers_) {
    if (l.digest != u.digest) continue;
    l = u;
    return;
  }
  layers_.push_back(u);
}

std::vector<json> PullProgress::lines() const {
  std::vector<json> out;
  for (const auto& l : layers_) out.push_back(line(l));
  return out;
}

json PullProgress::line(const LayerUpdate& u) {
  return {{"type", "LAYER"},
          {"digest", u.digest},
          {"state", u.state},
          {"done", u.done},
          {"size", u.size}};
}

}  // namespace boxd::agent
