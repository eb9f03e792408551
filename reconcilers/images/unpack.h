// Writing image content to disk: a whole root filesystem (directory or tarball) for a rootfs
// import, and one OCI/Docker layer blob for the layered store. Blocking: call from a worker.
//
// Safety, for both: every entry name (and hard link target) must be relative without ".."
// components, otherwise the unpack is refused; names are then prefixed with dest (an absolute,
// canonical path), and libarchive also runs with SECURE_NODOTDOT and SECURE_SYMLINKS (no
// writing through a symlink, e.g. "link -> /etc" followed by "link/passwd"). Hard links can only
// name entries of the same archive, beneath dest. Owners are kept numerically, as are
// permissions, times and xattrs, except trusted.overlay.* / user.overlay.* ones, which would be
// overlayfs metadata (redirects, metacopy) and are dropped.
//
// A layer additionally turns OCI/AUFS whiteouts into overlayfs ones:
//   <dir>/.wh.NAME       → <dir>/NAME as a character device 0/0  (NAME deleted below)
//   <dir>/.wh..wh..opq   → xattr trusted.overlay.opaque=y on <dir> (nothing below shows through)
// made with openat2 beneath dest without following any symlink.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

// Extracts a directory tree or a tarball (any compression libarchive detects) into dest, an
// existing empty directory given by its canonical path. Whiteout names are kept as plain files.
Status extractTree(const std::string& src, const std::string& dest);

struct LayerDigests {
  std::string blob;       // sha256 hex of the bytes of the blob as stored (compressed or not)
  std::string diffId;     // sha256 hex of the uncompressed tar
  int64_t fileBytes = 0;  // sum of the regular files' sizes
};

struct LayerExpect {
  std::string blob;    // sha256 hex the blob must have; empty: not checked
  std::string diffId;  // sha256 hex the uncompressed tar must have; empty: not checked
};

// Unpacks the layer blob at blobPath (tar, gzip, zstd, ...) into dest (existing, empty,
// canonical), converting whiteouts, while hashing both the blob and its uncompressed tar; a
// digest other than expected fails (dest is then the caller's to remove).
Result<LayerDigests> unpackLayer(const std::string& blobPath, const std::string& dest,
                                 const LayerExpect& expect);

}  // namespace boxd::reconcilers
