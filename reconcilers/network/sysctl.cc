#include "reconcilers/network/sysctl.h"

#include "common/util.h"

namespace boxd::reconcilers::net {

std::string sysctlPath(std::initializer_list<std::string> parts) {
  std::string path = "/proc/sys";
  for (const auto& p : parts) path += "/" + p;
  return path;
}

Result<std::string> readSysctl(const std::string& path) {
  auto v = readFile(path);
  if (!v.ok()) return v.error().wrap("read sysctl");
  return trim(*v);
}

Status writeSysctl(const std::string& path, const std::string& value) {
  auto cur = readSysctl(path);
  if (cur.ok() && *cur == value) return {};
  Status st = writeFile(path, value);
  if (!st.ok()) return st.error().wrap("set sysctl");
  return {};
}

}  // namespace boxd::reconcilers::net
