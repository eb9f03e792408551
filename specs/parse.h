// Spec files (YAML, multi-document, or JSON) → validated PodSpecs and Secrets, or every problem
// found, each with file:line:column and the field path. Pure: the caller reads the bytes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "specs/cronjob.h"
#include "specs/job.h"
#include "specs/pod.h"
#include "specs/secret.h"

namespace boxd::specs {

struct Diagnostic {
  std::string file;   // as given by the caller (a path relative to the specs dir)
  int line = 0;       // 1-based; 0 when unknown
  int column = 0;     // 1-based; 0 when unknown
  std::string field;  // "spec.containers[1].resources.limits.memory"; empty for file-level errors
  std::string message;
  // "web.yaml:12:9: spec.containers[1].image: required field is missing"
  std::string str() const;
};

struct ParsedPod {
  PodSpec spec;
  int line = 0;  // where the document starts
};

struct ParsedSecret {
  Secret secret;
  int line = 0;  // where the document starts
};

struct ParsedConfigMap {
  ConfigMap configMap;
  int line = 0;
};

struct ParsedJob {
  Job job;
  int line = 0;
};

struct ParsedCronJob {
  CronJob cronJob;
  int line = 0;
};

struct ParseResult {
  std::vector<ParsedPod> pods;
  std::vector<ParsedJob>
      jobs;  // batch/v1 Jobs: their pods are the agent's (agent/job_controller.h)
  std::vector<ParsedCronJob> cronJobs;  // batch/v1 CronJobs (agent/cronjob_controller.h)
  std::vector<ParsedSecret> secrets;
  std::vector<ParsedConfigMap> configMaps;
  std::vector<Diagnostic> errors;
  // Documents of kinds boxd does not run (Service, Deployment, ...): one note each, at the
  // document's line ("kind Service (v1) is not run by boxd; skipped"). Not errors: the rest of
  // the file applies.
  std::vector<Diagnostic> skipped;
  // Some document says kind: Secret, valid or not: the file holds credentials (the agent refuses
  // such a file when it is world-readable).
  bool holdsSecret = false;
  bool ok() const { return errors.empty(); }
};

// Parses every document of a file. Empty documents are skipped. Pods, Secrets and ConfigMaps
// (apiVersion v1) are read; apps/v1 workloads (Deployment, ReplicaSet, DaemonSet, StatefulSet)
// are expanded into their pods (specs/workload.h), which join `pods` with the line of the
// workload document; batch/v1 Jobs go to `jobs`, CronJobs to `cronJobs`; a document of another kind is noted in `skipped`
// (a kind that looks like a misspelt Pod, Secret or ConfigMap is an error). Unknown fields are
// errors, never dropped. Documents may come in any order; names are unique per kind within the
// file. Diagnostics about a Secret never quote any part of its values. `pods` and `secrets` hold
// the documents that had no problem, so one bad document does not hide the others; a caller that
// wants all-or-nothing per file checks ok(). Errors are sorted by position, capped at 200 per file;
// files over 8 MiB, with NUL bytes or invalid UTF-8 are refused whole. Plain YAML scalars are typed
// as kubectl reads them (YAML 1.1): `value: 1`, `on: yes` are a number and booleans, and string
// fields reject them with a hint to quote the value. Normalization: quantities become integers, a
// missing request takes its limit (as Kubernetes).
ParseResult parseSpecFile(std::string_view file, std::string_view content);

// DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
bool isDns1123Label(std::string_view s);

}  // namespace boxd::specs
