// Reads the specs directory as one consistent snapshot.
//
// Writers swap whole trees: git-sync points a symlink at .worktrees/<rev>, a Kubernetes ConfigMap
// volume swaps `..data -> ..<timestamp>`. The snapshot resolves those links once, opens the
// resolved directory, and reads every file relative to that fd, so a swap in the middle of a pass
// never mixes two revisions. Dotfiles and editor/packaging leftovers are ignored.
//
// A file that holds a Secret must not be readable by other users: the mode checked is the one of
// the file actually read (fstat on the opened descriptor, through any ConfigMap/git-sync link).
//
// Anything else in the directory is a file's own problem, never the directory's: an entry that is
// not a regular file (a FIFO, a device, a directory named *.yaml), one larger than the limit, or a
// symlink leading outside the snapshot is reported as that entry's error, without being opened
// for reading, and every other file is read as usual. Symlinks inside the snapshot are followed.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "specs/parse.h"

namespace boxd::agent {

// What a spec file may weigh unless the config says otherwise (specMaxBytes).
inline constexpr size_t kDefaultSpecMaxBytes = 4 << 20;

struct SpecFile {
  std::string name;  // relative to the snapshot dir, e.g. "web.yaml"
  std::string content;
  std::string hash;   // sha256 of content
  unsigned mode = 0;  // permission bits of the file read (st_mode & 07777)
  // Why the entry was not read ("not a regular file (a FIFO)"); content is empty then.
  std::string error;
};

struct SpecSnapshot {
  std::string dir;       // the resolved directory that was read
  std::string revision;  // symlink target name (git rev, ConfigMap timestamp) or a content hash
  std::vector<SpecFile> files;
};

// True for names boxd reads: *.yaml, *.yml, *.json that are not dotfiles or leftovers.
bool isSpecFileName(const std::string& name);

// Fails only when the directory itself cannot be read; a bad entry is a SpecFile with an error.
Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir,
                                      size_t maxFileBytes = kDefaultSpecMaxBytes);
// The same, handing each file to `each` as soon as it is read (before it joins the snapshot).
Result<SpecSnapshot> readSpecSnapshot(const std::string& specsDir, size_t maxFileBytes,
                                      const std::function<void(SpecFile&)>& each);

// One pass as boxd's worker thread runs it, off the event loop: the snapshot, and the parse of
// every readable file whose hash differs from `known` (file -> hash of the parse the caller
// holds). Each file's text is dropped once it is parsed, so a pass holds at most one file's text.
struct SpecPass {
  SpecSnapshot snap;                                 // files without content
  std::map<std::string, specs::ParseResult> parsed;  // file -> parse, for the new hashes only
};
Result<SpecPass> readAndParseSpecs(const std::string& specsDir, size_t maxFileBytes,
                                   const std::map<std::string, std::string>& known);

// The parse result of an entry that could not be read: its error alone, so the file keeps its
// last good pods and secrets.
specs::ParseResult unreadableFile(const SpecFile& f);

// A file that holds a Secret and is readable by "other" is refused: its parse result becomes one
// error ("web.yaml: holds a Secret but is world-readable (mode 0644); chmod 600 it"), so the file
// contributes nothing new and keeps its last good pods and secrets.
void refuseExposedSecrets(const SpecFile& f, specs::ParseResult& parsed);

}  // namespace boxd::agent
