#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "agent/image_pulls.h"
#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

json readJson(const std::string& path) {
  auto text = readFile(path);
  return text.ok() ? json::parse(*text, nullptr, false) : json();
}
}  // namespace

std::map<std::string, std::string> storedLayerBlobs(reconcilers::ImageStore& store,
                                                    const std::string& imagesDir) {
  std::map<std::string, std::string> out;
  auto all = store.list();
  if (!all.ok()) return out;
  for (const auto& img : *all) {
    if (img.digest.empty()) continue;  // no manifest: no blob digests
    json m = readJson(imagesDir + "/images/" + reconcilers::ImageStore::keyOf(img.id) +
                      "/manifest.json");
    if (!m.is_object() || !m.contains("layers") || !m["layers"].is_array() ||
        m["layers"].size() != img.layers.size())
      continue;
    for (size_t i = 0; i < img.layers.size(); ++i) {
      const auto& l = img.layers[i];
      const json& d = m["layers"][i];
      if (!d.is_object() || !d.contains("digest") || !d["digest"].is_string() || l.diffId.empty())
        continue;
      if (!exists(imagesDir + "/layers/" + l.key + "/fs")) continue;
      out[d["digest"].get<std::string>()] = l.diffId;
    }
  }
  return out;
}

Result<StorePull> pullIntoStore(reconcilers::ImageStore& store, const std::string& imagesDir,
                                const images::Reference& ref, images::PullOptions options,
                                std::function<void(const LayerUpdate&)> onUpdate) {
  const int64_t started = monotonicMs();
  LayerUpdateSource updates(
      onUpdate ? std::move(onUpdate) : [](const LayerUpdate&) {}, [] { return monotonicMs(); });
  options.progress = [&updates](const images::PullEvent& e) { updates.pullEvent(e); };
  auto fileKeys = images::loadAuthFile(options.config.authFile);
  if (!fileKeys.ok()) return fileKeys.error();
  options.keyring.merge(*fileKeys);
  const auto have = storedLayerBlobs(store, imagesDir);
  options.haveBlob = [&have](const std::string& digest) { return have.count(digest) > 0; };
  auto tmp = store.makeTemporary();
  if (!tmp.ok()) return tmp.error().wrap("pull " + ref.str());
  auto pulled = images::pullImage(ref, *tmp + "/layout", options);
  if (!pulled.ok()) {
    (void)removeAll(*tmp);
    return pulled.error();
  }
  // A skipped layer stands for the stored one: the config must name that layer's diff ID.
  json config = readJson(*tmp + "/layout/blobs/sha256/" + pulled->config.digest.substr(7));
  const json ids = config.is_object() && config.contains("rootfs") && config["rootfs"].is_object()
                       ? config["rootfs"].value("diff_ids", json::array())
                       : json::array();
  for (size_t i = 0; i < pulled->layers.size(); ++i) {
    const std::string& digest = pulled->layers[i].digest;
    auto it = have.find(digest);
    if (it == have.end() || !options.haveBlob(digest)) continue;
    bool skipped = false;
    for (const auto& s : pulled->skippedLayers) skipped = skipped || s == digest;
    if (!skipped) continue;
    if (i >= ids.size() || !ids[i].is_string() || ids[i].get<std::string>() != it->second) {
      (void)removeAll(*tmp);
      return images::pullError(images::PullReason::DigestMismatch,
                               "pull " + ref.str() + ": layer " + digest +
                                   " is stored with diff ID " + it->second +
                                   " but the image's config names another");
    }
  }
  const std::string index = pulled->repoDigest != pulled->manifestDigest ? pulled->repoDigest : "";
  auto imported = store.importLayout(
      *tmp + "/layout",
      [&updates](const std::string& digest, bool done) { updates.unpacking(digest, done); }, index);
  (void)removeAll(*tmp);
  if (!imported.ok()) return imported.error().wrap("pull " + ref.str() + ": import");
  if (imported->size() != 1)
    return makeError("pull " + ref.str() + ": the layout held " + std::to_string(imported->size()) +
                     " images, not one");
  const auto& img = imported->front();
  StorePull out;
  out.ref = ref.str();
  out.id = img.id;
  out.digest = img.digest;
  out.repoDigest = pulled->repoDigest;
  out.sizeBytes = img.sizeBytes;
  out.registryBytes = pulled->sizeBytes;
  out.fetchedBytes = pulled->fetchedBytes;
  out.layers = static_cast<int>(pulled->layers.size());
  out.skippedLayers = static_cast<int>(pulled->skippedLayers.size());
  out.newLayers = img.newLayers;
  out.elapsedMs = monotonicMs() - started;
  return out;
}

}  // namespace boxd::agent
