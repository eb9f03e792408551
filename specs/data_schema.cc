// The data maps ConfigMaps and Secrets share (ConfigMap data and binaryData, Secret data and
// stringData): keys as Kubernetes allows them, string values (null = ""), base64 decoded where
// the map holds base64, and the 1 MiB limit on a whole object.
//
// Problems name the map and the key, never a value: in a Secret a value is a credential.

#include "specs/doc_parser.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr size_t kMaxDataBytes = 1024 * 1024;  // Kubernetes' limit on a ConfigMap's or Secret's

}  // namespace

std::map<std::string, std::string> DocParser::dataValues(const Entry& e, const std::string& path,
                                                         const DataMapForm& form) {
  std::map<std::string, std::string> out;
  if (!e.value.IsMap()) {
    if (!e.value.IsNull())
      error(e.valueMark(), path,
            "must be a mapping of " + std::string(form.mappingOf) + ", got " + describe(e.value));
    return out;
  }
  for (const Entry& kv : mappingEntries(r_, e.value, path)) {
    std::string p = fieldPath(path, kv.key);
    if (std::string why = checkSecretKey(kv.key); !why.empty()) {
      error(kv.keyMark, p, why);
      continue;
    }
    // `key:` with no value is the empty string, as kubectl reads it.
    std::optional<std::string> v =
        kv.value.IsNull() ? std::string() : string(kv.value, kv.valueMark(), p);
    if (!v) continue;
    if (form.badBase64.empty()) {
      out[kv.key] = std::move(*v);
      continue;
    }
    std::optional<std::string> decoded = decodeBase64(*v);
    if (!decoded) {
      error(kv.valueMark(), p, std::string(form.badBase64));
      continue;
    }
    out[kv.key] = std::move(*decoded);
  }
  return out;
}

void DocParser::checkDataSize(std::initializer_list<const std::map<std::string, std::string>*> maps,
                              const YAML::Mark& at, std::string_view kind) {
  size_t total = 0;
  for (const auto* m : maps) {
    for (const auto& [key, value] : *m) total += key.size() + value.size();
  }
  if (total > kMaxDataBytes) {
    error(at, "data",
          "the " + std::string(kind) + " holds " + std::to_string(total) +
              " bytes of keys and values; at most 1048576 (1 MiB) are allowed");
  }
}

}  // namespace boxd::specs::detail
