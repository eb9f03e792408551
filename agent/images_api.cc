// Images as the agent sees them: tags (the state store's images table: name, tag → image id)
// over the layered image store (reconcilers/images), which pod plans and container starts read.
// boxctl's image requests are answered here; the store's blocking work runs on the thread pool.
//
// An image is kept while a tag names it or a pod records it (PodState::imageIds, from the pod's
// rootfs steps): re-tagging an image changes no running pod, and `image prune` removes only
// images neither tagged nor in use, then the layers no image needs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "agent/agent.h"
#include "agent/image_config.h"
#include "agent/security_context.h"
#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
json errorReply(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }

// A name the source gave an image, if it is a whole reference (not a bare tag, as OCI's
// ref.name annotation often is).
std::optional<specs::ImageRef> wholeRef(const std::string& s) {
  if (s.empty() || (s.find(':') == std::string::npos && s.find('/') == std::string::npos))
    return std::nullopt;
  auto ref = specs::parseImageRef(s);
  if (ref.name.empty() || ref.tag.empty()) return std::nullopt;
  return ref;
}
}  // namespace

std::optional<ContainerImage> Agent::resolveImage(const std::string& image) {
  auto ref = specs::parseImageRef(image);
  std::string id;
  if (!ref.tag.empty()) {
    auto rec = store_->getImage(ref.name, ref.tag);
    if (rec.ok() && rec->has_value()) id = (*rec)->id;
  }
  if (!ref.digest.empty()) {  // pinned: the tag must name that image, or any image of it
    // The digest of its manifest, its id, or of an index it was pulled through.
    auto all = images_.list();
    std::string byDigest;
    if (all.ok()) {
      for (const auto& img : *all) {
        const auto& idx = img.indexDigests;
        if (img.digest == ref.digest || img.id == ref.digest ||
            std::find(idx.begin(), idx.end(), ref.digest) != idx.end())
          byDigest = img.id;
      }
    }
    if (byDigest.empty() || (!id.empty() && id != byDigest)) return std::nullopt;
    id = byDigest;
  }
  if (id.empty()) return std::nullopt;
  auto lowers = images_.lowerDirs(id);
  if (!lowers.ok()) {
    spdlog::error("image {}: {}", ref.str(), lowers.error().message);
    return std::nullopt;
  }
  return ContainerImage{id, *lowers};
}

std::string Agent::imageIdOf(const PodState& pod, const specs::Container& c) {
  auto it = pod.imageIds.find(c.name);
  if (it != pod.imageIds.end() && !it->second.empty()) return it->second;
  auto img = resolveImage(c.image);  // a pod journaled before images were recorded
  return img ? img->id : "";
}

json Agent::imageConfigOf(const std::string& id) {
  if (id.empty()) return nullptr;
  auto info = images_.info(id);
  if (!info.ok()) {
    spdlog::error("{}", info.error().message);
    return nullptr;
  }
  return info->config;
}

json Agent::containerImageJson(const PodState& pod, const specs::Container& c,
                               const ContainerRuntime* rt) {
  json j = json::object();
  const std::string id = imageIdOf(pod, c);
  if (id.empty()) return j;
  j["imageID"] = id;
  auto info = images_.info(id);
  if (info.ok() && !info->digest.empty()) j["imageDigest"] = info->digest;
  if (rt != nullptr && !rt->argv.empty() && rt->security) {
    j["command"] = rt->argv;
    j["user"] = std::to_string(rt->security->uid) + ":" + std::to_string(rt->security->gid);
  } else if (info.ok()) {
    auto p = effectiveProcess(pod.spec, c, info->config);
    if (p.ok()) {
      j["command"] = p->argv;
      if (!p->user.empty()) j["user"] = p->user;
    }
  }
  return j;
}

namespace {
// "Uid:\t1000\t1000\t1000\t1000" → the real id; Groups: every one.
std::vector<uint32_t> statusIds(const std::string& status, const std::string& key) {
  std::vector<uint32_t> out;
  for (const auto& line : split(status, '\n')) {
    if (!startsWith(line, key + ":")) continue;
    for (const auto& f : split(line.substr(key.size() + 1), '\t')) {
      for (const auto& v : split(f, ' '))
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos)
          out.push_back(static_cast<uint32_t>(std::stoul(v)));
    }
  }
  return out;
}
}  // namespace

// The security a container runs with: as its last start resolved it; after a restart of boxd,
// for an image user (resolved at start in the container's files), the ids its running process
// has.
Result<reconcilers::ContainerSecurity> Agent::containerSecurity(const PodState& pod,
                                                                const specs::Container& c) {
  auto it = pod.containers.find(c.name);
  if (it != pod.containers.end() && it->second.security) return *it->second.security;
  auto process = effectiveProcess(pod.spec, c, imageConfigOf(imageIdOf(pod, c)));
  const std::string user = process.ok() ? process->user : "";
  auto s = resolveSecurity(pod.spec, c, user);
  if (!s.ok() || user.empty() || it == pod.containers.end() || it->second.rec.state != "Running" ||
      it->second.rec.pid <= 0)
    return s;
  auto status = readFile("/proc/" + std::to_string(it->second.rec.pid) + "/status");
  if (!status.ok()) return s;
  auto uids = statusIds(*status, "Uid"), gids = statusIds(*status, "Gid");
  if (uids.empty() || gids.empty()) return s;
  s->uid = uids[0];
  if (!runAsGroupSet(pod.spec, c)) s->gid = gids[0];
  s->groups = statusIds(*status, "Groups");
  return s;
}

void Agent::handleImageRequest(const std::string& op, const json& req,
                               std::function<void(json)> reply) {
  if (op == "image-import") return handleImageImport(req, std::move(reply));
  if (op == "image-pull") return handleImagePull(req, std::move(reply));
  if (op == "image-ls") return reply(imagesJson());
  if (op == "image-rm") return imageRemove(req, std::move(reply));
  if (op == "image-prune") return imagePrune(std::move(reply));
  reply(errorReply("unknown request \"" + op + "\""));
}

json Agent::imagesJson() {
  auto tags = store_->listImages();
  if (!tags.ok()) return errorReply(tags.error().message);
  auto stored = images_.list();
  if (!stored.ok()) return errorReply(stored.error().message);
  std::map<std::string, int> layerUsers;
  for (const auto& img : *stored)
    for (const auto& l : img.layers) layerUsers[l.key]++;
  std::map<std::string, int> podsUsing;
  for (const auto& [name, pod] : pods_) {
    std::set<std::string> ids;
    for (const auto& [c, id] : pod->imageIds) ids.insert(id);
    for (const auto& id : ids) podsUsing[id]++;
  }
  auto row = [&](const reconcilers::ImageInfo& img, const std::string& name,
                 const std::string& tag) {
    int64_t unique = 0;
    for (const auto& l : img.layers)
      if (layerUsers[l.key] == 1) unique += l.sizeBytes;
    return json{{"name", name},
                {"tag", tag},
                {"id", img.id},
                {"digest", img.digest},
                {"layers", img.layers.size()},
                {"sizeBytes", img.sizeBytes()},
                {"uniqueBytes", unique},
                {"sharedBytes", img.sizeBytes() - unique},
                {"pods", podsUsing[img.id]},
                {"createdAtMs", img.createdAtMs}};
  };
  std::map<std::string, const reconcilers::ImageInfo*> byId;
  for (const auto& img : *stored) byId[img.id] = &img;
  json list = json::array();
  std::set<std::string> tagged;
  for (const auto& t : *tags) {
    auto it = byId.find(t.id);
    if (it == byId.end()) continue;  // a tag whose image is gone: not listed
    tagged.insert(t.id);
    list.push_back(row(*it->second, t.name, t.tag));
  }
  for (const auto& img : *stored)
    if (tagged.count(img.id) == 0) list.push_back(row(img, "<none>", "<none>"));
  return {{"ok", true}, {"images", list}};
}

void Agent::imageRemove(const json& req, std::function<void(json)> reply) {
  auto ref = specs::parseImageRef(req.value("name", ""));
  auto rec = store_->getImage(ref.name, ref.tag);
  if (!rec.ok()) return reply(errorReply(rec.error().message));
  if (!rec->has_value()) return reply(errorReply("image " + ref.str() + " not found"));
  const std::string id = (*rec)->id;
  for (const auto& [pname, pod] : pods_) {
    bool uses = false;
    for (const auto* c : allContainers(pod->spec))
      uses = uses || specs::parseImageRef(c->image).str() == ref.str();
    for (const auto& [c, used] : pod->imageIds) uses = uses || used == id;
    if (uses)
      return reply(
          errorReply("image " + ref.str() + " is used by pod " + pname + "; delete the pod first"));
  }
  logStoreError(store_->deleteImage(ref.name, ref.tag), "delete image");
  auto all = store_->listImages();
  bool tagged = false;
  if (all.ok())
    for (const auto& i : *all) tagged = tagged || i.id == id;
  if (tagged || imageImportsInFlight_ > 0) return reply({{"ok", true}, {"removed", ref.str()}});
  auto result = std::make_shared<Status>();
  auto* images = &images_;
  dispatcher_.runBlocking(
      [images, id, result] {
        *result = images->remove(id);
        if (result->ok()) {
          auto layers = images->removeUnusedLayers();
          if (!layers.ok()) *result = layers.error();
        }
      },
      [ref, result, reply = std::move(reply)] {
        if (!result->ok()) return reply(errorReply(result->error().message));
        reply({{"ok", true}, {"removed", ref.str()}});
      });
}

void Agent::imagePrune(std::function<void(json)> reply) {
  if (imageImportsInFlight_ > 0)
    return reply(errorReply("an image import is in progress; prune again when it is done"));
  auto tags = store_->listImages();
  if (!tags.ok()) return reply(errorReply(tags.error().message));
  std::vector<std::string> keep;
  for (const auto& t : *tags) keep.push_back(t.id);
  for (const auto& [name, pod] : pods_)
    for (const auto& [c, id] : pod->imageIds) keep.push_back(id);
  auto result = std::make_shared<Result<reconcilers::ImageStore::Pruned>>(makeError("not run"));
  auto* images = &images_;
  const int64_t startedMs = nowMs();
  dispatcher_.runBlocking(
      [images, keep, startedMs, result] { *result = images->prune(keep, startedMs); },
      [this, result, reply = std::move(reply)] {
        if (!result->ok()) return reply(errorReply(result->error().message));
        for (const auto& id : (*result)->images) spdlog::info("pruned image {}", id);
        event("", "Normal", "ImagesPruned",
              std::to_string((*result)->images.size()) + " images, " +
                  std::to_string((*result)->layers) + " layers");
        reply({{"ok", true}, {"images", (*result)->images}, {"layers", (*result)->layers}});
      });
}

void Agent::handleImageImport(const json& req, std::function<void(json)> reply) {
  std::string name = req.value("name", "");
  std::string path = req.value("path", "");
  if (path.empty()) return reply(errorReply("image import needs PATH"));
  using Imported = std::vector<reconcilers::ImportedImage>;
  auto result = std::make_shared<Result<Imported>>(makeError("not imported"));
  auto* images = &images_;
  ++imageImportsInFlight_;
  dispatcher_.runBlocking([images, path, result] { *result = images->import(path); },
                          [this, name, result, reply = std::move(reply)] {
                            --imageImportsInFlight_;
                            if (!result->ok()) return reply(errorReply(result->error().message));
                            recordImported(name, **result, reply);
                          });
}

// Tags what an import brought: NAME when given (one image), else the names the source holds.
void Agent::recordImported(const std::string& name,
                           const std::vector<reconcilers::ImportedImage>& imported,
                           std::function<void(json)> reply) {
  if (!name.empty() && imported.size() != 1)
    return reply(errorReply("the source holds " + std::to_string(imported.size()) +
                            " images; import it without NAME to use the names it gives them"));
  json list = json::array();
  for (const auto& img : imported) {
    std::vector<specs::ImageRef> refs;
    if (!name.empty()) refs.push_back(specs::parseImageRef(name));
    for (const auto& r :
         imported.size() == 1 && !name.empty() ? std::vector<std::string>{} : img.refs)
      if (auto ref = wholeRef(r)) refs.push_back(*ref);
    if (refs.empty())
      return reply(errorReply("image " + img.id +
                              " was imported but the source gives it no name: import it again "
                              "with NAME"));
    for (const auto& ref : refs) {
      state::ImageRecord rec{ref.name, ref.tag, img.id, img.sizeBytes, nowMs()};
      Status st = store_->upsertImage(rec);
      if (!st.ok()) return reply(errorReply(st.error().message));
      spdlog::info("imported image {} ({}, {} new layers)", ref.str(), img.id, img.newLayers);
      event("", "Normal", "ImageImported", ref.str() + " id " + img.id);
      list.push_back({{"image", ref.str()},
                      {"id", img.id},
                      {"digest", img.digest},
                      {"sizeBytes", img.sizeBytes},
                      {"newLayers", img.newLayers}});
    }
  }
  json out = list.empty() ? json{{"ok", true}} : list[0];
  out["ok"] = true;
  out["images"] = list;
  reply(out);
  imagesChanged();
  reconcileAll();
}

}  // namespace boxd::agent
