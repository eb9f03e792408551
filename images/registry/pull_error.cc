#include "images/registry/pull_error.h"

namespace boxd::images {

const char* reasonText(PullReason r) {
  switch (r) {
    case PullReason::None:
      return "ok";
    case PullReason::Failed:
      return "pull failed";
    case PullReason::Unauthorized:
      return "unauthorized";
    case PullReason::ManifestUnknown:
      return "manifest unknown";
    case PullReason::NoMatchingPlatform:
      return "no match for platform";
    case PullReason::DigestMismatch:
      return "digest mismatch";
    case PullReason::Unreachable:
      return "unreachable";
    case PullReason::Unsupported:
      return "unsupported";
    case PullReason::Cancelled:
      return "cancelled";
  }
  return "pull failed";
}

}  // namespace boxd::images
