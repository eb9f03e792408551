#include "blockd/iscsi_discovery.h"

// clang-format off
#include <iscsi/iscsi.h>
// clang-format on
#include <poll.h>

#include <algorithm>

#include "blockd/iscsi_scsi.h"
#include "common/util.h"

namespace boxd::blockd::iscsi {
namespace {

// One discovery session: connect → login (session type discovery) → SendTargets.
struct Probe {
  const std::string& iqn;
  bool done = false;
  bool failed = false;
  std::string error;
  bool listed = false;
  std::vector<std::string> portals;  // the target's portals from the reply

  void fail(iscsi_context* ctx) {
    failed = true;
    error = iscsi_get_error(ctx);
  }

  static void discoveryCb(iscsi_context* ctx, int status, void* data, void* self) {
    auto* p = static_cast<Probe*>(self);
    if (status != SCSI_STATUS_GOOD) return p->fail(ctx);
    for (auto* a = static_cast<iscsi_discovery_address*>(data); a != nullptr; a = a->next) {
      if (a->target_name == nullptr || p->iqn != a->target_name) continue;
      p->listed = true;
      for (auto* tp = a->portals; tp != nullptr; tp = tp->next) {
        if (tp->portal != nullptr) p->portals.push_back(stripPortalGroup(tp->portal));
      }
    }
    p->done = true;
  }
  static void loginCb(iscsi_context* ctx, int status, void*, void* self) {
    auto* p = static_cast<Probe*>(self);
    if (status != SCSI_STATUS_GOOD) return p->fail(ctx);
    if (iscsi_discovery_async(ctx, &Probe::discoveryCb, p) != 0) p->fail(ctx);
  }
  static void connectCb(iscsi_context* ctx, int status, void*, void* self) {
    auto* p = static_cast<Probe*>(self);
    if (status != SCSI_STATUS_GOOD) return p->fail(ctx);
    if (iscsi_login_async(ctx, &Probe::loginCb, p) != 0) p->fail(ctx);
  }
};

iscsi_context* discoveryContext(const DiscoveryParams& p, int64_t timeoutMs) {
  iscsi_context* ctx = iscsi_create_context(p.initiatorName.c_str());
  if (ctx == nullptr) return nullptr;
  iscsi_set_noautoreconnect(ctx, 1);
  iscsi_set_session_type(ctx, ISCSI_SESSION_DISCOVERY);
  iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout(ctx, static_cast<int>(std::max<int64_t>(1, timeoutMs / 1000)));
  if (p.chap) {
    iscsi_set_initiator_username_pwd(ctx, p.chap->username.c_str(), p.chap->password.c_str());
    if (!p.chap->usernameIn.empty()) {
      iscsi_set_target_username_pwd(ctx, p.chap->usernameIn.c_str(), p.chap->passwordIn.c_str());
    }
  }
  return ctx;
}

// Runs one probe to completion or its deadline; returns the reason of a failure ("" = done).
std::string runProbe(const DiscoveryParams& p, const std::string& portal, int64_t deadlineMs,
                     Probe& probe) {
  iscsi_context* ctx = discoveryContext(p, deadlineMs - monotonicMs());
  if (ctx == nullptr) return "could not create a libiscsi context";
  if (iscsi_connect_async(ctx, portal.c_str(), &Probe::connectCb, &probe) != 0) probe.fail(ctx);
  while (!probe.done && !probe.failed) {
    int64_t left = deadlineMs - monotonicMs();
    if (left <= 0) {
      probe.failed = true;
      probe.error = "timed out";
      break;
    }
    pollfd pfd{iscsi_get_fd(ctx), static_cast<short>(iscsi_which_events(ctx) | POLLRDHUP), 0};
    (void)::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 100)));
    if (iscsi_service(ctx, pfd.revents) < 0 && !probe.done && !probe.failed) probe.fail(ctx);
    if (!probe.done && !probe.failed && (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) {
      probe.failed = true;
      probe.error = "connection closed by the target";
    }
  }
  iscsi_destroy_context(ctx);
  return probe.failed ? connectReason(probe.error) : "";
}

}  // namespace

Result<std::vector<std::string>> discoverPortals(const DiscoveryParams& p, int64_t deadlineMs) {
  std::vector<std::string> out = p.portals;
  std::vector<std::string> problems;
  bool listed = false;
  for (const auto& portal : p.portals) {
    int64_t attemptEnd = std::min(deadlineMs, monotonicMs() + p.attemptTimeoutMs);
    Probe probe{p.iqn};
    std::string reason = runProbe(p, portal, attemptEnd, probe);
    if (!reason.empty()) {
      problems.push_back(portal + ": " + reason);
      continue;
    }
    if (!probe.listed) {
      problems.push_back(portal + ": the target is not listed (unknown IQN, or its ACL hides it)");
      continue;
    }
    listed = true;
    for (const auto& found : probe.portals) {
      if (std::find(out.begin(), out.end(), found) == out.end()) out.push_back(found);
    }
  }
  if (!listed) {
    std::string msg = "SendTargets discovery of " + p.iqn + " found it on no portal";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i == 0 ? ": " : "; ") + problems[i];
    return makeError(msg, ENOENT);
  }
  return out;
}

}  // namespace boxd::blockd::iscsi
