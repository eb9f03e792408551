#include "agent/node_labels.h"

#include <sys/utsname.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <climits>

#include "specs/validate.h"

namespace boxd::agent {

namespace {

// uname's machine as Go's GOARCH, which kubernetes.io/arch carries.
std::string goArch(const std::string& machine) {
  static const std::pair<const char*, const char*> kArch[] = {
      {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i686", "386"},
      {"i386", "386"},        {"armv7l", "arm"},    {"armv6l", "arm"},
      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"}};
  for (const auto& [m, a] : kArch) {
    if (machine == m) return a;
  }
  return machine;
}

}  // namespace

Status parseNodeLabels(const YAML::Node& v, Labels& out) {
  if (!v.IsMap()) return makeError("nodeLabels: expected a mapping of label keys to values");
  for (const auto& kv : v) {
    if (!kv.first.IsScalar() || !kv.second.IsScalar())
      return makeError("nodeLabels: expected string keys and values");
    std::string key = kv.first.Scalar(), value = kv.second.Scalar();
    std::string why = specs::checkQualifiedName(key);
    if (why.empty()) why = specs::checkLabelValue(value);
    if (!why.empty()) return makeError("nodeLabels." + key + ": " + why);
    out[key] = value;
  }
  return okStatus();
}

Labels nodeLabelsFor(const Labels& configured, const std::string& hostname,
                     const std::string& machine) {
  std::string host = hostname;
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Labels out = {{"kubernetes.io/hostname", host},
                {"kubernetes.io/os", "linux"},
                {"kubernetes.io/arch", goArch(machine)}};
  for (const auto& [k, v] : configured) out[k] = v;
  return out;
}

Labels nodeLabels(const Labels& configured) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "";
  return nodeLabelsFor(configured, host, machine);
}

std::string nodeSelectorMismatch(const specs::PodSpec& pod, const Labels& labels) {
  for (const auto& [key, want] : pod.nodeSelector) {
    auto it = labels.find(key);
    if (it != labels.end() && it->second == want) continue;
    std::string has = it == labels.end() ? "has no label " + key : "has " + key + "=" + it->second;
    return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector "
           "(nodeSelector " +
           key + "=" + want + "; this node " + has + ")";
  }
  return "";
}

}  // namespace boxd::agent
