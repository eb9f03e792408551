// The batch/v1 Job schema (docs/workloads.md#jobs): the pod template (the Pod schema, at
// spec.template, restartPolicy OnFailure or Never) and the counts the Job controller runs by.
// Fields boxd cannot honour on one host are refused unless they ask for nothing.

#include <algorithm>

#include "specs/doc_parser.h"
#include "specs/job.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

// Known Job fields boxd does not implement: refused unless null, false, {} or [].
constexpr std::string_view kJobSpecUnsupported[] = {
    "suspend",          "podFailurePolicy",     "successPolicy", "backoffLimitPerIndex",
    "maxFailedIndexes", "podReplacementPolicy", "managedBy",     "manualSelector",
    "selector"};
constexpr std::string_view kJobUnsupported[] = {"status"};
constexpr int64_t kMaxIndexedCompletions = 100000;  // Kubernetes' bound for Indexed Jobs

}  // namespace

std::optional<Job> DocParser::parseJob(const YAML::Node& root) {
  isWorkload_ = true;
  isJob_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  walkObject(
      root, where, "",
      objectFields(
          "batch/v1", "Job", workload_.name, workload_.namespaceName, checkDns1123Label,
          {{"spec", true, [this](const Entry& f, const std::string& p) { parseJobSpec(f, p); }}}),
      kJobUnsupported);
  if (r_.count() != before) return std::nullopt;
  job_.name = workload_.name;
  job_.namespaceName = workload_.namespaceName;
  job_.podTemplate = workload_.podTemplate;
  return job_;
}

void DocParser::parseJobSpec(const Entry& e, const std::string& path) {
  bool haveTemplate = false, completionsSet = false, parallelismSet = false;
  YAML::Mark parallelismAt = e.valueMark();
  // A non-negative integer field into out; `positive`: greater than 0.
  auto count = [this](int64_t& out, bool positive, bool* set = nullptr) {
    return [this, &out, positive, set](const Entry& f, const std::string& p) {
      std::optional<int64_t> n = integer(f, p);
      if (!n) return;
      if (positive && *n <= 0) return error(f.valueMark(), p, "must be greater than 0");
      if (*n < 0) return error(f.valueMark(), p, "must be greater than or equal to 0");
      out = *n;
      if (set != nullptr) *set = true;
    };
  };
  int64_t deadline = 0, ttl = 0;
  bool deadlineSet = false, ttlSet = false;
  std::vector<Field> fields = {
      {"template", true,
       [&](const Entry& f, const std::string& p) { haveTemplate = parsePodTemplate(f, p, true); }},
      {"completions", false, count(job_.completions, false, &completionsSet)},
      {"parallelism", false,
       [&](const Entry& f, const std::string& p) {
         parallelismAt = f.valueMark();
         count(job_.parallelism, false, &parallelismSet)(f, p);
       }},
      {"backoffLimit", false, count(job_.backoffLimit, false)},
      {"activeDeadlineSeconds", false, count(deadline, true, &deadlineSet)},
      {"ttlSecondsAfterFinished", false, count(ttl, false, &ttlSet)},
      {"completionMode", false, [&](const Entry& f, const std::string& p) {
         std::optional<std::string> s = string(f, p);
         if (!s) return;
         if (*s == "Indexed") return void(job_.completionMode = CompletionMode::Indexed);
         if (*s == "NonIndexed") return void(job_.completionMode = CompletionMode::NonIndexed);
         error(f.valueMark(), p,
               "Unsupported value: " + inQuotes(*s) +
                   ": supported values: \"NonIndexed\", \"Indexed\"");
       }}};
  walkObject(e.value, e.valueMark(), path, fields, kJobSpecUnsupported);
  if (deadlineSet) job_.activeDeadlineSeconds = deadline;
  if (ttlSet) job_.ttlSecondsAfterFinished = ttl;
  // Kubernetes leaves completions unset when only parallelism is given: a work queue, where the
  // first pod to succeed completes the Job. boxd runs counted completions only.
  if (!completionsSet && parallelismSet && job_.parallelism > 1)
    error(parallelismAt, fieldPath(path, "completions"),
          "a work-queue Job (parallelism without completions) is not supported by boxd: set "
          "spec.completions");
  if (haveTemplate) checkJob(path, parallelismAt);
}

void DocParser::checkJob(const std::string& path, const YAML::Mark& at) {
  if (job_.completionMode == CompletionMode::Indexed && job_.completions > kMaxIndexedCompletions)
    error(at, fieldPath(path, "completions"),
          "must be less than or equal to " + std::to_string(kMaxIndexedCompletions) +
              " when completion mode is Indexed");
  int64_t atOnce = std::min(job_.parallelism, job_.completions);
  checkReplicaClash(fieldPath(path, "parallelism"), at, atOnce, "parallelism");
  Job named = job_;
  named.name = workload_.name + std::string(jobNameExtra_, '0');
  size_t longest = longestJobPodName(named);
  if (!workload_.name.empty() && longest > 63) {
    error(nameMark_, "metadata.name",
          "pod names made from it would be up to " + std::to_string(longest) +
              " characters; boxd pod names are at most 63: shorten the name");
  }
}

}  // namespace boxd::specs::detail
