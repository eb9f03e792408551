// SendTargets discovery for the iSCSI backend: one short discovery session per portal, driven
// by the libiscsi async API with a deadline (never the sync API, never auto-reconnect).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "blockd/protocol.h"
#include "common/result.h"

namespace boxd::blockd::iscsi {

struct DiscoveryParams {
  std::vector<std::string> portals;  // "host:port", each one asked
  std::string iqn;                   // the target that must be listed
  std::string initiatorName;
  std::optional<Chap> chap;         // discovery CHAP
  int64_t attemptTimeoutMs = 5000;  // one portal
};

// Asks every portal. Returns the portals to log in to: the configured ones in their order, then
// any other portal a reply listed for the target. An error (naming each portal and why) when no
// portal listed the target: a dead portal, failed discovery CHAP, or an ACL that hides it.
Result<std::vector<std::string>> discoverPortals(const DiscoveryParams& p, int64_t deadlineMs);

}  // namespace boxd::blockd::iscsi
