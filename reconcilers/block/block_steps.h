// Block volumes as steps, per pod volume, each shared with other pods through the registry:
//
//   blocksession ──► blockdevice ──► blockfs ──► (bound into containers by the shim)
//     login /          loop on the     probe, mkfs if blank,
//     helper up        LUN / image     fsck, mount under
//                      file; SCSI      <runDir>/block/mounts
//                      scan; krbd map
//       │                 │                │
//     last user:        last user:       last user: unmount (a stuck unmount aborts the
//     logout /          detach, checked   helper's FUSE link after a bound)
//     helper stopped    gone
//
// A device is attached read-write for one pod volume at most: a second user is refused unless
// every user is read-only.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "reconcilers/block/block_backend.h"
#include "reconcilers/block/block_context.h"
#include "reconcilers/host/mounter.h"
#include "reconcilers/step.h"

namespace boxd::reconcilers {

class BlockStep : public Step {
 public:
  BlockStep(BlockContext& ctx, Mounter& mounter, BlockVolume v, std::string user,
            nlohmann::json extra);
  std::string resource() const override;
  nlohmann::json params() const override;

 protected:
  BlockContext& ctx_;
  Mounter& mounter_;
  BlockVolume v_;
  std::string user_;      // "<pod uid>/<volume>"
  nlohmann::json extra_;  // step-specific params (device found, mount path)
};

class BlockSessionStep : public BlockStep {
 public:
  using BlockStep::BlockStep;
  std::string kind() const override { return "blocksession"; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;
};

class BlockDeviceStep : public BlockStep {
 public:
  using BlockStep::BlockStep;
  std::string kind() const override { return "blockdevice"; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;
};

class BlockFsStep : public BlockStep {
 public:
  using BlockStep::BlockStep;
  std::string kind() const override { return "blockfs"; }
  Result<bool> observe() override;
  Status apply() override;
  Status undo() override;

 private:
  std::string mountPath() const;
};

bool isBlockStepKind(const std::string& kind);
Result<std::unique_ptr<Step>> blockStepFromParams(const std::string& kind,
                                                  const nlohmann::json& params, Host& host);
// The registry key and user a journal row of a block step holds (to seed the registry at
// start); nullopt for other kinds or malformed rows.
std::optional<std::pair<std::string, BlockUser>> blockRegistryEntry(const std::string& kind,
                                                                    const nlohmann::json& params);

}  // namespace boxd::reconcilers
