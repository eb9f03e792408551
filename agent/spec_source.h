// Reads the specs directory as one consistent snapshot.
//
// Writers swap whole trees: git-sync points a symlink at .worktrees/<rev>, a Kubernetes ConfigMap
// volume swaps `..data -> ..<timestamp>`. The snapshot resolves those links once, opens the
// resolved directory, and reads every file relative to that fd, so a swap in the middle of a pass
// never mixes two revisions. Dotfiles and editor/packaging leftovers are ignored.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::agent {

struct SpecFile {
  std::string name;  // relative to the snapshot dir, e.g. "web.yaml"
  std::string content;
  std::string hash;  // sha256 of content
};

struct SpecSnapshot {
  std::string dir;       // the resolved directory that was read
  std::string revision;  // symlink target name (git rev, ConfigMap timestamp) or a content hash
  std::vector<SpecFile> files;
};

// True for names boxd reads: *.yaml, *.yml, *.json that are not dotfiles or leftovers.
bool isSpecFileName(const std::string& name);

Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir);

}  // namespace boxd::agent
