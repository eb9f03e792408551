// Content-addressed store of image root filesystems: imagesDir/<id>/rootfs, where id is the
// SHA-256 of the extracted tree (see content_hash.h). The same content imported twice is stored
// once. Blocking (extraction, hashing): call from a worker thread.
//
//   import(src):  src (directory | tarball, any compression libarchive detects)
//       ──extract──► imagesDir/.tmp-<random>/rootfs ──hash──► id
//       ──rename──►  imagesDir/<id>     (already there: the tmp copy is discarded)
//       any failure removes the tmp dir.
//
// Extraction safety: every entry name (and hard link target) must be relative without ".."
// components, otherwise the import is refused; names are then prefixed with the canonical tmp
// path, and libarchive additionally runs with SECURE_NODOTDOT and SECURE_SYMLINKS (no writing
// through a symlink, e.g. "link -> /etc" followed by "link/passwd"). SECURE_NOABSOLUTEPATHS is
// not set because of that prefix: names are made absolute after being checked, since
// archive_write_disk resolves relative names against the process-wide working directory, which
// a multi-threaded agent must not change. Owners are kept numerically (no name lookup), as are
// permissions, times and xattrs; file flags (chattr) are not restored.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct ImportedImage {
  std::string id;         // 64 lowercase hex characters
  int64_t sizeBytes = 0;  // sum of regular file sizes
  std::string rootfs;     // imagesDir/<id>/rootfs
};

class ImageStore {
 public:
  explicit ImageStore(std::string imagesDir);

  Result<ImportedImage> import(const std::string& src);
  std::string rootfsOf(const std::string& id) const;
  // Removes imagesDir/<id>; absent = success. Callers make sure no overlay still uses it.
  Status remove(const std::string& id);
  Result<bool> has(const std::string& id);
  // Removes .tmp-* dirs left by an import interrupted by a crash; call before any import runs.
  Status removeTemporaries();

  static bool validId(const std::string& id);

 private:
  std::string dir_;
};

}  // namespace boxd::reconcilers
