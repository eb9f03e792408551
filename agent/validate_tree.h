// `boxctl validate`: the checks boxd makes on a specs directory, run on any files or directories
// without boxd and without root, plus the checks that span documents. Meant for a pre-commit
// hook or CI on a git repository of specs.
//
// Per file, exactly what boxd does: the same name filter (isSpecFileName), the same read
// (readSpecSnapshot for a directory: size limit, symlinks kept inside, not-a-regular-file), the
// same parser, and the world-readable Secret refusal. Across every file given, on Pods and on
// the pod templates of workloads, Jobs and CronJobs (problems point at the template's field):
//  - a pod, secret, configmap, job or cronjob name declared twice in a namespace (boxd
//    applies neither declaration);
//  - a Secret or ConfigMap a pod needs that no file declares in the pod's namespace (block
//    volumes' secretRef, imagePullSecrets, env valueFrom, envFrom, configMap / secret /
//    projected volumes; references marked optional: true excepted), and a key such a reference
//    names that its object lacks (env valueFrom's key, items[].key of configMap / secret /
//    projected volumes; a ConfigMap's binaryData counts for volumes, not for env), in the words
//    boxd uses at run time (missingKeyMessage);
//  - two pods publishing the same hostPort (same protocol, overlapping hostIP);
//  - two pods using the same block volume (iSCSI IQN + LUN, RBD pool/image) where either one
//    mounts it read-write;
//  - files that look like specs but that boxd skips (editor and package leftovers, dotfiles).
// Directories are read like boxd reads the specs dir: their top level only.
#pragma once

#include <string>
#include <vector>

#include "specs/parse.h"

namespace boxd::agent {

struct ValidateReport {
  std::vector<specs::Diagnostic> problems;  // sorted by file, line, column
  int files = 0;                            // spec files read
  int pods = 0, secrets = 0;                // documents that parsed
};

ValidateReport validatePaths(const std::vector<std::string>& paths);

// True for a name boxd skips that still names a spec format (".web.yaml.swp", "web.yaml~",
// "web.yaml.dpkg-new"): likely a leftover the author did not mean to leave out.
bool looksLikeSkippedSpec(const std::string& name);

}  // namespace boxd::agent
