#include "specs/job.h"

#include <nlohmann/json.hpp>

#include "common/hash.h"
#include "specs/workload.h"

namespace boxd::specs {

std::string_view toString(CompletionMode m) {
  return m == CompletionMode::Indexed ? "Indexed" : "NonIndexed";
}

std::string jobHash(const Job& job) {
  nlohmann::json identity = {{"template", toJson(job.podTemplate)},
                             {"completions", job.completions},
                             {"completionMode", toString(job.completionMode)}};
  return sha256Hex(identity.dump()).substr(0, 16);
}

size_t longestJobPodName(const Job& job) {
  size_t n = job.name.size() + 1 + 5;
  if (job.completionMode == CompletionMode::Indexed)
    n += std::to_string(job.completions > 0 ? job.completions - 1 : 0).size() + 1;
  return n;
}

PodSpec jobPod(const Job& job, const std::string& uid, int64_t serial, int64_t index) {
  PodSpec pod = job.podTemplate;
  std::string prefix = job.name + "-";
  if (index >= 0) prefix += std::to_string(index) + "-";
  pod.name = prefix + encodedName(uid + "/" + std::to_string(serial), 5);
  pod.namespaceName = job.namespaceName;
  pod.annotations[kOwnerAnnotation] = "Job/" + job.name;
  for (const char* label : {kJobNameLabel, "job-name"}) pod.labels[label] = job.name;
  for (const char* label : {kJobControllerUid, "controller-uid"}) pod.labels[label] = uid;
  if (index < 0) return pod;
  std::string i = std::to_string(index);
  pod.annotations[kJobCompletionIndex] = i;
  pod.labels[kJobCompletionIndex] = i;
  if (pod.hostname.empty()) pod.hostname = job.name + "-" + i;  // as Kubernetes names it
  auto addIndex = [&i](std::vector<Container>& list) {
    for (Container& c : list) {
      bool set = false;
      for (const EnvVar& e : c.env) set = set || e.name == "JOB_COMPLETION_INDEX";
      if (!set) c.env.insert(c.env.begin(), EnvVar{"JOB_COMPLETION_INDEX", i, std::nullopt});
    }
  };
  addIndex(pod.initContainers);
  addIndex(pod.containers);
  return pod;
}

int64_t completionIndexOf(const PodSpec& pod) {
  auto it = pod.annotations.find(kJobCompletionIndex);
  if (it == pod.annotations.end() || it->second.empty() || it->second.size() > 9 ||
      it->second.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(it->second);
}

}  // namespace boxd::specs
