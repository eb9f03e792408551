// Which Job keeps a name a CronJob's Job and a Job of the specs share (cronjob_jobs.h).
#include "agent/cronjob_jobs.h"

namespace boxd::agent {

CronJobJobs mergeCronJobJobs(const std::map<std::string, DesiredJob>& specJobs,
                             const std::vector<CronJobKeptJob>& kept,
                             const std::set<std::string>& heldBefore) {
  CronJobJobs out;
  out.jobs = specJobs;
  for (const CronJobKeptJob& k : kept) {
    const std::string key = k.job.job.key();
    auto spec = specJobs.find(key);
    if (spec != specJobs.end()) {
      const std::string& file = spec->second.sourceFile;
      out.held[key] = {
          file,
          {{file, 0, 0, "metadata.name",
            "Job \"" + key + "\" already exists (created by CronJob \"" + k.cronJob +
                "\"): its declaration in " + file + " is not run until that Job is gone"}}};
    }
    out.jobs[key] = k.job;
  }
  for (const std::string& key : heldBefore) {
    if (out.held.count(key) || !specJobs.count(key)) continue;
    out.releasing.insert(key);
    out.jobs.erase(key);
  }
  return out;
}

std::vector<SpecError> withSpecErrors(std::vector<SpecError> errors,
                                      const std::vector<SpecError>& more) {
  for (const SpecError& m : more) {
    bool merged = false;
    for (SpecError& e : errors) {
      if (e.file != m.file) continue;
      e.errors.insert(e.errors.end(), m.errors.begin(), m.errors.end());
      merged = true;
      break;
    }
    if (!merged) errors.push_back(m);
  }
  return errors;
}

}  // namespace boxd::agent
