// Block volumes of the Pod schema: Kubernetes' in-tree `iscsi` and `rbd` volumes, with their
// defaults, and the provision.rbd.boxd.io/<volume> annotation (docs/storage.md).

#include <algorithm>
#include <cctype>

#include "specs/doc_parser.h"
#include "specs/quantity.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr int64_t kMaxLun = 16383;  // SAM flat addressing
constexpr std::string_view kFsTypes[] = {"ext4", "ext3", "ext2", "xfs"};
// librbd's feature names, in the order of their bits (RBD_FEATURE_*): the canonical order.
constexpr std::string_view kRbdFeatures[] = {"layering",   "striping",  "exclusive-lock",
                                             "object-map", "fast-diff", "deep-flatten",
                                             "journaling", "data-pool"};
constexpr int64_t kSectorBytes = 512;

std::string lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool sameLun(const IscsiVolume& a, const IscsiVolume& b) {
  if (lowered(a.iqn) != lowered(b.iqn) || a.lun != b.lun) return false;
  std::vector<std::string> pa = a.portals, pb = b.portals;
  pa.push_back(a.targetPortal);
  pb.push_back(b.targetPortal);
  for (const std::string& x : pa) {
    for (const std::string& y : pb) {
      if (lowered(x) == lowered(y)) return true;
    }
  }
  return false;
}

// An absolute path without "." or ".." components.
bool isCleanAbsolutePath(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = std::min(p.find('/', start), p.size());
    std::string_view part = p.substr(start, end - start);
    if (part == "." || part == ".." || (part.empty() && end != p.size())) return false;
    start = end + 1;
  }
  return true;
}

// Index of a feature name in kRbdFeatures, or its size when unknown.
size_t featureBit(std::string_view name) {
  return static_cast<size_t>(std::find(std::begin(kRbdFeatures), std::end(kRbdFeatures), name) -
                             std::begin(kRbdFeatures));
}

// What a feature needs before librbd accepts it.
std::string_view featureNeeds(std::string_view f) {
  if (f == "object-map" || f == "journaling") return "exclusive-lock";
  if (f == "fast-diff") return "object-map";
  return "";
}

}  // namespace

void DocParser::parseSecretRef(const Entry& e, const std::string& path, std::string& out) {
  walkObject(e.value, e.valueMark(), path,
             {{"name", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (std::string why = checkDns1123Subdomain(*s); !why.empty())
                   return error(f.valueMark(), p, why);
                 out = *s;
               }}},
             {});
}

std::string DocParser::parseFsType(const Entry& e, const std::string& path) {
  std::optional<std::string> s = string(e, path);
  if (!s) return "ext4";
  if (s->empty()) return "ext4";  // Kubernetes: "" means the default
  for (std::string_view known : kFsTypes) {
    if (*s == known) return *s;
  }
  error(e.valueMark(), path,
        "unsupported fsType " + inQuotes(*s) + ": boxd formats and mounts ext4, ext3, ext2 or xfs");
  return "ext4";
}

IscsiVolume DocParser::parseIscsi(const Entry& e, const std::string& path) {
  IscsiVolume v;
  std::map<std::string, std::string> portalPaths;  // normalized portal → where it was written
  auto portal = [&](const YAML::Node& n, const YAML::Mark& at,
                    const std::string& p) -> std::optional<std::string> {
    std::optional<std::string> s = string(n, at, p);
    if (!s) return std::nullopt;
    std::string normalized;
    if (std::string why = checkIscsiPortal(*s, normalized); !why.empty()) {
      error(at, p, why);
      return std::nullopt;
    }
    auto [it, inserted] = portalPaths.emplace(lowered(normalized), p);
    if (!inserted) {
      error(at, p, "portal " + inQuotes(normalized) + " is listed twice (also " + it->second + ")");
      return std::nullopt;
    }
    return normalized;
  };
  // emptyMeansDefault: "" keeps the default (iscsiInterface "default", the host's initiator).
  auto name = [&](std::string& out, std::string (*check)(std::string_view),
                  bool emptyMeansDefault) {
    return [&, check, emptyMeansDefault](const Entry& f, const std::string& p) {
      std::optional<std::string> s = string(f, p);
      if (!s || (s->empty() && emptyMeansDefault)) return;
      if (std::string why = check(*s); !why.empty()) return error(f.valueMark(), p, why);
      out = *s;
    };
  };
  auto flag = [&](bool& out) {
    return [&](const Entry& f, const std::string& p) {
      if (std::optional<bool> b = boolean(f, p)) out = *b;
    };
  };
  bool secretRefGiven = false;
  YAML::Mark chapAt = e.valueMark();
  std::string chapField;
  auto chap = [&](bool& out, std::string_view field) {
    return [&, field](const Entry& f, const std::string& p) {
      flag(out)(f, p);
      if (out && chapField.empty()) {
        chapAt = f.valueMark();
        chapField = field;
      }
    };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"targetPortal", true,
               [&](const Entry& f, const std::string& p) {
                 if (auto n = portal(f.value, f.valueMark(), p)) v.targetPortal = *n;
               }},
              {"portals", false,
               [&](const Entry& f, const std::string& p) {
                 forEachItem(f, p,
                             [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
                               if (auto x = portal(n, at, ip)) v.portals.push_back(*x);
                             });
               }},
              {"iqn", true, name(v.iqn, checkIscsiName, false)},
              {"lun", false,
               [&](const Entry& f, const std::string& p) {
                 std::optional<int64_t> lun = integer(f, p);
                 if (lun && (*lun < 0 || *lun > kMaxLun)) {
                   return error(f.valueMark(), p,
                                "must be a LUN number in 0..16383, got " + std::to_string(*lun));
                 }
                 if (lun) v.lun = *lun;
               }},
              {"iscsiInterface", false, name(v.iscsiInterface, checkIscsiInterface, true)},
              {"fsType", false,
               [&](const Entry& f, const std::string& p) { v.fsType = parseFsType(f, p); }},
              {"readOnly", false, flag(v.readOnly)},
              {"chapAuthDiscovery", false, chap(v.chapAuthDiscovery, "chapAuthDiscovery")},
              {"chapAuthSession", false, chap(v.chapAuthSession, "chapAuthSession")},
              {"secretRef", false,
               [&](const Entry& f, const std::string& p) {
                 secretRefGiven = true;
                 parseSecretRef(f, p, v.secretRef);
               }},
              {"initiatorName", false, name(v.initiatorName, checkIscsiName, true)}},
             {});
  if (!chapField.empty() && !secretRefGiven) {
    error(chapAt, fieldPath(path, "secretRef"),
          "required when " + chapField +
              " is true: the name of the Secret with the CHAP credentials (type "
              "kubernetes.io/iscsi-chap)");
  }
  return v;
}

RbdVolume DocParser::parseRbd(const Entry& e, const std::string& path) {
  RbdVolume v;
  auto name = [&](std::string& out, std::string (*check)(std::string_view)) {
    return [&, check](const Entry& f, const std::string& p) {
      std::optional<std::string> s = string(f, p);
      if (!s || s->empty()) return;  // "" keeps the default (pool, user), as Kubernetes
      if (std::string why = check(*s); !why.empty()) return error(f.valueMark(), p, why);
      out = *s;
    };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"monitors", true,
               [&](const Entry& f, const std::string& p) {
                 bool isList = forEachItem(
                     f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
                       std::optional<std::string> s = string(n, at, ip);
                       if (!s) return;
                       if (std::string why = checkCephMonitor(*s); !why.empty())
                         return error(at, ip, why);
                       v.monitors.push_back(*s);
                     });
                 if (isList && f.value.size() == 0)
                   error(f.valueMark(), p, "must list at least one monitor");
               }},
              {"image", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (std::string why = checkRbdName(*s); !why.empty())
                   return error(f.valueMark(), p, why);
                 v.image = *s;
               }},
              {"pool", false, name(v.pool, checkRbdName)},
              {"user", false, name(v.user, checkCephUser)},
              {"keyring", false,
               name(v.keyring,
                    [](std::string_view s) {
                      return isCleanAbsolutePath(s)
                                 ? std::string()
                                 : "must be an absolute path without . or .. components, got " +
                                       inQuotes(s);
                    })},
              {"secretRef", false,
               [&](const Entry& f, const std::string& p) { parseSecretRef(f, p, v.secretRef); }},
              {"fsType", false,
               [&](const Entry& f, const std::string& p) { v.fsType = parseFsType(f, p); }},
              {"readOnly", false,
               [&](const Entry& f, const std::string& p) {
                 if (std::optional<bool> b = boolean(f, p)) v.readOnly = *b;
               }}},
             {});
  return v;
}

void DocParser::checkBlockVolumes() {
  auto volume = [this](const std::string& name) -> const Volume* {
    for (const Volume& v : pod_.volumes) {
      if (v.name == name) return &v;
    }
    return nullptr;
  };
  for (size_t j = 0; j < blockRefs_.size(); ++j) {
    const Volume* b = volume(blockRefs_[j].name);
    for (size_t i = 0; i < j && b != nullptr; ++i) {
      const Volume* a = volume(blockRefs_[i].name);
      if (a == nullptr) continue;
      std::string also = " is also volume " + inQuotes(a->name) + " (" + blockRefs_[i].path +
                         "); one device backs at most one volume of a pod";
      if (a->iscsi && b->iscsi && sameLun(*a->iscsi, *b->iscsi)) {
        error(blockRefs_[j].at, blockRefs_[j].path + ".iscsi",
              "LUN " + std::to_string(b->iscsi->lun) + " of " + b->iscsi->iqn + also);
        break;
      }
      if (a->rbd && b->rbd && a->rbd->pool == b->rbd->pool && a->rbd->image == b->rbd->image) {
        error(blockRefs_[j].at, blockRefs_[j].path + ".rbd",
              "image " + b->rbd->pool + "/" + b->rbd->image + also);
        break;
      }
    }
  }
}

void DocParser::noteRbdProvisions(const Entry& annotations, const std::string& path) {
  bool any = std::any_of(pod_.annotations.begin(), pod_.annotations.end(), [](const auto& kv) {
    return kv.first.rfind(kRbdProvisionPrefix, 0) == 0;
  });
  if (!any || !annotations.value.IsMap()) return;
  std::vector<Diagnostic> reportedAlready;  // stringMap has reported this mapping's problems
  Reporter quiet("", reportedAlready);
  for (const Entry& a : mappingEntries(quiet, annotations.value, path)) {
    auto it = pod_.annotations.find(a.key);
    if (it == pod_.annotations.end() || a.key.rfind(kRbdProvisionPrefix, 0) != 0) continue;
    provisionRefs_.push_back({a.key.substr(kRbdProvisionPrefix.size()), it->second, a.valueMark(),
                              fieldPath(path, a.key)});
  }
}

RbdProvision DocParser::parseProvision(const YAML::Node& root) {
  RbdProvision out;
  bool featuresGiven = false;
  walkObject(
      root, markOf(root, YAML::Mark()), "",
      {{"size", true,
        [&](const Entry& f, const std::string& p) {
          ScalarKind k = f.value.IsScalar() ? scalarKind(f.value) : ScalarKind::Null;
          if (k != ScalarKind::String && k != ScalarKind::Int && k != ScalarKind::Float)
            return error(f.valueMark(), p,
                         "must be a quantity such as \"1Gi\", got " + describe(f.value));
          Result<int64_t> bytes = parseMemoryBytes(f.value.Scalar());
          if (!bytes) return error(f.valueMark(), p, bytes.error().message);
          if (*bytes <= 0 || *bytes % kSectorBytes != 0) {
            return error(f.valueMark(), p,
                         "must be a positive whole number of 512-byte sectors (e.g. \"1Gi\"), "
                         "got " +
                             std::to_string(*bytes) + " bytes");
          }
          out.sizeBytes = *bytes;
        }},
       {"features", false,
        [&](const Entry& f, const std::string& p) {
          featuresGiven = true;
          std::vector<bool> want(std::size(kRbdFeatures), false);
          forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
            std::optional<std::string> s = string(n, at, ip);
            if (!s) return;
            size_t bit = featureBit(*s);
            if (bit == std::size(kRbdFeatures)) {
              error(at, ip,
                    "unknown RBD feature " + inQuotes(*s) +
                        "; librbd knows layering, striping, exclusive-lock, object-map, "
                        "fast-diff, deep-flatten, journaling");
            } else if (*s == "data-pool") {
              error(at, ip,
                    "data-pool is set by librbd itself on images with a separate data pool, "
                    "which boxd does not create");
            } else if (want[bit]) {
              error(at, ip, "feature " + inQuotes(*s) + " is listed twice");
            } else {
              want[bit] = true;
            }
          });
          for (size_t i = 0; i < want.size(); ++i) {
            if (!want[i]) continue;
            std::string_view need = featureNeeds(kRbdFeatures[i]);
            if (!need.empty() && !want[featureBit(need)]) {
              error(f.valueMark(), p,
                    std::string(kRbdFeatures[i]) + " needs " + std::string(need) + " too");
            }
            out.features.emplace_back(kRbdFeatures[i]);
          }
        }}},
      {});
  if (!featuresGiven) out.features = {"layering", "exclusive-lock"};
  return out;
}

void DocParser::applyRbdProvisions() {
  for (const ProvisionRef& ref : provisionRefs_) {
    auto v = std::find_if(pod_.volumes.begin(), pod_.volumes.end(),
                          [&](const Volume& x) { return x.name == ref.volume; });
    if (v == pod_.volumes.end() || !v->rbd) {
      if (v == pod_.volumes.end() && volumePaths_.count(ref.volume) != 0) continue;  // reported
      error(ref.at, ref.path,
            "names no rbd volume of the pod: " +
                (v == pod_.volumes.end() ? "spec.volumes has no volume " + inQuotes(ref.volume)
                                         : "volume " + inQuotes(ref.volume) + " is not rbd"));
      continue;
    }
    if (v->rbd->readOnly) {
      error(ref.at, ref.path,
            "volume " + inQuotes(ref.volume) +
                " is readOnly: a new image would be blank, and boxd never formats a read-only "
                "volume");
      continue;
    }
    YAML::Node node;
    try {
      node = YAML::Load(ref.value);
    } catch (const YAML::Exception& ex) {
      error(ref.at, ref.path, "must be a JSON object such as {\"size\": \"1Gi\"}: " + ex.msg);
      continue;
    }
    if (!node.IsMap()) {
      error(ref.at, ref.path,
            "must be a JSON object such as {\"size\": \"1Gi\"}, got " + describe(node));
      continue;
    }
    std::vector<Diagnostic> inner;
    Reporter innerReporter("", inner);
    DocParser sub(innerReporter);
    RbdProvision p = sub.parseProvision(node);
    for (const Diagnostic& d : inner) {
      error(ref.at, ref.path + (d.field.empty() ? "" : "." + d.field),
            d.message + " (in the annotation's JSON, column " + std::to_string(d.column) + ")");
    }
    if (inner.empty()) v->rbd->provision = std::move(p);
  }
}

}  // namespace boxd::specs::detail
