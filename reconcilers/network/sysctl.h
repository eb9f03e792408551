// Kernel parameters under /proc/sys. Paths are built from pieces, not from sysctl(8)'s dotted
// names, because an interface name may itself hold a dot:
//   sysctlPath({"net", "ipv4", "conf", bridge, "route_localnet"})
#pragma once

#include <initializer_list>
#include <string>

#include "common/result.h"

namespace boxd::reconcilers::net {

std::string sysctlPath(std::initializer_list<std::string> parts);
Result<std::string> readSysctl(const std::string& path);  // trimmed value
// Writes only when the value differs, so an already-set parameter needs no write access.
Status writeSysctl(const std::string& path, const std::string& value);

}  // namespace boxd::reconcilers::net
