// Builds OCI image layouts and `docker save` trees by hand for the image store tests: layer
// tars written with libarchive (gzip, zstd or none), blobs named by their SHA-256, a config
// with diff IDs, a manifest, index.json. No registry, no external tool.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/util.h"
#include "reconcilers/images/sha256_stream.h"

namespace boxd::testing {

struct LayerEntry {
  std::string path;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string content;  // file bytes
  std::string link;     // symlink target, or hard link target when hardlink
  bool hardlink = false;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

enum class Compression { None, Gzip, Zstd };

inline std::string sha256Of(const std::string& bytes) {
  reconcilers::Sha256Stream h;
  h.add(bytes.data(), bytes.size());
  return h.hex();
}

// The layer as bytes: a pax tar, compressed as asked.
inline std::string layerBytes(const std::vector<LayerEntry>& entries, Compression c) {
  archive* a = archive_write_new();
  if (c == Compression::Gzip) archive_write_add_filter_gzip(a);
  if (c == Compression::Zstd) archive_write_add_filter_zstd(a);
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::vector<char> buf(16 << 20);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& e : entries) {
    archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    archive_entry_set_uid(en, 0);
    archive_entry_set_gid(en, 0);
    archive_entry_set_mtime(en, 1700000000, 0);
    if (e.hardlink) {
      archive_entry_set_filetype(en, AE_IFREG);
      archive_entry_set_hardlink(en, e.link.c_str());
    } else {
      archive_entry_set_filetype(en, e.type);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(en, e.link.c_str());
    }
    archive_entry_set_perm(en, e.perm);
    for (const auto& [n, v] : e.xattrs)
      archive_entry_xattr_add_entry(en, n.c_str(), v.data(), v.size());
    const bool data = e.type == AE_IFREG && !e.hardlink;
    archive_entry_set_size(en, data ? static_cast<la_int64_t>(e.content.size()) : 0);
    archive_write_header(a, en);
    if (data && !e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

// The uncompressed tar's digest for a layer (its diff ID): the same entries, uncompressed.
struct BuiltLayer {
  std::string blob;    // as stored
  std::string diffId;  // hex
  std::string mediaType;
};

inline BuiltLayer buildLayer(const std::vector<LayerEntry>& entries, Compression c) {
  BuiltLayer l;
  l.blob = layerBytes(entries, c);
  l.diffId = sha256Of(layerBytes(entries, Compression::None));
  l.mediaType = c == Compression::Gzip   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                : c == Compression::Zstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                         : "application/vnd.oci.image.layer.v1.tar";
  return l;
}

class OciLayout {
 public:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {
    (void)mkdirAll(dir_ + "/blobs/sha256");
    (void)writeFileAtomic(dir_ + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }

  std::string putBlob(const std::string& bytes) {
    const std::string hex = sha256Of(bytes);
    (void)writeFileAtomic(dir_ + "/blobs/sha256/" + hex, bytes);
    return hex;
  }

  // Adds an image; returns its manifest's hex digest. config: the "config" section.
  std::string addImage(const std::vector<BuiltLayer>& layers, const nlohmann::json& config,
                       const std::string& refName = "") {
    nlohmann::json diffIds = nlohmann::json::array();
    nlohmann::json descs = nlohmann::json::array();
    for (const auto& l : layers) {
      diffIds.push_back("sha256:" + l.diffId);
      const std::string hex = putBlob(l.blob);
      descs.push_back(
          {{"mediaType", l.mediaType}, {"digest", "sha256:" + hex}, {"size", l.blob.size()}});
    }
    nlohmann::json cfg = {{"architecture", "amd64"},
                          {"os", "linux"},
                          {"config", config},
                          {"rootfs", {{"type", "layers"}, {"diff_ids", diffIds}}}};
    configBytes = cfg.dump();
    configHex = putBlob(configBytes);
    nlohmann::json manifest = {{"schemaVersion", 2},
                               {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                               {"config",
                                {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                 {"digest", "sha256:" + configHex},
                                 {"size", configBytes.size()}}},
                               {"layers", descs}};
    const std::string m = manifest.dump();
    const std::string hex = putBlob(m);
    nlohmann::json d = {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"digest", "sha256:" + hex},
                        {"size", m.size()}};
    if (!refName.empty()) d["annotations"] = {{"org.opencontainers.image.ref.name", refName}};
    index_["manifests"].push_back(d);
    (void)writeFileAtomic(dir_ + "/index.json", index_.dump());
    return hex;
  }

  const std::string& dir() const { return dir_; }
  std::string configBytes, configHex;  // of the last image added

 private:
  std::string dir_;
  nlohmann::json index_ = {{"schemaVersion", 2}, {"manifests", nlohmann::json::array()}};
};

// Tars a directory's content (relative names) into path: for layouts given as one file.
inline std::string tarDirectoryCommand(const std::string& dir, const std::string& out) {
  return "tar -C '" + dir + "' -cf '" + out + "' .";
}

}  // namespace boxd::testing
