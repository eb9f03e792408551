// ephemeral-storage by project quota, where the pods' filesystem has them
// (reconcilers/quota/project_quota.h); otherwise boxd measures by walking
// (agent/ephemeral_storage.h), as before. Which one is in use is logged once at start and shown
// by `boxctl describe` of each pod with a limit.
//
// With quotas, each container with an ephemeral-storage limit (its own or the config's default)
// gets a project over its overlay upper and work dirs, and each disk emptyDir with a sizeLimit
// one over its directory: a "projquota" step in the pod's plan (before the container's rootfs
// step, after the emptyDir's step) with the hard block limit = the limit. A write past it fails
// with EDQUOT in the container, which is the container's own error; at the next resync the usage
// read from the quota has reached the limit and the pod is Evicted with kubelet's message, as on
// the measured path. A container's log files are boxd's (the shim writes and rotates them, a
// handful per container): they are not under the project, so a full writable layer never costs
// log lines, and they still count towards the container's usage, stat'ed at each resync.
//
// Project IDs: allocated by boxd from a configurable range (default 1500000000-1500999999, away
// from 0 and from the small IDs admins give in /etc/projid, and from kubelet's 1048577+). The
// record of an ID in use is the journal row of its step (state store), so a restarted boxd
// re-adopts it with its pod, and a crash never leaks one: a row left "intent" is undone like any
// other. The undo clears the limit and removes the directories, so when the row goes no inode
// carries the ID any more, and only then is it free for another pod. Between planning and
// journaling, IDs are held in memory by the pod's uid (a crash there frees them: nothing was
// applied).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/ephemeral_storage.h"
#include "agent/pod_plan.h"
#include "reconcilers/quota/project_quota.h"
#include "state/store.h"

namespace boxd::agent {

struct ProjectIdRange {
  uint32_t min = 1500000000;
  uint32_t max = 1500999999;
};

// The project ID a journal row holds (kind "projquota"), or 0.
uint32_t projectIdOfRow(const std::string& kind, const nlohmann::json& params);

// Lowest-first allocation of project IDs outside those in use (journal rows) and those held.
class ProjectIdAllocator {
 public:
  explicit ProjectIdAllocator(ProjectIdRange range) : range_(range) {}
  // n IDs for the pod incarnation uid, held until release(uid).
  Result<std::vector<uint32_t>> reserve(const std::string& uid, size_t n,
                                        const std::set<uint32_t>& journaled);
  void release(const std::string& uid) { held_.erase(uid); }
  size_t heldCount() const;

 private:
  ProjectIdRange range_;
  std::map<std::string, std::vector<uint32_t>> held_;
};

// The quota steps a pod needs, each with the ID given in order from ids (the caller reserves
// countQuotaSteps() of them), inserted in the plan: a container's before its rootfs step, an
// emptyDir's after its emptydir step.
size_t countQuotaSteps(const specs::PodSpec& pod, int64_t defaultLimit);
void insertQuotaSteps(std::vector<PlannedStep>& plan, const reconcilers::Paths& paths,
                      const specs::PodSpec& pod, const std::string& uid, int64_t defaultLimit,
                      const std::vector<uint32_t>& ids);

// The projects of a pod's journal rows, for measuring: what the quota counts is read from it.
void applyProjectIds(StorageTargets& targets, const std::vector<state::JournalRow>& rows);

// What `boxctl describe` says of a pod with a limit, from its journal rows.
std::string ephemeralStorageMode(const std::vector<state::JournalRow>& rows);

class ProjectQuotas {
 public:
  ProjectQuotas(std::unique_ptr<reconcilers::ProjectQuotaSys> sys,
                reconcilers::QuotaSupport support, ProjectIdRange range);
  // The real interface on the pods dir, and detection. enable = false (config
  // projectQuota: false) keeps the measured path even where quotas work.
  static std::unique_ptr<ProjectQuotas> start(const reconcilers::Paths& paths, bool enable,
                                              ProjectIdRange range);

  // Null when the pods dir could not be opened: then no projquota row can be undone either.
  reconcilers::ProjectQuotaSys* sys() { return sys_.get(); }
  bool enabled() const { return support_.enabled; }
  const std::string& detail() const { return support_.detail; }
  // The line boxd logs once at start: which path ephemeral-storage takes, and why.
  std::string startLine() const;

  // Adds the pod's quota steps to plan (nothing without quotas). journal: every row of the
  // store, whose projects are in use (an error fails the plan when it needs IDs).
  Status plan(std::vector<PlannedStep>& plan, const reconcilers::Paths& paths,
              const specs::PodSpec& pod, const std::string& uid, int64_t defaultLimit,
              const Result<std::vector<state::JournalRow>>& journal);
  // The create of uid is over (done or rolled back): its IDs are in the journal or free.
  void release(const std::string& uid) { ids_.release(uid); }

 private:
  std::unique_ptr<reconcilers::ProjectQuotaSys> sys_;
  reconcilers::QuotaSupport support_;
  ProjectIdRange range_;
  ProjectIdAllocator ids_;
};

}  // namespace boxd::agent
