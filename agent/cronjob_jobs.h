// The Jobs of CronJobs among the Jobs of the specs (docs/workloads.md#cronjobs). Pure.
//
// A CronJob's Job and a Job of the specs of one name (and namespace): the one there first keeps
// the name, as Kubernetes refuses the second create (AlreadyExists).
//  - The Job of the specs is there first: the CronJob does not start that run (TakenJobNames,
//    agent/cronjob_controller.h).
//  - The CronJob's Job is there first (its record keeps it) and a file then declares a Job of
//    that name: the CronJob's Job runs on; the Job of the specs is held (not run) and its file
//    is told, an error of that file as for a name declared twice, until that Job is gone. It is
//    released one pass after that Job left the desired Jobs, so that Job's run has ended (and
//    its pods are torn down) before the Job of the specs starts a run of its own.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/desired.h"

namespace boxd::agent {

// A Job a CronJob made and keeps.
struct CronJobKeptJob {
  std::string cronJob;  // the CronJob's name
  DesiredJob job;
};

struct CronJobJobs {
  std::map<std::string, DesiredJob> jobs;  // by Job key: the desired Jobs
  // By Job key: the Jobs of the specs whose name a CronJob's Job has, each with the error of its
  // file that says so.
  std::map<std::string, SpecError> held;
  std::set<std::string> releasing;  // held in the pass before, that Job is gone: run next pass
};

// specJobs: the Jobs of the specs (resolveDesired); kept: the Jobs the CronJobs keep;
// heldBefore: the keys `held` had in the pass before.
CronJobJobs mergeCronJobJobs(const std::map<std::string, DesiredJob>& specJobs,
                             const std::vector<CronJobKeptJob>& kept,
                             const std::set<std::string>& heldBefore);

// `errors` and `more`, one entry per file (as resolveDesired lists them).
std::vector<SpecError> withSpecErrors(std::vector<SpecError> errors,
                                      const std::vector<SpecError>& more);

}  // namespace boxd::agent
