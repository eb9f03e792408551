// Step kinds by name: the one place that maps a journal row back to the code that undoes it.
#include "reconcilers/block/block_steps.h"
#include "reconcilers/cgroup/cgroup_step.h"
#include "reconcilers/host/host.h"
#include "reconcilers/network/hostport_step.h"
#include "reconcilers/network/netns_step.h"
#include "reconcilers/network/veth_step.h"
#include "reconcilers/poddir/files_step.h"
#include "reconcilers/poddir/poddir_step.h"
#include "reconcilers/quota/quota_step.h"
#include "reconcilers/rootfs/overlay_step.h"
#include "reconcilers/sandbox/shim_step.h"
#include "reconcilers/step.h"
#include "reconcilers/volumes/fs_group_step.h"
#include "reconcilers/volumes/legacy_bind_step.h"
#include "reconcilers/volumes/volume_steps.h"

namespace boxd::reconcilers {

namespace {
template <typename T>
Result<std::unique_ptr<Step>> up(Result<std::unique_ptr<T>> r) {
  if (!r.ok()) return r.error();
  return std::unique_ptr<Step>(std::move(*r));
}
}  // namespace

Result<std::unique_ptr<Step>> stepFromJournal(const std::string& kind, const nlohmann::json& params,
                                              Host& host) {
  if (kind == "poddir") return up(PodDirStep::fromParams(params, host));
  if (kind == "cgroup") return up(CgroupStep::fromParams(params, host));
  if (kind == "rootfs") return up(OverlayStep::fromParams(params, host));
  if (kind == "shim") return up(ShimStep::fromParams(params, host));
  if (kind == "emptydir") return up(EmptyDirStep::fromParams(params, host));
  if (kind == "hostpath") return up(HostPathStep::fromParams(params, host));
  if (kind == "projquota") return up(ProjectQuotaStep::fromParams(params, host));
  if (kind == "fsgroup") return up(FsGroupStep::fromParams(params, host));
  // Written by an older boxd only: rebuilt so a running pod's journal can still be undone.
  if (kind == "bind") return up(LegacyBindStep::fromParams(params, host));
  if (kind == "binds") return up(LegacyBindsStep::fromParams(params, host));
  if (kind == "files") return up(FilesStep::fromParams(params, host));
  if (kind == "netns") return up(NetnsStep::fromParams(params, host));
  if (kind == "veth") return up(VethStep::fromParams(params, host));
  if (kind == "hostport") return up(HostPortStep::fromParams(params, host));
  if (isBlockStepKind(kind)) return blockStepFromParams(kind, params, host);
  return makeError("unknown step kind \"" + kind + "\" in the journal");
}

}  // namespace boxd::reconcilers
