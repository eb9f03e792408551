// Reads the specs directory as one consistent snapshot.
//
// Writers swap whole trees: git-sync points a symlink at .worktrees/<rev>, a Kubernetes ConfigMap
// volume swaps `..data -> ..<timestamp>`. The snapshot resolves those links once, opens the
// resolved directory, and reads every file relative to that fd, so a swap in the middle of a pass
// never mixes two revisions. Dotfiles and editor/packaging leftovers are ignored.
//
// A file that holds a Secret must not be readable by other users: the mode checked is the one of
// the file actually read (fstat on the opened descriptor, through any ConfigMap/git-sync link).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "specs/parse.h"

namespace boxd::agent {

struct SpecFile {
  std::string name;  // relative to the snapshot dir, e.g. "web.yaml"
  std::string content;
  std::string hash;   // sha256 of content
  unsigned mode = 0;  // permission bits of the file read (st_mode & 07777)
};

struct SpecSnapshot {
  std::string dir;       // the resolved directory that was read
  std::string revision;  // symlink target name (git rev, ConfigMap timestamp) or a content hash
  std::vector<SpecFile> files;
};

// True for names boxd reads: *.yaml, *.yml, *.json that are not dotfiles or leftovers.
bool isSpecFileName(const std::string& name);

Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir);

// A file that holds a Secret and is readable by "other" is refused: its parse result becomes one
// error ("web.yaml: holds a Secret but is world-readable (mode 0644); chmod 600 it"), so the file
// contributes nothing new and keeps its last good pods and secrets.
void refuseExposedSecrets(const SpecFile& f, specs::ParseResult& parsed);

}  // namespace boxd::agent
