#include "agent/boxctl_namespace.h"

#include "specs/object_key.h"
#include "specs/validate.h"

namespace boxd::agent {

namespace {

Status setNamespace(NamespaceScope& scope, const std::string& ns) {
  if (std::string why = specs::checkDns1123Label(ns); !why.empty())
    return makeError("namespace " + ns + ": " + why);
  scope.ns = ns;
  scope.explicitNs = true;
  return okStatus();
}

}  // namespace

Result<NamespaceScope> takeNamespaceOptions(std::vector<std::string>& args) {
  NamespaceScope scope;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    if (a == "-A" || a == "--all-namespaces") {
      scope.all = true;
    } else if (a == "-n" || a == "--namespace") {
      if (i + 1 >= args.size()) return makeError(a + " needs a namespace");
      BOXD_TRY(setNamespace(scope, args[++i]));
    } else if (a.rfind("--namespace=", 0) == 0) {
      BOXD_TRY(setNamespace(scope, a.substr(12)));
    } else if (a.rfind("-n", 0) == 0 && a.size() > 2 && a[2] != '-') {
      BOXD_TRY(setNamespace(scope, a.substr(2)));  // -nNS, as kubectl's flag parser allows
    } else {
      rest.push_back(a);
    }
  }
  args = std::move(rest);
  return scope;
}

std::string podKey(const NamespaceScope& scope, const std::string& pod) {
  if (pod.find('/') != std::string::npos) return pod;
  return specs::objectKey(scope.ns, pod);
}

nlohmann::json podsInScope(const nlohmann::json& status, const NamespaceScope& scope) {
  nlohmann::json out = status;
  if (scope.all || !status.contains("pods")) return out;
  nlohmann::json pods = nlohmann::json::array();
  for (const auto& p : status["pods"]) {
    if (p.value("namespace", std::string(specs::kDefaultNamespace)) == scope.ns) pods.push_back(p);
  }
  out["pods"] = std::move(pods);
  return out;
}

}  // namespace boxd::agent
