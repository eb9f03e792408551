// The content id of an extracted image: SHA-256 over a deterministic walk of the tree.
//
// Walk: depth first, children in byte order of their names, the root first as ".".
// Each entry adds: type letter, NUL, relative path, NUL, permission bits (octal, incl.
// setuid/setgid/sticky), NUL, uid, NUL, gid, NUL, then
//   regular file: size, NUL, the bytes     symlink: target, NUL     device: rdev, NUL
//   directory/fifo/socket: nothing
// Times, inode numbers, link counts and xattrs are not part of the id.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

struct TreeDigest {
  std::string sha256;     // lowercase hex
  int64_t fileBytes = 0;  // sum of regular file sizes
};

Result<TreeDigest> hashTree(const std::string& root);

}  // namespace boxd::reconcilers
