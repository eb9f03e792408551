// The effective security of one container: its securityContext over the pod's, over boxd's
// defaults, with Kubernetes' semantics (docs/security.md). Pure: unit-tested without root.
//
//   uid, gid          container runAsUser/runAsGroup, else the pod's, else the image's User
//                     when numeric (a name is resolved at start, image_user.h), else 0
//   groups            the pod's fsGroup, then its supplementalGroups (each once)
//   capabilities      privileged: all. Otherwise boxd's default set, then add ALL → all,
//                     drop ALL → none, then each named add, then each named drop (a name in both
//                     lists ends dropped). "drop [ALL], add [NET_BIND_SERVICE]" keeps just that.
//   noNewPrivs        !allowPrivilegeEscalation when set; else on, except for privileged
//   runAsNonRoot      container's, else the pod's: with uid 0 the container must not start, nor
//                     with an image user given by name (as kubelet: it cannot be verified)
#pragma once

#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"
#include "specs/pod.h"

namespace boxd::agent {

// An error only for a runAsNonRoot violation; its message says which, naming pod and container.
// imageUser: the image's User when it applies (image_config.h), else empty.
Result<reconcilers::ContainerSecurity> resolveSecurity(const specs::PodSpec& pod,
                                                       const specs::Container& c,
                                                       const std::string& imageUser = "");

// The capability mask from boxd's defaults and a container's add/drop lists (canonical names).
uint64_t resolveCapabilities(const specs::Capabilities& caps);

}  // namespace boxd::agent
