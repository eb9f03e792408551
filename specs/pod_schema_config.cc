// Configuration sources of a Pod: the configMap, secret, downwardAPI and projected volumes, env
// valueFrom and envFrom (Kubernetes' field names and rules), and the volume types boxd does not
// support, each named as such.

#include <algorithm>

#include "specs/doc_parser.h"
#include "specs/quantity.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

// Kubernetes volume types boxd cannot provide on one host. One volume naming one of them gets
// one error saying so.
constexpr std::string_view kUnsupportedVolumeTypes[] = {"persistentVolumeClaim",
                                                        "nfs",
                                                        "csi",
                                                        "ephemeral",
                                                        "cephfs",
                                                        "fc",
                                                        "flexVolume",
                                                        "image",
                                                        "gcePersistentDisk",
                                                        "awsElasticBlockStore",
                                                        "azureDisk",
                                                        "azureFile",
                                                        "cinder",
                                                        "glusterfs",
                                                        "portworxVolume",
                                                        "gitRepo",
                                                        "flocker",
                                                        "quobyte",
                                                        "scaleIO",
                                                        "storageos",
                                                        "vsphereVolume",
                                                        "photonPersistentDisk",
                                                        "local"};

constexpr std::string_view kDownwardVolumeFields[] = {"metadata.name", "metadata.namespace",
                                                      "metadata.uid", "metadata.labels",
                                                      "metadata.annotations"};
constexpr std::string_view kDownwardEnvFields[] = {
    "metadata.name", "metadata.namespace",      "metadata.uid",
    "spec.nodeName", "spec.serviceAccountName", "status.podIP",
    "status.podIPs", "status.hostIP",           "status.hostIPs"};
constexpr std::string_view kResources[] = {"limits.cpu", "limits.memory", "requests.cpu",
                                           "requests.memory"};

// metadata.labels['key'] / metadata.annotations['key']: the key, or nullopt.
std::optional<std::string> subscript(std::string_view field, std::string_view map) {
  std::string prefix = std::string(map) + "['";
  if (field.size() < prefix.size() + 2 || field.substr(0, prefix.size()) != prefix ||
      field.substr(field.size() - 2) != "']")
    return std::nullopt;
  return std::string(field.substr(prefix.size(), field.size() - prefix.size() - 2));
}

bool listed(std::span<const std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// A relative path of a file in a volume: no "..", not absolute, as Kubernetes requires.
std::string checkItemPath(std::string_view p) {
  if (p.empty()) return "must not be empty";
  if (p[0] == '/') return "must be a relative path, got " + inQuotes(p);
  if (p.substr(0, 2) == "..") return "must not start with \"..\", got " + inQuotes(p);
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part == "..") return "must not contain \"..\", got " + inQuotes(p);
    if (part.empty() || part == ".") return "must be a clean relative path, got " + inQuotes(p);
    start = end + 1;
  }
  return {};
}

}  // namespace

void DocParser::addConfigVolumeFields(std::vector<Field>& fields, Volume& v) {
  for (std::string_view type : {"configMap", "secret", "downwardAPI", "projected"}) {
    fields.push_back({type, false, [this, &v](const Entry& f, const std::string& p) {
                        v.config = parseConfigVolume(f, p);
                      }});
  }
  for (std::string_view type : kUnsupportedVolumeTypes) {
    fields.push_back(
        {type, false, [this, type](const Entry& f, const std::string& p) {
           std::string hint = type == "persistentVolumeClaim"
                                  ? "; boxd has no PersistentVolumeClaims: use an iscsi or rbd "
                                    "volume (or hostPath) in the pod itself"
                                  : "";
           error(f.keyMark, p,
                 "volume type " + std::string(type) + " is not supported by boxd" + hint);
         }});
  }
}

std::optional<int64_t> DocParser::parseMode(const Entry& e, const std::string& path) {
  const YAML::Node& v = e.value;
  if (v.IsScalar() && scalarKind(v) == ScalarKind::Int) {
    // YAML 1.1 (as kubectl reads it): 0400 is octal. YAML 1.2 spells it 0o400.
    std::string s = v.Scalar();
    if (s.size() > 2 && s[0] == '0' && s[1] == 'o') s = "0" + s.substr(2);
    if (s.size() > 1 && s[0] == '0' && s.find_first_not_of("01234567") == std::string::npos) {
      int64_t mode = std::stoll(s, nullptr, 8);
      if (mode <= 0777) return mode;
      error(e.valueMark(), path, "must be a file mode between 0 and 0777, got " + inQuotes(s));
      return std::nullopt;
    }
  }
  std::optional<int64_t> mode = integer(e, path);
  if (mode && (*mode < 0 || *mode > 0777)) {
    error(e.valueMark(), path,
          "must be a file mode between 0 and 0777 (511), got " + std::to_string(*mode));
    return std::nullopt;
  }
  return mode;
}

std::optional<ResourceFieldRef> DocParser::parseResourceFieldRef(const Entry& e,
                                                                 const std::string& path,
                                                                 bool needContainer) {
  ResourceFieldRef ref;
  std::optional<std::string> divisorText;
  YAML::Mark divisorAt = e.valueMark();
  size_t before = r_.count();
  walkObject(e.value, e.valueMark(), path,
             {{"containerName", needContainer,
               [&](const Entry& f, const std::string& p) {
                 if (auto s = string(f, p)) {
                   ref.containerName = *s;
                   resourceRefs_.push_back({*s, f.valueMark(), p});
                 }
               }},
              {"resource", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (!listed(kResources, *s))
                   return error(f.valueMark(), p,
                                "resource " + inQuotes(*s) +
                                    " is not supported by boxd (limits.cpu, limits.memory, "
                                    "requests.cpu, requests.memory)");
                 ref.resource = *s;
               }},
              {"divisor", false,
               [&](const Entry& f, const std::string& p) {
                 if (!f.value.IsScalar()) return error(f.valueMark(), p, "must be a quantity");
                 divisorText = f.value.Scalar();
                 divisorAt = f.valueMark();
               }}},
             {});
  if (r_.count() != before || ref.resource.empty()) return std::nullopt;
  bool cpu = ref.resource.ends_with(".cpu");
  ref.divisor = cpu ? 1000 : 1;
  if (divisorText) {
    Result<int64_t> d = cpu ? parseCpuMilli(*divisorText) : parseMemoryBytes(*divisorText);
    if (!d) return error(divisorAt, path + ".divisor", d.error().message), std::nullopt;
    if (*d <= 0) return error(divisorAt, path + ".divisor", "must be positive"), std::nullopt;
    ref.divisor = *d;
  }
  return ref;
}

// fieldRef: {fieldPath, apiVersion}. forVolume: the whole labels/annotations maps are allowed.
std::optional<std::string> DocParser::parseFieldRef(const Entry& e, const std::string& path,
                                                    bool forVolume) {
  std::optional<std::string> out;
  walkObject(e.value, e.valueMark(), path,
             {{"apiVersion", false, constant("v1")},
              {"fieldPath", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 bool ok =
                     forVolume ? listed(kDownwardVolumeFields, *s) : listed(kDownwardEnvFields, *s);
                 for (std::string_view map : {"metadata.labels", "metadata.annotations"}) {
                   if (auto key = subscript(*s, map)) {
                     if (std::string why = checkQualifiedName(*key); !why.empty())
                       return error(f.valueMark(), p, why);
                     ok = true;
                   }
                 }
                 if (!ok)
                   return error(f.valueMark(), p,
                                "field " + inQuotes(*s) +
                                    " is not supported by boxd's downward "
                                    "API" +
                                    (forVolume ? " volume" : " environment"));
                 out = *s;
               }}},
             {});
  return out;
}

std::vector<KeyToPath> DocParser::parseItems(const Entry& e, const std::string& path) {
  std::vector<KeyToPath> out;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    KeyToPath k;
    walkObject(n, at, p,
               {{"key", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (std::string why = checkSecretKey(*s); !why.empty())
                     return error(f.valueMark(), fp, why);
                   k.key = *s;
                 }},
                {"path", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (std::string why = checkItemPath(*s); !why.empty())
                     return error(f.valueMark(), fp, why);
                   k.path = *s;
                 }},
                {"mode", false,
                 [&](const Entry& f, const std::string& fp) { k.mode = parseMode(f, fp); }}},
               {});
    if (!k.key.empty() && !k.path.empty()) out.push_back(std::move(k));
  });
  return out;
}

std::vector<DownwardAPIFile> DocParser::parseDownwardItems(const Entry& e,
                                                           const std::string& path) {
  std::vector<DownwardAPIFile> out;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    DownwardAPIFile file;
    walkObject(n, at, p,
               {{"path", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (std::string why = checkItemPath(*s); !why.empty())
                     return error(f.valueMark(), fp, why);
                   file.path = *s;
                 }},
                {"fieldRef", false,
                 [&](const Entry& f, const std::string& fp) {
                   file.fieldPath = parseFieldRef(f, fp, true).value_or("");
                 }},
                {"resourceFieldRef", false,
                 [&](const Entry& f, const std::string& fp) {
                   file.resource = parseResourceFieldRef(f, fp, true);
                 }},
                {"mode", false,
                 [&](const Entry& f, const std::string& fp) { file.mode = parseMode(f, fp); }}},
               {});
    bool hasField = n.IsMap() && n["fieldRef"] && !n["fieldRef"].IsNull();
    bool hasResource = n.IsMap() && n["resourceFieldRef"] && !n["resourceFieldRef"].IsNull();
    if (hasField == hasResource)
      error(at, p, "must set exactly one of fieldRef and resourceFieldRef");
    if (!file.path.empty() && (!file.fieldPath.empty() || file.resource))
      out.push_back(std::move(file));
  });
  return out;
}

// A configMap or secret source: {name|secretName, items, optional, defaultMode (volumes only)}.
ConfigSource DocParser::parseObjectSource(const Entry& e, const std::string& path,
                                          ConfigSource::Kind kind, std::string_view nameField,
                                          int64_t* defaultMode) {
  ConfigSource src;
  src.kind = kind;
  std::vector<Field> fields = {
      {nameField, true,
       [&](const Entry& f, const std::string& p) {
         std::optional<std::string> s = string(f, p);
         if (!s) return;
         if (std::string why = checkDns1123Subdomain(*s); !why.empty())
           return error(f.valueMark(), p, why);
         src.name = *s;
       }},
      {"items", false, [&](const Entry& f, const std::string& p) { src.items = parseItems(f, p); }},
      {"optional", false, [&](const Entry& f, const std::string& p) {
         src.optional = boolean(f, p).value_or(false);
       }}};
  if (defaultMode != nullptr) {
    fields.push_back({"defaultMode", false, [&](const Entry& f, const std::string& p) {
                        if (auto m = parseMode(f, p)) *defaultMode = *m;
                      }});
  }
  walkObject(e.value, e.valueMark(), path, fields, {});
  return src;
}

ConfigVolume DocParser::parseConfigVolume(const Entry& e, const std::string& path) {
  ConfigVolume cv;
  cv.type = e.key;
  using Kind = ConfigSource::Kind;
  if (e.key == "configMap") {
    cv.sources.push_back(parseObjectSource(e, path, Kind::ConfigMap, "name", &cv.defaultMode));
  } else if (e.key == "secret") {
    cv.defaultMode = 0600;  // boxd's default for Secret files (Kubernetes: 0644); docs/config.md
    cv.sources.push_back(parseObjectSource(e, path, Kind::Secret, "secretName", &cv.defaultMode));
  } else if (e.key == "downwardAPI") {
    ConfigSource src;
    src.kind = Kind::DownwardAPI;
    walkObject(
        e.value, e.valueMark(), path,
        {{"items", false,
          [&](const Entry& f, const std::string& p) { src.fields = parseDownwardItems(f, p); }},
         {"defaultMode", false,
          [&](const Entry& f, const std::string& p) {
            if (auto m = parseMode(f, p)) cv.defaultMode = *m;
          }}},
        {});
    cv.sources.push_back(std::move(src));
  } else {
    parseProjected(e, path, cv);
  }
  checkConfigPaths(cv, e.valueMark(), path);
  return cv;
}

void DocParser::parseProjected(const Entry& e, const std::string& path, ConfigVolume& cv) {
  using Kind = ConfigSource::Kind;
  auto sources = [&](const Entry& f, const std::string& p) {
    forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& sp) {
      walkObject(
          n, at, sp,
          {{"configMap", false,
            [&](const Entry& g, const std::string& gp) {
              cv.sources.push_back(parseObjectSource(g, gp, Kind::ConfigMap, "name", nullptr));
            }},
           {"secret", false,
            [&](const Entry& g, const std::string& gp) {
              cv.sources.push_back(parseObjectSource(g, gp, Kind::Secret, "name", nullptr));
            }},
           {"downwardAPI", false,
            [&](const Entry& g, const std::string& gp) {
              ConfigSource src;
              src.kind = Kind::DownwardAPI;
              walkObject(g.value, g.valueMark(), gp,
                         {{"items", false,
                           [&](const Entry& h, const std::string& hp) {
                             src.fields = parseDownwardItems(h, hp);
                           }}},
                         {});
              cv.sources.push_back(std::move(src));
            }},
           {"serviceAccountToken", false,
            [&](const Entry& g, const std::string& gp) {
              error(g.keyMark, gp,
                    "service account tokens are not supported by boxd (there is no API server "
                    "to issue them)");
            }},
           {"clusterTrustBundle", false,
            [&](const Entry& g, const std::string& gp) {
              error(g.keyMark, gp, "cluster trust bundles are not supported by boxd");
            }}},
          {});
    });
  };
  walkObject(e.value, e.valueMark(), path,
             {{"sources", false, sources},
              {"defaultMode", false,
               [&](const Entry& f, const std::string& p) {
                 if (auto m = parseMode(f, p)) cv.defaultMode = *m;
               }}},
             {});
}

// No two files of a volume at one path (Kubernetes' "conflicting duplicate paths").
void DocParser::checkConfigPaths(const ConfigVolume& cv, const YAML::Mark& at,
                                 const std::string& path) {
  std::set<std::string> seen;
  auto add = [&](const std::string& p) {
    if (!seen.insert(p).second)
      error(at, path, "two files of the volume have the same path " + inQuotes(p));
  };
  for (const ConfigSource& s : cv.sources) {
    for (const KeyToPath& k : s.items) add(k.path);
    for (const DownwardAPIFile& f : s.fields) add(f.path);
  }
}

// ---- env ---------------------------------------------------------------------------------------

std::optional<EnvVarSource> DocParser::parseEnvVarSource(const Entry& e, const std::string& path) {
  std::optional<EnvVarSource> out;
  int count = 0;
  auto keyRef = [&](EnvVarSource::Kind kind) {
    return [&, kind](const Entry& f, const std::string& p) {
      ++count;
      EnvVarSource s;
      s.kind = kind;
      walkObject(f.value, f.valueMark(), p,
                 {{"name", true,
                   [&](const Entry& g, const std::string& gp) {
                     std::optional<std::string> n = string(g, gp);
                     if (!n) return;
                     if (std::string why = checkDns1123Subdomain(*n); !why.empty())
                       return error(g.valueMark(), gp, why);
                     s.name = *n;
                   }},
                  {"key", true,
                   [&](const Entry& g, const std::string& gp) {
                     std::optional<std::string> k = string(g, gp);
                     if (!k) return;
                     if (std::string why = checkSecretKey(*k); !why.empty())
                       return error(g.valueMark(), gp, why);
                     s.key = *k;
                   }},
                  {"optional", false,
                   [&](const Entry& g, const std::string& gp) {
                     s.optional = boolean(g, gp).value_or(false);
                   }}},
                 {});
      if (!s.name.empty() && !s.key.empty()) out = s;
    };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"configMapKeyRef", false, keyRef(EnvVarSource::Kind::ConfigMapKey)},
              {"secretKeyRef", false, keyRef(EnvVarSource::Kind::SecretKey)},
              {"fieldRef", false,
               [&](const Entry& f, const std::string& p) {
                 ++count;
                 if (auto field = parseFieldRef(f, p, false)) {
                   EnvVarSource s;
                   s.kind = EnvVarSource::Kind::Field;
                   s.fieldPath = *field;
                   out = s;
                 }
               }},
              {"resourceFieldRef", false,
               [&](const Entry& f, const std::string& p) {
                 ++count;
                 if (auto ref = parseResourceFieldRef(f, p, false)) {
                   EnvVarSource s;
                   s.kind = EnvVarSource::Kind::Resource;
                   s.resource = *ref;
                   out = s;
                 }
               }},
              {"fileKeyRef", false,
               [&](const Entry& f, const std::string& p) {
                 ++count;
                 error(f.keyMark, p, "field is not supported by boxd yet");
               }}},
             {});
  if (count != 1) {
    error(e.valueMark(), path,
          "must set exactly one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef");
    return std::nullopt;
  }
  return out;
}

std::vector<EnvFromSource> DocParser::parseEnvFrom(const Entry& e, const std::string& path) {
  std::vector<EnvFromSource> out;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    EnvFromSource s;
    int refs = 0;
    auto ref = [&](bool secret) {
      return [&, secret](const Entry& f, const std::string& fp) {
        ++refs;
        s.secret = secret;
        walkObject(f.value, f.valueMark(), fp,
                   {{"name", true,
                     [&](const Entry& g, const std::string& gp) {
                       std::optional<std::string> name = string(g, gp);
                       if (!name) return;
                       if (std::string why = checkDns1123Subdomain(*name); !why.empty())
                         return error(g.valueMark(), gp, why);
                       s.name = *name;
                     }},
                    {"optional", false,
                     [&](const Entry& g, const std::string& gp) {
                       s.optional = boolean(g, gp).value_or(false);
                     }}},
                   {});
      };
    };
    walkObject(n, at, p,
               {{"configMapRef", false, ref(false)},
                {"secretRef", false, ref(true)},
                {"prefix", false,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> pre = string(f, fp);
                   if (!pre) return;
                   if (pre->find('=') != std::string::npos)
                     return error(f.valueMark(), fp, "must not contain '='");
                   s.prefix = *pre;
                 }}},
               {});
    if (refs != 1) return error(at, p, "must set exactly one of configMapRef and secretRef");
    if (!s.name.empty()) out.push_back(std::move(s));
  });
  return out;
}

// AppArmor by annotation (the form before securityContext.appArmorProfile): boxd applies no
// AppArmor profile, so a pod asking for one is refused rather than run unconfined.
void DocParser::checkAppArmorAnnotations(const YAML::Mark& at) {
  constexpr std::string_view kPrefix = "container.apparmor.security.beta.kubernetes.io/";
  for (const auto& [key, value] : pod_.annotations) {
    if (key.rfind(kPrefix, 0) != 0 || value == "unconfined") continue;
    error(at, "metadata.annotations." + key,
          "boxd does not apply AppArmor profiles, so it cannot run this container confined by " +
              inQuotes(value) + "; remove the annotation (or set it to \"unconfined\")");
  }
}

// resourceFieldRef.containerName names a container of the pod (checked once all are read).
void DocParser::checkResourceRefs() {
  for (const auto& r : resourceRefs_) {
    if (!r.volume.empty() && containerPaths_.count(r.volume) == 0)
      error(r.at, r.path, "container " + inQuotes(r.volume) + " is not in the pod");
  }
}

}  // namespace boxd::specs::detail
