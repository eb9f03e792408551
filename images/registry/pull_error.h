// Why a pull failed, in the words kubelet puts in a pod's status. Registry errors carry their
// reason in Error::code as one of these values (all >= 1000, never an errno).
#pragma once

#include <string>

#include "common/result.h"

namespace boxd::images {

enum class PullReason {
  None = 0,
  Failed = 1000,       // anything else (a local write failed, a malformed answer)
  Unauthorized,        // 401/403, no or wrong credentials
  ManifestUnknown,     // no such repository, tag or digest
  NoMatchingPlatform,  // the index has no manifest for this host
  DigestMismatch,      // content differs from its digest or size
  Unreachable,         // no connection, reset, timeouts, 5xx after retries, TLS failures
  Unsupported,         // schema 1, other digest algorithms
  Cancelled,           // the caller cancelled the pull (or another transfer of it failed)
};

const char* reasonText(PullReason r);  // "unauthorized", "manifest unknown", ...

inline Error pullError(PullReason r, const std::string& message) {
  return makeError(std::string(reasonText(r)) + ": " + message, static_cast<int>(r));
}
inline PullReason reasonOf(const Error& e) {
  return e.code >= 1000 && e.code <= static_cast<int>(PullReason::Cancelled)
             ? static_cast<PullReason>(e.code)
             : PullReason::Failed;
}

}  // namespace boxd::images
