#include "reconcilers/images/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <set>

#include "common/util.h"
#include "reconcilers/images/content_hash.h"
#include "reconcilers/images/unpack.h"

namespace boxd::reconcilers {

namespace {

using nlohmann::json;

bool isHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool isDir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> entries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return sysError("opendir", dir);
  }
  std::vector<std::string> out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Result<std::string> canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return sysError("realpath", path);
  return std::string(buf);
}

// Sum of regular file sizes below root, from lstat alone (a migrated image's size).
thread_local int64_t gTreeBytes = 0;
int addBytes(const char*, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_F && S_ISREG(st->st_mode)) gTreeBytes += st->st_size;
  return 0;
}
int64_t treeFileBytes(const std::string& root) {
  gTreeBytes = 0;
  ::nftw(root.c_str(), addBytes, 16, FTW_PHYS | FTW_MOUNT);
  return gTreeBytes;
}

// rename; an existing target (another import finished first) is not an error: returns false.
Result<bool> renameInto(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return true;
  if (errno == EEXIST || errno == ENOTEMPTY) return false;
  return sysError("rename", from + " to " + to);
}

json layerJson(const LayerInfo& l) {
  return {{"key", l.key}, {"diffId", l.diffId}, {"sizeBytes", l.sizeBytes}};
}

// Removes a temporary on every path out, unless released.
class TempGuard {
 public:
  explicit TempGuard(std::string path) : path_(std::move(path)) {}
  ~TempGuard() {
    if (!path_.empty()) (void)removeAll(path_);
  }
  TempGuard(const TempGuard&) = delete;
  TempGuard& operator=(const TempGuard&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

int64_t ImageInfo::sizeBytes() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.sizeBytes;
  return n;
}

ImageStore::ImageStore(std::string imagesDir) : dir_(std::move(imagesDir)) {}

bool ImageStore::validId(const std::string& id) {
  if (startsWith(id, "sha256:")) return isHex64(std::string_view(id).substr(7));
  return isHex64(id);
}

std::string ImageStore::keyOf(const std::string& id) {
  if (startsWith(id, "sha256:")) return "sha256-" + id.substr(7);
  return "tree-" + id;
}

Result<std::string> ImageStore::makeTemporary() {
  for (const char* sub : {"/layers", "/images"}) BOXD_TRY(mkdirAll(dir_ + sub, 0700));
  auto dir = canonical(dir_);
  if (!dir.ok()) return dir.error();
  const std::string tmp = *dir + "/.tmp-" + randomHex(8);
  if (::mkdir(tmp.c_str(), 0700) != 0) return sysError("mkdir", tmp);
  return tmp;
}

Status ImageStore::start() {
  BOXD_TRY(mkdirAll(dir_, 0700));
  auto dir = canonical(dir_);
  if (!dir.ok()) return dir.error();
  dir_ = *dir;
  BOXD_TRY(mkdirAll(dir_ + "/layers", 0700));
  BOXD_TRY(mkdirAll(dir_ + "/images", 0700));
  BOXD_TRY(removeTemporaries());
  auto names = entries(dir_);
  if (!names.ok()) return names.error();
  for (const auto& n : *names) {
    if (isHex64(n) && isDir(dir_ + "/" + n)) {
      Status st = migrateLegacy(n);
      if (!st.ok()) return st.error().wrap("migrate image " + n + " to the layered store");
    }
  }
  return {};
}

// imagesDir/<hex>/rootfs ──rename──► layers/tree-<hex>/fs, then the layer and image records,
// then rmdir imagesDir/<hex>. Each step is redone or skipped after a crash.
Status ImageStore::migrateLegacy(const std::string& hex) {
  const std::string old = dir_ + "/" + hex, layer = dir_ + "/layers/tree-" + hex;
  BOXD_TRY(mkdirAll(layer, 0700));
  if (exists(old + "/rootfs")) {
    if (exists(layer + "/fs")) {
      BOXD_TRY(removeAll(old + "/rootfs"));  // a duplicate of what is already in place
    } else if (::rename((old + "/rootfs").c_str(), (layer + "/fs").c_str()) != 0) {
      return sysError("rename", old + "/rootfs to " + layer + "/fs");
    }
  }
  if (!exists(layer + "/fs")) {  // nothing to migrate: an empty leftover
    BOXD_TRY(removeAll(layer));
    return removeAll(old);
  }
  LayerInfo l{"tree-" + hex, "", treeFileBytes(layer + "/fs")};
  if (!exists(layer + "/layer.json"))
    BOXD_TRY(writeFileAtomic(layer + "/layer.json", layerJson(l).dump() + "\n", 0600));
  if (!exists(dir_ + "/images/tree-" + hex + "/image.json")) {
    ImageInfo img;
    img.id = hex;
    img.layers = {l};
    img.createdAtMs = nowMs();
    BOXD_TRY(commitImage(img, "", ""));
  }
  return removeAll(old);
}

Status ImageStore::removeTemporaries() {
  auto names = entries(dir_);
  if (!names.ok()) return names.error();
  Status first;
  for (const auto& n : *names) {
    if (!startsWith(n, ".tmp-")) continue;
    Status st = removeAll(dir_ + "/" + n);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Result<std::vector<ImportedImage>> ImageStore::import(const std::string& src) {
  const std::string what = "import " + src;
  auto tmp = makeTemporary();
  if (!tmp.ok()) return tmp.error().wrap(what);
  TempGuard guard(*tmp);
  std::shared_lock lock(mu_);
  Result<std::vector<ImportedImage>> out = makeError("not imported");
  if (isDir(src) && isOciLayout(src)) {
    auto sources = readOciLayout(src);
    out = sources.ok() ? importSources(*sources) : sources.error();
  } else if (isDir(src) && isDockerArchive(src)) {
    auto sources = readDockerArchive(src);
    out = sources.ok() ? importSources(*sources) : sources.error();
  } else {
    // A tarball is unpacked once: into fs, as a rootfs, unless it turns out to hold a layout.
    const std::string fs = *tmp + "/fs";
    Status st;
    if (::mkdir(fs.c_str(), 0755) != 0 || ::chmod(fs.c_str(), 0755) != 0)
      st = sysError("mkdir", fs);
    if (st.ok()) st = extractTree(src, fs);
    if (!st.ok()) return st.error().wrap(what);
    if (!isDir(src) && isOciLayout(fs)) {
      auto sources = readOciLayout(fs);
      out = sources.ok() ? importSources(*sources) : sources.error();
    } else if (!isDir(src) && isDockerArchive(fs)) {
      auto sources = readDockerArchive(fs);
      out = sources.ok() ? importSources(*sources) : sources.error();
    } else {
      auto one = importRootfs(*tmp);
      if (one.ok())
        out = std::vector<ImportedImage>{*one};
      else
        out = one.error();
    }
  }
  if (!out.ok()) return out.error().wrap(what);
  return out;
}

Result<std::vector<ImportedImage>> ImageStore::importLayout(const std::string& layoutDir,
                                                            const LayerObserver& onLayer,
                                                            const std::string& indexDigest) {
  TempGuard guard(layoutDir);
  std::shared_lock lock(mu_);
  auto sources = readOciLayout(layoutDir);
  if (!sources.ok()) return sources.error();
  for (auto& src : *sources) {
    if (!indexDigest.empty() && indexDigest != "sha256:" + src.manifestDigest)
      src.indexDigests.push_back(indexDigest);
  }
  return importSources(*sources, onLayer);
}

Result<std::vector<ImportedImage>> ImageStore::importSources(
    const std::vector<ImageSource>& sources, const LayerObserver& onLayer) {
  std::vector<ImportedImage> out;
  for (const auto& s : sources) {
    auto one = importSource(s, onLayer);
    if (!one.ok()) return one.error();
    out.push_back(std::move(*one));
  }
  return out;
}

// tmp/fs holds the extracted rootfs: one layer keyed by its tree hash.
Result<ImportedImage> ImageStore::importRootfs(const std::string& tmp) {
  auto digest = hashTree(tmp + "/fs");
  if (!digest.ok()) return digest.error();
  const std::string hex = digest->sha256;
  LayerInfo l{"tree-" + hex, "", digest->fileBytes};
  BOXD_TRY(writeFileAtomic(tmp + "/layer.json", layerJson(l).dump() + "\n", 0600));
  auto moved = renameInto(tmp, dir_ + "/layers/" + l.key);
  if (!moved.ok()) return moved.error();
  ImageInfo img;
  img.id = hex;
  img.layers = {l};
  img.createdAtMs = nowMs();
  BOXD_TRY(commitImage(img, "", ""));
  return ImportedImage{hex, l.sizeBytes, "", {}, *moved ? 1 : 0};
}

// true: unpacked now; false: already stored.
Result<bool> ImageStore::storeLayer(const LayerSource& layer, LayerInfo& out) {
  out.key = "sha256-" + layer.diffId;
  out.diffId = "sha256:" + layer.diffId;
  const std::string dest = dir_ + "/layers/" + out.key;
  if (exists(dest + "/fs") && exists(dest + "/layer.json")) {
    auto text = readFile(dest + "/layer.json");
    json j = text.ok() ? json::parse(*text, nullptr, false) : json();
    out.sizeBytes = j.is_object() ? j.value("sizeBytes", int64_t{0}) : 0;
    return false;
  }
  auto tmp = makeTemporary();
  if (!tmp.ok()) return tmp.error();
  TempGuard guard(*tmp);
  const std::string fs = *tmp + "/fs";
  if (::mkdir(fs.c_str(), 0755) != 0) return sysError("mkdir", fs);
  auto digests = unpackLayer(layer.path, fs, {layer.digest, layer.diffId});
  if (!digests.ok()) return digests.error();
  out.sizeBytes = digests->fileBytes;
  BOXD_TRY(writeFileAtomic(*tmp + "/layer.json", layerJson(out).dump() + "\n", 0600));
  auto moved = renameInto(*tmp, dest);
  if (!moved.ok()) return moved.error();
  return *moved;
}

Result<ImportedImage> ImageStore::importSource(const ImageSource& src,
                                               const LayerObserver& onLayer) {
  ImageInfo img;
  img.id = "sha256:" + src.configDigest;
  img.digest = src.manifestDigest.empty() ? "" : "sha256:" + src.manifestDigest;
  img.mediaType = src.mediaType;
  img.indexDigests = src.indexDigests;
  img.config = src.config;
  img.createdAtMs = nowMs();
  int fresh = 0;
  for (size_t i = 0; i < src.layers.size(); ++i) {
    LayerInfo l;
    const std::string blob = src.layers[i].digest.empty() ? "" : "sha256:" + src.layers[i].digest;
    if (onLayer && !blob.empty()) onLayer(blob, false);
    auto stored = storeLayer(src.layers[i], l);
    if (!stored.ok())
      return stored.error().wrap("layer " + std::to_string(i + 1) + " of " +
                                 std::to_string(src.layers.size()));
    if (onLayer && !blob.empty()) onLayer(blob, true);
    fresh += *stored ? 1 : 0;
    img.layers.push_back(l);
  }
  BOXD_TRY(commitImage(img, src.manifestPath, src.configPath));
  return ImportedImage{img.id, img.sizeBytes(), img.digest, src.refs, fresh};
}

// Writes the record in a temporary and renames it into images/<key>; an existing record of the
// same id is exchanged for the new one (its manifest digest may differ).
Status ImageStore::commitImage(const ImageInfo& img, const std::string& manifestPath,
                               const std::string& configPath) {
  auto tmp = makeTemporary();
  if (!tmp.ok()) return tmp.error();
  TempGuard guard(*tmp);
  json layers = json::array();
  for (const auto& l : img.layers) layers.push_back(layerJson(l));
  json rec = {{"id", img.id},
              {"digest", img.digest},
              {"mediaType", img.mediaType},
              {"layers", layers},
              {"createdAtMs", img.createdAtMs}};
  // The indexes it came from, with those an earlier import of the same image recorded.
  std::vector<std::string> indexes = img.indexDigests;
  if (auto old = readInfo(keyOf(img.id)); old.ok()) {
    for (const auto& d : old->indexDigests)
      if (std::find(indexes.begin(), indexes.end(), d) == indexes.end()) indexes.push_back(d);
  }
  if (!indexes.empty()) rec["indexDigests"] = indexes;
  for (const auto& [path, name] :
       {std::pair{manifestPath, "manifest.json"}, std::pair{configPath, "config.json"}}) {
    if (path.empty()) continue;
    auto bytes = readFile(path);
    if (!bytes.ok()) return bytes.error();
    BOXD_TRY(writeFileAtomic(*tmp + "/" + name, *bytes, 0600));
  }
  BOXD_TRY(writeFileAtomic(*tmp + "/image.json", rec.dump() + "\n", 0600));
  const std::string dest = dir_ + "/images/" + keyOf(img.id);
  auto moved = renameInto(*tmp, dest);
  if (!moved.ok()) return moved.error();
  if (*moved) return {};
  if (::renameat2(AT_FDCWD, tmp->c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) != 0)
    return sysError("exchange", *tmp + " with " + dest);
  return {};
}

Result<ImageInfo> ImageStore::readInfo(const std::string& key) {
  const std::string dir = dir_ + "/images/" + key;
  auto text = readFile(dir + "/image.json");
  if (!text.ok()) return text.error();
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("layers") || !j["layers"].is_array())
    return makeError(dir + "/image.json: not an image record", EINVAL);
  ImageInfo img;
  img.id = j.value("id", "");
  img.digest = j.value("digest", "");
  img.mediaType = j.value("mediaType", "");
  if (j.contains("indexDigests") && j["indexDigests"].is_array()) {
    for (const auto& d : j["indexDigests"])
      if (d.is_string()) img.indexDigests.push_back(d.get<std::string>());
  }
  img.createdAtMs = j.value("createdAtMs", int64_t{0});
  for (const auto& l : j["layers"]) {
    if (!l.is_object()) return makeError(dir + "/image.json: a layer is not an object", EINVAL);
    img.layers.push_back(
        {l.value("key", ""), l.value("diffId", ""), l.value("sizeBytes", int64_t{0})});
  }
  if (exists(dir + "/config.json")) {
    auto cfg = readFile(dir + "/config.json");
    if (!cfg.ok()) return cfg.error();
    img.config = json::parse(*cfg, nullptr, false);
    if (img.config.is_discarded()) return makeError(dir + "/config.json: not JSON", EINVAL);
  }
  return img;
}

Result<ImageInfo> ImageStore::info(const std::string& id) {
  if (!validId(id)) return makeError("image lookup: not an image id: '" + id + "'", EINVAL);
  auto img = readInfo(keyOf(id));
  if (!img.ok()) return img.error().wrap("image " + id);
  return img;
}

Result<std::vector<std::string>> ImageStore::lowerDirs(const std::string& id) {
  auto img = info(id);
  if (!img.ok()) return img.error();
  std::vector<std::string> out;
  for (auto it = img->layers.rbegin(); it != img->layers.rend(); ++it)
    out.push_back(dir_ + "/layers/" + it->key + "/fs");
  return out;
}

Result<std::vector<ImageInfo>> ImageStore::list() {
  auto names = entries(dir_ + "/images");
  if (!names.ok()) return names.error();
  std::vector<ImageInfo> out;
  for (const auto& n : *names) {
    auto img = readInfo(n);
    if (!img.ok()) return img.error();
    out.push_back(std::move(*img));
  }
  return out;
}

Result<bool> ImageStore::has(const std::string& id) {
  if (!validId(id)) return makeError("image lookup: not an image id: '" + id + "'", EINVAL);
  if (!exists(dir_ + "/images/" + keyOf(id) + "/image.json")) return false;
  auto img = info(id);
  if (!img.ok()) return img.error();
  for (const auto& l : img->layers)
    if (!isDir(dir_ + "/layers/" + l.key + "/fs")) return false;
  return true;
}

Status ImageStore::remove(const std::string& id) {
  if (!validId(id)) return makeError("remove image: not an image id: '" + id + "'", EINVAL);
  std::unique_lock lock(mu_);
  Status st = removeAll(dir_ + "/images/" + keyOf(id));
  if (!st.ok()) return st.error().wrap("remove image " + id);
  return {};
}

Result<int> ImageStore::removeUnusedLayers() {
  std::unique_lock lock(mu_);
  return removeUnusedLayersLocked();
}

Result<ImageStore::Pruned> ImageStore::prune(const std::vector<std::string>& keep,
                                             int64_t notAfterMs) {
  std::unique_lock lock(mu_);
  auto images = list();
  if (!images.ok()) return images.error().wrap("prune images");
  Pruned out;
  for (const auto& img : *images) {
    if (img.createdAtMs >= notAfterMs) continue;
    if (std::find(keep.begin(), keep.end(), img.id) != keep.end()) continue;
    Status st = removeAll(dir_ + "/images/" + keyOf(img.id));
    if (!st.ok()) return st.error().wrap("prune image " + img.id);
    out.images.push_back(img.id);
  }
  auto layers = removeUnusedLayersLocked();
  if (!layers.ok()) return layers.error();
  out.layers = *layers;
  return out;
}

Result<int> ImageStore::removeUnusedLayersLocked() {
  auto images = list();
  if (!images.ok()) return images.error().wrap("remove unused layers");
  std::set<std::string> used;
  for (const auto& img : *images)
    for (const auto& l : img.layers) used.insert(l.key);
  auto names = entries(dir_ + "/layers");
  if (!names.ok()) return names.error();
  int removed = 0;
  for (const auto& n : *names) {
    if (used.count(n) > 0) continue;
    Status st = removeAll(dir_ + "/layers/" + n);
    if (!st.ok()) return st.error().wrap("remove unused layer " + n);
    ++removed;
  }
  return removed;
}

}  // namespace boxd::reconcilers
