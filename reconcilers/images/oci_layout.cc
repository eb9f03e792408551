#include "reconcilers/images/oci_layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/fd.h"
#include "common/util.h"
#include "reconcilers/images/sha256_stream.h"

namespace boxd::reconcilers {

namespace {

using nlohmann::json;

constexpr size_t kMaxSmallBlob = 4 << 20;  // manifests, indexes and configs are kilobytes

std::string sha256Hex(const std::string& data) {
  Sha256Stream h;
  h.add(data.data(), data.size());
  return h.hex();
}

bool isHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "sha256:<hex>" -> hex; anything else is refused (other algorithms are not supported).
Result<std::string> sha256Of(const json& descriptor, const std::string& what) {
  const std::string d = descriptor.is_object() ? descriptor.value("digest", "") : "";
  if (!startsWith(d, "sha256:") || !isHex64(d.substr(7)))
    return makeError(what + ": digest '" + d + "' is not sha256:<64 hex>", EINVAL);
  return d.substr(7);
}

// A small file read without following a symlink at its last component, bounded in size.
Result<std::string> readSmall(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return sysError("open", path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sysError("stat", path);
  if (!S_ISREG(st.st_mode)) return makeError(path + " is not a regular file", EINVAL);
  if (static_cast<size_t>(st.st_size) > kMaxSmallBlob)
    return makeError(path + " is larger than " + std::to_string(kMaxSmallBlob) + " bytes", EFBIG);
  return readFile(path);
}

Result<json> readJson(const std::string& path) {
  auto text = readSmall(path);
  if (!text.ok()) return text.error();
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded()) return makeError(path + ": not valid JSON", EINVAL);
  return j;
}

// The blob named by hex, whose content must hash to it.
Result<std::string> readVerified(const std::string& dir, const std::string& hex) {
  const std::string path = dir + "/blobs/sha256/" + hex;
  auto text = readSmall(path);
  if (!text.ok()) return text.error();
  if (sha256Hex(*text) != hex)
    return makeError(path + ": digest mismatch: the content does not hash to sha256:" + hex,
                     EBADMSG);
  return text;
}

bool tarLayer(const std::string& mediaType) {
  return mediaType.find(".tar") != std::string::npos &&
         mediaType.find("encrypted") == std::string::npos;
}

// diff_ids from the config, as hex, one per layer.
Result<std::vector<std::string>> diffIds(const json& config, size_t layers,
                                         const std::string& what) {
  const json* ids = nullptr;
  if (config.is_object() && config.contains("rootfs") && config["rootfs"].is_object() &&
      config["rootfs"].contains("diff_ids") && config["rootfs"]["diff_ids"].is_array())
    ids = &config["rootfs"]["diff_ids"];
  if (ids == nullptr) return makeError(what + ": config has no rootfs.diff_ids", EINVAL);
  if (ids->size() != layers)
    return makeError(what + ": config lists " + std::to_string(ids->size()) + " diff IDs for " +
                         std::to_string(layers) + " layers",
                     EINVAL);
  std::vector<std::string> out;
  for (const auto& id : *ids) {
    auto hex = sha256Of(json{{"digest", id.is_string() ? id.get<std::string>() : ""}},
                        what + ": rootfs.diff_ids");
    if (!hex.ok()) return hex.error();
    out.push_back(*hex);
  }
  return out;
}

Result<ImageSource> readManifest(const std::string& dir, const std::string& hex,
                                 const std::string& mediaType) {
  const std::string what = "manifest sha256:" + hex;
  auto text = readVerified(dir, hex);
  if (!text.ok()) return text.error().wrap(what);
  json m = json::parse(*text, nullptr, false);
  if (!m.is_object()) return makeError(what + ": not a JSON object", EINVAL);
  ImageSource img;
  img.manifestDigest = hex;
  img.manifestPath = dir + "/blobs/sha256/" + hex;
  img.mediaType = m.value("mediaType", mediaType);
  if (img.mediaType != kOciManifest && img.mediaType != kDockerManifest)
    return makeError(what + ": unsupported media type '" + img.mediaType + "'", EINVAL);
  auto cfg = sha256Of(m.value("config", json()), what + ": config");
  if (!cfg.ok()) return cfg.error();
  auto cfgText = readVerified(dir, *cfg);
  if (!cfgText.ok()) return cfgText.error().wrap(what + ": config");
  img.configDigest = *cfg;
  img.configPath = dir + "/blobs/sha256/" + *cfg;
  img.config = json::parse(*cfgText, nullptr, false);
  if (!img.config.is_object()) return makeError(what + ": config is not a JSON object", EINVAL);
  const json layers = m.value("layers", json::array());
  if (!layers.is_array()) return makeError(what + ": layers is not a list", EINVAL);
  auto ids = diffIds(img.config, layers.size(), what);
  if (!ids.ok()) return ids.error();
  for (size_t i = 0; i < layers.size(); ++i) {
    auto digest = sha256Of(layers[i], what + ": layers[" + std::to_string(i) + "]");
    if (!digest.ok()) return digest.error();
    std::string type = layers[i].value("mediaType", "");
    if (!tarLayer(type))
      return makeError(
          what + ": layers[" + std::to_string(i) + "]: unsupported media type '" + type + "'",
          EINVAL);
    img.layers.push_back({dir + "/blobs/sha256/" + *digest, *digest, (*ids)[i], type});
  }
  return img;
}

bool platformMatches(const json& d) {
  if (!d.contains("platform") || !d["platform"].is_object()) return false;
  const json& p = d["platform"];
  return p.value("os", "") == "linux" && p.value("architecture", "") == hostArchitecture();
}

// An index: every manifest, and from each nested index the one for this platform.
Status collect(const std::string& dir, const json& index, int depth,
               std::vector<ImageSource>& out) {
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    return makeError("index has no manifests list", EINVAL);
  const bool nested = depth > 0;
  for (const auto& d : index["manifests"]) {
    const std::string type = d.is_object() ? d.value("mediaType", "") : "";
    if (nested && !platformMatches(d)) continue;
    auto hex = sha256Of(d, "index entry");
    if (!hex.ok()) return hex.error();
    if (type == kOciIndex || type == kDockerList) {
      if (depth >= 2) return makeError("indexes nested too deep", EINVAL);
      auto text = readVerified(dir, *hex);
      if (!text.ok()) return text.error();
      const size_t before = out.size();
      BOXD_TRY(collect(dir, json::parse(*text, nullptr, false), depth + 1, out));
      if (out.size() == before)
        return makeError("index sha256:" + *hex + " has no image for linux/" + hostArchitecture(),
                         ENOENT);
      for (size_t i = before; i < out.size(); ++i) out[i].indexDigests.push_back("sha256:" + *hex);
    } else {
      auto img = readManifest(dir, *hex, type);
      if (!img.ok()) return img.error();
      if (!nested && d.contains("annotations") && d["annotations"].is_object()) {
        for (const char* key : {"io.containerd.image.name", kRefNameAnnotation}) {
          std::string name = d["annotations"].value(key, "");
          if (!name.empty()) img->refs.push_back(name);
        }
      }
      out.push_back(std::move(*img));
      if (nested) return {};  // one per platform
    }
  }
  return {};
}

// A docker save member path: relative, no "..".
Result<std::string> memberPath(const std::string& dir, const json& v, const std::string& what) {
  std::string rel = v.is_string() ? v.get<std::string>() : "";
  if (rel.empty() || rel[0] == '/')
    return makeError(what + ": '" + rel + "' is not a relative path", EINVAL);
  for (const auto& part : split(rel, '/'))
    if (part == "..") return makeError(what + ": '" + rel + "' leaves the archive", EPERM);
  return dir + "/" + rel;
}

Result<ImageSource> readDockerEntry(const std::string& dir, const json& e, size_t n) {
  const std::string what = "manifest.json[" + std::to_string(n) + "]";
  if (!e.is_object()) return makeError(what + ": not an object", EINVAL);
  auto cfgPath = memberPath(dir, e.value("Config", json()), what + ".Config");
  if (!cfgPath.ok()) return cfgPath.error();
  auto cfgText = readSmall(*cfgPath);
  if (!cfgText.ok()) return cfgText.error().wrap(what);
  ImageSource img;
  img.configPath = *cfgPath;
  img.configDigest = sha256Hex(*cfgText);
  img.config = json::parse(*cfgText, nullptr, false);
  if (!img.config.is_object()) return makeError(what + ": config is not a JSON object", EINVAL);
  const json layers = e.value("Layers", json::array());
  if (!layers.is_array()) return makeError(what + ".Layers is not a list", EINVAL);
  auto ids = diffIds(img.config, layers.size(), what);
  if (!ids.ok()) return ids.error();
  for (size_t i = 0; i < layers.size(); ++i) {
    auto p = memberPath(dir, layers[i], what + ".Layers[" + std::to_string(i) + "]");
    if (!p.ok()) return p.error();
    img.layers.push_back({*p, "", (*ids)[i], "application/vnd.docker.image.rootfs.diff.tar"});
  }
  const json tags = e.value("RepoTags", json::array());
  if (tags.is_array())
    for (const auto& t : tags)
      if (t.is_string()) img.refs.push_back(t.get<std::string>());
  return img;
}

bool isFile(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

std::string hostArchitecture() {
  struct utsname u {};
  if (::uname(&u) != 0) return "amd64";
  const std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  if (startsWith(m, "armv7")) return "arm";
  return m;  // ppc64le, s390x, riscv64 are spelled the same
}

bool isOciLayout(const std::string& dir) { return isFile(dir + "/oci-layout"); }

bool isDockerArchive(const std::string& dir) {
  return !isOciLayout(dir) && isFile(dir + "/manifest.json");
}

Result<std::vector<ImageSource>> readOciLayout(const std::string& dir) {
  auto layout = readJson(dir + "/oci-layout");
  if (!layout.ok()) return layout.error().wrap("OCI image layout");
  if (!layout->is_object() || !layout->contains("imageLayoutVersion"))
    return makeError("OCI image layout: oci-layout has no imageLayoutVersion", EINVAL);
  auto index = readJson(dir + "/index.json");
  if (!index.ok()) return index.error().wrap("OCI image layout");
  std::vector<ImageSource> out;
  Status st = collect(dir, *index, 0, out);
  if (!st.ok()) return st.error().wrap("OCI image layout " + dir);
  if (out.empty()) return makeError("OCI image layout " + dir + ": index.json names no image");
  return out;
}

Result<std::vector<ImageSource>> readDockerArchive(const std::string& dir) {
  auto manifest = readJson(dir + "/manifest.json");
  if (!manifest.ok()) return manifest.error().wrap("docker archive");
  if (!manifest->is_array() || manifest->empty())
    return makeError("docker archive " + dir + ": manifest.json is not a non-empty list", EINVAL);
  std::vector<ImageSource> out;
  for (size_t i = 0; i < manifest->size(); ++i) {
    auto img = readDockerEntry(dir, (*manifest)[i], i);
    if (!img.ok()) return img.error().wrap("docker archive " + dir);
    out.push_back(std::move(*img));
  }
  return out;
}

}  // namespace boxd::reconcilers
