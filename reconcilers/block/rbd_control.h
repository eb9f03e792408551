// The RBD control path, in boxd itself, with librados/librbd (never the rbd CLI): before the
// first attach of an image, connect with mon_host + key (no ceph.conf), check the image exists
// (or create it when the pod asks for provisioning), and refuse a read-write attach while
// another client has the image open. Every call is bounded by the connect timeout: a dead
// cluster is an error within seconds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "reconcilers/block/block_backend.h"

namespace boxd::reconcilers {

struct RbdImageInfo {
  uint64_t sizeBytes = 0;
  uint64_t features = 0;
  std::vector<std::string> watchers;  // "addr (id N)" of clients with the image open
  bool created = false;               // boxd created it just now (provisioning)
};

// librbd feature names → bits; an unknown name is an error naming it (names of bits: rbd_kernel.h).
Result<uint64_t> rbdFeatureBits(const std::vector<std::string>& names);

class RbdControl {
 public:
  explicit RbdControl(int64_t timeoutMs) : timeoutMs_(timeoutMs) {}
  // Opens the image read-only (creating it first if v asks for provisioning and it is absent).
  Result<RbdImageInfo> inspect(const BlockVolume& v, const std::string& key);
  // inspect, then refuse a read-write attach of an image other clients have open.
  Status prepare(const BlockVolume& v, const std::string& key);

 private:
  int64_t timeoutMs_;
};

}  // namespace boxd::reconcilers
