// What the block steps need from the host, passed in Host::block by the agent (null when the
// host serves no block volumes, e.g. in tests that do not need them).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "reconcilers/block/block_backend.h"
#include "reconcilers/block/block_registry.h"
#include "reconcilers/block/command_runner.h"

namespace boxd::reconcilers {

class UserspaceBackend;

struct BlockContext {
  BlockRegistry& registry;
  std::map<std::string, BlockBackend*> backends;  // by BlockVolume::backend
  UserspaceBackend* userspace = nullptr;          // the one behind iscsi-user and rbd-user
  CommandRunner& runner;
  // Resolves the volume's secretRef (or keyring) at the moment it is needed; never stored.
  std::function<Result<BlockCredentials>(const BlockVolume&)> credentials;
  // Checks an RBD image before its first attach (exists, size, features, watchers) and creates
  // it when the pod asks for provisioning; empty = no check.
  std::function<Status(const BlockVolume&, const BlockCredentials&)> prepareRbdImage;
  std::string mountsDir;           // <runDir>/block/mounts: one filesystem mount per device
  int64_t toolTimeoutMs = 120000;  // mkfs / fsck
  int64_t unmountAbortMs = 45000;  // a filesystem unmount stuck this long aborts its FUSE link

  Result<BlockBackend*> backend(const std::string& name) const {
    auto it = backends.find(name);
    if (it == backends.end() || it->second == nullptr)
      return makeError("block backend \"" + name + "\" is not available on this host", ENOTSUP);
    return it->second;
  }
};

}  // namespace boxd::reconcilers
