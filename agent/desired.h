// Desired state: what the specs directory asks for, after the rules that protect running pods.
//
//  - ConfigMaps follow the same rules as Secrets (they are not recorded either).
//  - Documents of other kinds (Service, Deployment...) are listed in `skipped`, never errors.
//  - A file that parses and validates contributes its pods and secrets, and becomes that file's
//    "last good".
//  - A file with any error contributes its last good pods and secrets (from this run, or, after a
//    restart, the pods recorded with that source file): a half-written file never tears a pod
//    down. Secrets are not recorded (boxd stores no credential), so after a restart a broken
//    file contributes no secret until it is fixed; running pods are not affected, an attach that
//    needs the secret reports it missing.
//  - A pod name declared in two files is a conflict: both files are reported, and neither
//    replaces the pod that runs (if one does, it stays exactly as recorded). A secret name
//    declared in two files is reported the same way, and neither declaration is used.
//  - Jobs follow the rules of pods: a file with errors keeps its last good Jobs (after a restart
//    with no last good, the agent keeps the recorded run as it is); a Job name declared in two
//    files is a conflict, and neither declaration is used.
//  - Only a file's removal (or a valid edit) removes its pods and secrets.
// A secret a pod names but no file declares is not an error here: the agent reports it when it
// attaches the volume. Pure logic, no syscalls.
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

// Never printed: use specs::describeSecret for anything a user sees.
struct DesiredSecret {
  specs::Secret secret;
  std::string sourceFile;
};

// A batch/v1 Job: its pods are decided by the Job controller (agent/job_controller.h).
struct DesiredJob {
  specs::Job job;
  std::string hash;  // specs::jobHash
  std::string sourceFile;
};

// A batch/v1 CronJob: the Jobs it makes are decided by agent/cronjob_controller.h.
struct DesiredCronJob {
  specs::CronJob cronJob;
  std::string hash;  // specs::cronJobHash
  std::string sourceFile;
};

struct DesiredConfigMap {
  specs::ConfigMap configMap;
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

// Maps are by key: specs::objectKey(namespace, name), the bare name in the default namespace.
struct Desired {
  std::map<std::string, DesiredPod> pods;
  std::map<std::string, DesiredSecret> secrets;
  std::map<std::string, DesiredConfigMap> configMaps;
  std::map<std::string, DesiredJob> jobs;
  std::map<std::string, DesiredCronJob> cronJobs;  // CronJobs follow the rules of Jobs
  std::vector<SpecError> errors;
  // Documents of kinds boxd does not run, one note each with file:line (this pass's parses).
  std::vector<specs::Diagnostic> skipped;
  // Whether this pass found errors in file (its objects then stay as they last were).
  bool fileHasErrors(const std::string& file) const;
};

// What a file contributed the last time it was valid.
struct FileGood {
  std::vector<DesiredPod> pods;
  std::vector<DesiredSecret> secrets;
  std::vector<DesiredConfigMap> configMaps;
  std::vector<DesiredJob> jobs;
  std::vector<DesiredCronJob> cronJobs;
};
using LastGood = std::map<std::string, FileGood>;  // by file

// Whether errors has some for file.
bool hasErrors(const std::vector<SpecError>& errors, const std::string& file);

// files: this pass's parse results. lastGood: updated in place. recorded: pods in the state store
// (name -> recorded desired form), used for files with errors that have no last good yet.
Desired resolveDesired(const std::vector<FileResult>& files, LastGood& lastGood,
                       const std::map<std::string, DesiredPod>& recorded);

}  // namespace boxd::agent
