// boxctl's namespace options, as kubectl's: -n/--namespace NS picks the namespace of the pods a
// command names (default "default"); -A/--all-namespaces widens `status` to every namespace.
// Pure, so it is unit-tested.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::agent {

struct NamespaceScope {
  std::string ns = "default";
  bool all = false;  // -A
  bool explicitNs = false;
};

// Takes the namespace options out of args, wherever they stand before a "--" (what follows "--"
// is a command's own argv and is left alone). An invalid namespace name is an error.
Result<NamespaceScope> takeNamespaceOptions(std::vector<std::string>& args);

// The key boxd knows the pod by (specs::objectKey). A "NS/NAME" argument is taken as it is.
std::string podKey(const NamespaceScope& scope, const std::string& pod);

// boxd's status answer with only the pods of the scope's namespace (all of them with -A).
nlohmann::json podsInScope(const nlohmann::json& status, const NamespaceScope& scope);

}  // namespace boxd::agent
