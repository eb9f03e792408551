// The Secret schema: Kubernetes' Secret v1 (metadata, type, data, stringData, immutable).
//
// Diagnostics name fields and keys, never values: a value that is not a string is reported by
// its YAML type only, a bad base64 value by its key only (DocParser::string() does not quote a
// rejected scalar in a Secret).

#include "specs/doc_parser.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr size_t kMaxSecretBytes = 1024 * 1024;  // Kubernetes' limit on a Secret's data

}  // namespace

std::optional<Secret> DocParser::parseSecret(const YAML::Node& root) {
  isSecret_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  std::map<std::string, std::string> data, stringData;
  YAML::Mark dataAt = where;
  walkObject(root, where, "",
             {{"apiVersion", true, constant("v1")},
              {"kind", true, constant("Secret")},
              {"metadata", true,
               [this](const Entry& f, const std::string& p) {
                 parseObjectMetadata(f, p, secret_.name, secret_.namespaceName,
                                     checkDns1123Subdomain);
               }},
              {"type", false,
               [this](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (s && !s->empty())
                   secret_.type = *s;  // any type; "" means Opaque, as Kubernetes
               }},
              {"data", false,
               [&](const Entry& f, const std::string& p) {
                 data = secretValues(f, p, true);
                 dataAt = f.valueMark();
               }},
              {"stringData", false,
               [&](const Entry& f, const std::string& p) {
                 stringData = secretValues(f, p, false);
                 if (data.empty()) dataAt = f.valueMark();
               }},
              {"immutable", false,
               [this](const Entry& f, const std::string& p) {
                 if (std::optional<bool> b = boolean(f, p)) secret_.immutable = *b;
               }}},
             {});
  for (auto& [key, value] : stringData) data[key] = std::move(value);  // stringData wins
  size_t total = 0;
  for (const auto& [key, value] : data) total += key.size() + value.size();
  if (total > kMaxSecretBytes) {
    error(dataAt, "data",
          "the Secret holds " + std::to_string(total) +
              " bytes of keys and values; at most 1048576 (1 MiB) are allowed");
  }
  secret_.data = std::move(data);
  if (r_.count() != before) return std::nullopt;
  return secret_;
}

std::map<std::string, std::string> DocParser::secretValues(const Entry& e, const std::string& path,
                                                           bool base64) {
  std::map<std::string, std::string> out;
  if (!e.value.IsMap()) {
    if (!e.value.IsNull())
      error(e.valueMark(), path, "must be a mapping of keys to values, got " + describe(e.value));
    return out;
  }
  for (const Entry& kv : mappingEntries(r_, e.value, path)) {
    std::string p = fieldPath(path, kv.key);
    if (std::string why = checkSecretKey(kv.key); !why.empty()) {
      error(kv.keyMark, p, why);
      continue;
    }
    std::optional<std::string> v =
        kv.value.IsNull() ? std::string() : string(kv.value, kv.valueMark(), p);
    if (!v) continue;
    if (!base64) {
      out[kv.key] = std::move(*v);
      continue;
    }
    std::optional<std::string> decoded = decodeBase64(*v);
    if (!decoded) {
      error(kv.valueMark(), p,
            "is not valid base64 (standard alphabet, padded with '='); write plain text under "
            "stringData instead");
      continue;
    }
    out[kv.key] = std::move(*decoded);
  }
  return out;
}

}  // namespace boxd::specs::detail
