// How much disk a tree a container writes uses (its overlay upper dir, a disk emptyDir, its log
// files), measured by walking it: the fallback of ephemeral-storage accounting where the
// filesystem has no project quotas (agent/ephemeral_storage.h).
//
// Blocking: run it on a worker thread, never on the event loop. Bounded: at most maxEntries
// entries are looked at, so a container that makes millions of files cannot keep a worker busy
// for minutes; the sum is then a lower bound (complete = false). Each level of the walk holds
// one open directory, so it does not go deeper than kMaxTreeDepth levels either (complete =
// false too): a tree nested deeper cannot take boxd's file descriptors.
//
// The walk never follows a symlink and never leaves the tree's filesystem: each directory is
// opened from its parent's fd with O_NOFOLLOW, and an entry on another device (a mount inside)
// is skipped. A file with several links inside the tree counts once. Sizes are the blocks
// allocated (st_blocks), as du and kubelet count them, so a sparse file costs what it holds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers {

constexpr size_t kMaxTreeDepth = 512;

struct TreeUsage {
  int64_t bytes = 0;     // allocated, in bytes
  int64_t entries = 0;   // files, dirs, links looked at
  bool complete = true;  // false: budget or depth ran out, bytes is a lower bound
};

// A missing path is zero usage, not an error (a container's upper dir before it is created).
Result<TreeUsage> treeUsage(const std::string& path, int64_t maxEntries);

// The files of dir whose names start with prefix ("app.log" for app.log, app.log.1, ...),
// without descending: a container's log files.
Result<TreeUsage> filesUsage(const std::string& dir, const std::string& prefix);

}  // namespace boxd::reconcilers
