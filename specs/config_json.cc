#include "specs/config_json.h"

namespace boxd::specs {

using nlohmann::json;

namespace {

json optionalMode(const std::optional<int64_t>& m) { return m ? json(*m) : json(nullptr); }
std::optional<int64_t> readMode(const json& j) {
  auto it = j.find("mode");
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<int64_t>();
}

const char* kindName(ConfigSource::Kind k) {
  switch (k) {
    case ConfigSource::Kind::ConfigMap:
      return "configMap";
    case ConfigSource::Kind::Secret:
      return "secret";
    case ConfigSource::Kind::DownwardAPI:
      return "downwardAPI";
  }
  return "configMap";
}

json resourceJson(const ResourceFieldRef& r) {
  return json{{"containerName", r.containerName}, {"resource", r.resource}, {"divisor", r.divisor}};
}
ResourceFieldRef resourceFrom(const json& j) {
  return {j.value("containerName", ""), j.value("resource", ""), j.value("divisor", int64_t{0})};
}

json sourceJson(const ConfigSource& s) {
  json j{{"kind", kindName(s.kind)}, {"name", s.name}, {"optional", s.optional}};
  json items = json::array();
  for (const auto& k : s.items)
    items.push_back(json{{"key", k.key}, {"path", k.path}, {"mode", optionalMode(k.mode)}});
  json fields = json::array();
  for (const auto& f : s.fields) {
    json fj{{"path", f.path}, {"fieldPath", f.fieldPath}, {"mode", optionalMode(f.mode)}};
    if (f.resource) fj["resource"] = resourceJson(*f.resource);
    fields.push_back(std::move(fj));
  }
  j["items"] = std::move(items);
  j["fields"] = std::move(fields);
  return j;
}

ConfigSource sourceFrom(const json& j) {
  ConfigSource s;
  std::string kind = j.value("kind", "configMap");
  s.kind = kind == "secret"        ? ConfigSource::Kind::Secret
           : kind == "downwardAPI" ? ConfigSource::Kind::DownwardAPI
                                   : ConfigSource::Kind::ConfigMap;
  s.name = j.value("name", "");
  s.optional = j.value("optional", false);
  for (const json& k : j.value("items", json::array()))
    s.items.push_back({k.value("key", ""), k.value("path", ""), readMode(k)});
  for (const json& f : j.value("fields", json::array())) {
    DownwardAPIFile file{f.value("path", ""), f.value("fieldPath", ""), std::nullopt, readMode(f)};
    if (auto r = f.find("resource"); r != f.end() && r->is_object())
      file.resource = resourceFrom(*r);
    s.fields.push_back(std::move(file));
  }
  return s;
}

}  // namespace

void to_json(json& j, const ConfigVolume& v) {
  json sources = json::array();
  for (const auto& s : v.sources) sources.push_back(sourceJson(s));
  j = json{{"type", v.type}, {"defaultMode", v.defaultMode}, {"sources", std::move(sources)}};
}

void from_json(const json& j, ConfigVolume& v) {
  v.type = j.value("type", "");
  v.defaultMode = j.value("defaultMode", int64_t{0644});
  v.sources.clear();
  for (const json& s : j.value("sources", json::array())) v.sources.push_back(sourceFrom(s));
}

namespace {
const char* envKindName(EnvVarSource::Kind k) {
  switch (k) {
    case EnvVarSource::Kind::ConfigMapKey:
      return "configMapKeyRef";
    case EnvVarSource::Kind::SecretKey:
      return "secretKeyRef";
    case EnvVarSource::Kind::Field:
      return "fieldRef";
    case EnvVarSource::Kind::Resource:
      return "resourceFieldRef";
  }
  return "configMapKeyRef";
}
}  // namespace

void to_json(json& j, const EnvVarSource& s) {
  j = json{{"kind", envKindName(s.kind)},
           {"name", s.name},
           {"key", s.key},
           {"optional", s.optional},
           {"fieldPath", s.fieldPath},
           {"resource", resourceJson(s.resource)}};
}

void from_json(const json& j, EnvVarSource& s) {
  std::string kind = j.value("kind", "configMapKeyRef");
  s.kind = kind == "secretKeyRef"       ? EnvVarSource::Kind::SecretKey
           : kind == "fieldRef"         ? EnvVarSource::Kind::Field
           : kind == "resourceFieldRef" ? EnvVarSource::Kind::Resource
                                        : EnvVarSource::Kind::ConfigMapKey;
  s.name = j.value("name", "");
  s.key = j.value("key", "");
  s.optional = j.value("optional", false);
  s.fieldPath = j.value("fieldPath", "");
  if (auto r = j.find("resource"); r != j.end() && r->is_object()) s.resource = resourceFrom(*r);
}

void to_json(json& j, const EnvFromSource& s) {
  j = json{{"secret", s.secret}, {"name", s.name}, {"prefix", s.prefix}, {"optional", s.optional}};
}

void from_json(const json& j, EnvFromSource& s) {
  s.secret = j.value("secret", false);
  s.name = j.value("name", "");
  s.prefix = j.value("prefix", "");
  s.optional = j.value("optional", false);
}

}  // namespace boxd::specs
