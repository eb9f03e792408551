#include "agent/security_context.h"

#include <algorithm>

#include "specs/capabilities.h"

namespace boxd::agent {

namespace {

bool has(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Names the parser accepted; anything else (a hand-edited record) is ignored.
uint64_t maskOf(const std::vector<std::string>& names) {
  uint64_t m = 0;
  for (const auto& n : names) {
    if (int number = specs::capabilityNumber(n); number >= 0) m |= specs::capabilityBit(number);
  }
  return m;
}

}  // namespace

uint64_t resolveCapabilities(const specs::Capabilities& caps) {
  uint64_t m = specs::kDefaultCapabilities;
  if (has(caps.add, "ALL")) m = specs::kAllCapabilities;
  if (has(caps.drop, "ALL")) m = 0;
  m |= maskOf(caps.add);
  m &= ~maskOf(caps.drop);
  return m;
}

Result<reconcilers::ContainerSecurity> resolveSecurity(const specs::PodSpec& pod,
                                                       const specs::Container& c,
                                                       const std::string& imageUser) {
  const specs::SecurityContext& cs = c.securityContext;
  const specs::PodSecurityContext& ps = pod.securityContext;
  reconcilers::ContainerSecurity s;
  std::optional<int64_t> user = cs.runAsUser ? cs.runAsUser : ps.runAsUser;
  std::optional<int64_t> group = cs.runAsGroup ? cs.runAsGroup : ps.runAsGroup;
  s.uid = static_cast<uint32_t>(user.value_or(0));
  s.gid = static_cast<uint32_t>(group.value_or(0));
  const std::string imageUid = imageUser.substr(0, imageUser.find(':'));
  const bool numericImageUser = !imageUid.empty() && imageUid.size() <= 10 &&
                                imageUid.find_first_not_of("0123456789") == std::string::npos;
  if (!user && numericImageUser) s.uid = static_cast<uint32_t>(std::stoull(imageUid));
  // fsGroup first, then supplementalGroups, each once (kubelet's order).
  if (ps.fsGroup) s.groups.push_back(static_cast<uint32_t>(*ps.fsGroup));
  for (int64_t g : ps.supplementalGroups) {
    if (!ps.fsGroup || g != *ps.fsGroup) s.groups.push_back(static_cast<uint32_t>(g));
  }
  s.privileged = cs.privileged.value_or(false);
  s.capabilities = s.privileged ? specs::kAllCapabilities : resolveCapabilities(cs.capabilities);
  s.noNewPrivs = cs.allowPrivilegeEscalation ? !*cs.allowPrivilegeEscalation : !s.privileged;
  s.readOnlyRootfs = cs.readOnlyRootFilesystem.value_or(false);
  bool nonRoot = cs.runAsNonRoot ? *cs.runAsNonRoot : ps.runAsNonRoot.value_or(false);
  const std::string where = " (pod " + pod.name + ", container " + c.name + ")";
  if (nonRoot && !user && !imageUid.empty() && !numericImageUser)
    return makeError("runAsNonRoot is set but the image's user '" + imageUser +
                     "' is a name, so it cannot be verified to be non-root: set runAsUser" + where);
  if (nonRoot && s.uid == 0) {
    if (user) return makeError("runAsNonRoot is set but runAsUser is 0 (root)" + where);
    return makeError(
        "runAsNonRoot is set but the image runs as root (it sets no non-root user: set "
        "runAsUser)" +
        where);
  }
  return s;
}

}  // namespace boxd::agent
