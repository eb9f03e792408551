// securityContext at pod and container level (a Kubernetes subset; docs/security.md).
#include <algorithm>

#include "specs/capabilities.h"
#include "specs/doc_parser.h"

namespace boxd::specs::detail {
namespace {

// Reported by name as not supported, never dropped silently. seccompProfile is handled apart:
// its RuntimeDefault is what boxd does anyway.
constexpr std::string_view kPodSecurityUnsupported[] = {
    "seLinuxOptions",  "windowsOptions",      "sysctls",
    "appArmorProfile", "seLinuxChangePolicy", "supplementalGroupsPolicy",
};
constexpr std::string_view kContainerSecurityUnsupported[] = {"seLinuxOptions", "windowsOptions",
                                                              "procMount", "appArmorProfile"};
constexpr std::string_view kSeccompProfileUnsupported[] = {"localhostProfile"};

constexpr int64_t kMaxId = 2147483647;  // Kubernetes' limit on user and group ids

bool isAll(std::string_view s) {
  return s.size() == 3 && (s[0] | 0x20) == 'a' && (s[1] | 0x20) == 'l' && (s[2] | 0x20) == 'l';
}

}  // namespace

std::optional<int64_t> DocParser::parseId(const Entry& e, const std::string& path) {
  std::optional<int64_t> v = integer(e, path);
  if (v && (*v < 0 || *v > kMaxId)) {
    error(e.valueMark(), path,
          "must be a user or group id between 0 and 2147483647, got " + std::to_string(*v));
    return std::nullopt;
  }
  return v;
}

// Only {type: RuntimeDefault} (boxd's own filter, what every container gets) is accepted.
void DocParser::parseSeccompProfile(const Entry& e, const std::string& path) {
  walkObject(e.value, e.valueMark(), path,
             {{"type", true,
               [this](const Entry& f, const std::string& p) {
                 std::optional<std::string> t = string(f, p);
                 if (t && *t != "RuntimeDefault")
                   error(f.valueMark(), p,
                         "seccomp profile " + inQuotes(*t) +
                             " is not supported by boxd yet; only \"RuntimeDefault\" (boxd's "
                             "own filter) is");
               }}},
             kSeccompProfileUnsupported);
}

PodSecurityContext DocParser::parsePodSecurityContext(const Entry& e, const std::string& path) {
  PodSecurityContext sc;
  walkObject(
      e.value, e.valueMark(), path,
      {{"runAsUser", false,
        [&](const Entry& f, const std::string& p) { sc.runAsUser = parseId(f, p); }},
       {"runAsGroup", false,
        [&](const Entry& f, const std::string& p) { sc.runAsGroup = parseId(f, p); }},
       {"runAsNonRoot", false,
        [&](const Entry& f, const std::string& p) { sc.runAsNonRoot = boolean(f, p); }},
       {"supplementalGroups", false,
        [&](const Entry& f, const std::string& p) {
          forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
            std::optional<int64_t> g = parseId(Entry{"", at, n}, ip);
            if (g && std::find(sc.supplementalGroups.begin(), sc.supplementalGroups.end(), *g) ==
                         sc.supplementalGroups.end())
              sc.supplementalGroups.push_back(*g);
          });
        }},
       {"fsGroup", false,
        [&](const Entry& f, const std::string& p) { sc.fsGroup = parseId(f, p); }},
       {"fsGroupChangePolicy", false,
        [&](const Entry& f, const std::string& p) {
          std::optional<std::string> s = string(f, p);
          if (s && *s != "Always" && *s != "OnRootMismatch")
            return error(f.valueMark(), p,
                         "must be one of \"Always\", \"OnRootMismatch\", got " + inQuotes(*s));
          sc.fsGroupChangePolicy = s;
        }},
       {"seccompProfile", false,
        [&](const Entry& f, const std::string& p) { parseSeccompProfile(f, p); }}},
      kPodSecurityUnsupported);
  return sc;
}

// Names as Kubernetes writes them ("NET_ADMIN"); "CAP_NET_ADMIN" and any case are accepted and
// stored canonical, each once. "ALL" stands for every capability.
std::vector<std::string> DocParser::parseCapabilityList(const Entry& e, const std::string& path) {
  std::vector<std::string> out;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    std::optional<std::string> s = string(n, at, p);
    if (!s) return;
    std::string name;
    if (int number = capabilityNumber(*s); number >= 0) {
      name = std::string(kCapabilities[number].name);
    } else if (isAll(*s)) {
      name = "ALL";
    } else {
      return error(at, p,
                   "unknown capability " + inQuotes(*s) +
                       "; use a name from capabilities(7) without CAP_, such as NET_ADMIN, or "
                       "ALL");
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
  });
  return out;
}

SecurityContext DocParser::parseSecurityContext(const Entry& e, const std::string& path) {
  SecurityContext sc;
  YAML::Mark escalationAt = e.valueMark();
  YAML::Mark addAt = e.valueMark();
  auto flag = [&](std::optional<bool>& out) {
    return [&](const Entry& f, const std::string& p) { out = boolean(f, p); };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"runAsUser", false,
               [&](const Entry& f, const std::string& p) { sc.runAsUser = parseId(f, p); }},
              {"runAsGroup", false,
               [&](const Entry& f, const std::string& p) { sc.runAsGroup = parseId(f, p); }},
              {"runAsNonRoot", false, flag(sc.runAsNonRoot)},
              {"privileged", false, flag(sc.privileged)},
              {"readOnlyRootFilesystem", false, flag(sc.readOnlyRootFilesystem)},
              {"allowPrivilegeEscalation", false,
               [&](const Entry& f, const std::string& p) {
                 sc.allowPrivilegeEscalation = boolean(f, p);
                 escalationAt = f.valueMark();
               }},
              {"capabilities", false,
               [&](const Entry& f, const std::string& p) {
                 walkObject(f.value, f.valueMark(), p,
                            {{"add", false,
                              [&](const Entry& g, const std::string& gp) {
                                sc.capabilities.add = parseCapabilityList(g, gp);
                                addAt = g.valueMark();
                              }},
                             {"drop", false,
                              [&](const Entry& g, const std::string& gp) {
                                sc.capabilities.drop = parseCapabilityList(g, gp);
                              }}},
                            {});
               }},
              {"seccompProfile", false,
               [&](const Entry& f, const std::string& p) { parseSeccompProfile(f, p); }}},
             kContainerSecurityUnsupported);
  // Kubernetes refuses these combinations too: such a container could always gain privileges.
  if (sc.allowPrivilegeEscalation == false) {
    std::string p = fieldPath(path, "allowPrivilegeEscalation");
    if (sc.privileged == true) error(escalationAt, p, "cannot be false when privileged is true");
    const auto& add = sc.capabilities.add;
    for (std::string_view cap : {"SYS_ADMIN", "ALL"}) {
      if (std::find(add.begin(), add.end(), cap) != add.end())
        error(escalationAt, p,
              "cannot be false when capabilities.add has " + std::string(cap) + " (at line " +
                  std::to_string(lineOf(addAt)) + ")");
    }
  }
  return sc;
}

}  // namespace boxd::specs::detail
