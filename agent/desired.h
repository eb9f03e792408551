// Desired state: what the specs directory asks for, after the rules that protect running pods.
//
//  - A file that parses and validates contributes its pods, and becomes that file's "last good".
//  - A file with any error contributes its last good pods (from this run, or, after a restart,
//    the pods recorded with that source file): a half-written file never tears a pod down.
//  - A pod name declared in two files is a conflict: both files are reported, and neither
//    replaces the pod that runs (if one does, it stays exactly as recorded).
//  - Only a file's removal (or a valid edit) removes its pods.
// Pure logic, no syscalls.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "specs/parse.h"

namespace boxd::agent {

struct DesiredPod {
  specs::PodSpec spec;
  std::string hash;
  std::string sourceFile;
};

struct SpecError {
  std::string file;
  std::vector<specs::Diagnostic> errors;
};

struct FileResult {
  std::string file;
  specs::ParseResult parsed;
};

struct Desired {
  std::map<std::string, DesiredPod> pods;
  std::vector<SpecError> errors;
};

using LastGood = std::map<std::string, std::vector<DesiredPod>>;  // by file

// files: this pass's parse results. lastGood: updated in place. recorded: pods in the state store
// (name -> recorded desired form), used for files with errors that have no last good yet.
Desired resolveDesired(const std::vector<FileResult>& files, LastGood& lastGood,
                       const std::map<std::string, DesiredPod>& recorded);

}  // namespace boxd::agent
