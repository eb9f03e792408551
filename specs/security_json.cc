#include "specs/security_json.h"

#include <string>

namespace boxd::specs::detail {

using nlohmann::json;

namespace {

void putInt(json& j, const char* key, const std::optional<int64_t>& v) {
  if (v) j[key] = *v;
}
void putBool(json& j, const char* key, const std::optional<bool>& v) {
  if (v) j[key] = *v;
}

Error decodeError(const std::string& field, const char* what) {
  return makeError("decode pod spec: securityContext." + field + ": " + what);
}

Status getInt(const json& j, const char* key, std::optional<int64_t>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return okStatus();
  if (!it->is_number_integer()) return decodeError(key, "expected an integer");
  out = it->get<int64_t>();
  return okStatus();
}

Status getBool(const json& j, const char* key, std::optional<bool>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return okStatus();
  if (!it->is_boolean()) return decodeError(key, "expected a boolean");
  out = it->get<bool>();
  return okStatus();
}

template <typename T>
Status getList(const json& j, const char* key, std::vector<T>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return okStatus();
  if (!it->is_array()) return decodeError(key, "expected an array");
  for (const json& v : *it) {
    bool ok = std::is_same_v<T, std::string> ? v.is_string() : v.is_number_integer();
    if (!ok) return decodeError(key, "unexpected item type");
    out.push_back(v.get<T>());
  }
  return okStatus();
}

// The object under "securityContext", or null when absent.
Result<const json*> contextOf(const json& j) {
  auto it = j.find("securityContext");
  if (it == j.end() || it->is_null()) return static_cast<const json*>(nullptr);
  if (!it->is_object()) return decodeError("", "expected an object");
  return &*it;
}

}  // namespace

void addSecurityJson(json& j, const SecurityContext& sc) {
  if (sc == SecurityContext{}) return;
  json o = json::object();
  putInt(o, "runAsUser", sc.runAsUser);
  putInt(o, "runAsGroup", sc.runAsGroup);
  putBool(o, "runAsNonRoot", sc.runAsNonRoot);
  putBool(o, "privileged", sc.privileged);
  putBool(o, "readOnlyRootFilesystem", sc.readOnlyRootFilesystem);
  putBool(o, "allowPrivilegeEscalation", sc.allowPrivilegeEscalation);
  if (!sc.capabilities.add.empty() || !sc.capabilities.drop.empty())
    o["capabilities"] = json{{"add", sc.capabilities.add}, {"drop", sc.capabilities.drop}};
  j["securityContext"] = std::move(o);
}

void addPodSecurityJson(json& j, const PodSecurityContext& sc) {
  if (sc == PodSecurityContext{}) return;
  json o = json::object();
  putInt(o, "runAsUser", sc.runAsUser);
  putInt(o, "runAsGroup", sc.runAsGroup);
  putBool(o, "runAsNonRoot", sc.runAsNonRoot);
  if (!sc.supplementalGroups.empty()) o["supplementalGroups"] = sc.supplementalGroups;
  putInt(o, "fsGroup", sc.fsGroup);
  if (sc.fsGroupChangePolicy) o["fsGroupChangePolicy"] = *sc.fsGroupChangePolicy;
  j["securityContext"] = std::move(o);
}

Status readSecurityJson(const json& j, SecurityContext& out) {
  auto o = contextOf(j);
  if (!o.ok()) return o.error();
  if (*o == nullptr) return okStatus();
  const json& c = **o;
  BOXD_TRY(getInt(c, "runAsUser", out.runAsUser));
  BOXD_TRY(getInt(c, "runAsGroup", out.runAsGroup));
  BOXD_TRY(getBool(c, "runAsNonRoot", out.runAsNonRoot));
  BOXD_TRY(getBool(c, "privileged", out.privileged));
  BOXD_TRY(getBool(c, "readOnlyRootFilesystem", out.readOnlyRootFilesystem));
  BOXD_TRY(getBool(c, "allowPrivilegeEscalation", out.allowPrivilegeEscalation));
  if (auto caps = c.find("capabilities"); caps != c.end() && !caps->is_null()) {
    if (!caps->is_object()) return decodeError("capabilities", "expected an object");
    BOXD_TRY(getList(*caps, "add", out.capabilities.add));
    BOXD_TRY(getList(*caps, "drop", out.capabilities.drop));
  }
  return okStatus();
}

Status readPodSecurityJson(const json& j, PodSecurityContext& out) {
  auto o = contextOf(j);
  if (!o.ok()) return o.error();
  if (*o == nullptr) return okStatus();
  const json& c = **o;
  BOXD_TRY(getInt(c, "runAsUser", out.runAsUser));
  BOXD_TRY(getInt(c, "runAsGroup", out.runAsGroup));
  BOXD_TRY(getBool(c, "runAsNonRoot", out.runAsNonRoot));
  BOXD_TRY(getInt(c, "fsGroup", out.fsGroup));
  if (auto it = c.find("fsGroupChangePolicy"); it != c.end() && !it->is_null()) {
    if (!it->is_string()) return decodeError("fsGroupChangePolicy", "expected a string");
    out.fsGroupChangePolicy = it->get<std::string>();
  }
  return getList(c, "supplementalGroups", out.supplementalGroups);
}

}  // namespace boxd::specs::detail
