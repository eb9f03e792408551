// The Secret schema: Kubernetes' Secret v1 (metadata, type, data, stringData, immutable).
//
// Diagnostics name fields and keys, never values: a value that is not a string is reported by
// its YAML type only, a bad base64 value by its key only (DocParser::string() does not quote a
// rejected scalar in a Secret).

#include "specs/doc_parser.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr const char* kSecretMapping = "keys to values";

}  // namespace

std::optional<Secret> DocParser::parseSecret(const YAML::Node& root) {
  isSecret_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  std::map<std::string, std::string> data, stringData;
  YAML::Mark dataAt = where;
  walkObject(root, where, "",
             objectFields(
                 "v1", "Secret", secret_.name, secret_.namespaceName, checkDns1123Subdomain,
                 {{"type", false,
                   [this](const Entry& f, const std::string& p) {
                     std::optional<std::string> s = string(f, p);
                     if (s && !s->empty())
                       secret_.type = *s;  // any type; "" means Opaque, as Kubernetes
                   }},
                  {"data", false,
                   [&](const Entry& f, const std::string& p) {
                     data = dataValues(f, p,
                                       {kSecretMapping,
                                        "is not valid base64 (standard alphabet, padded with '='); "
                                        "write plain text under stringData instead"});
                     dataAt = f.valueMark();
                   }},
                  {"stringData", false,
                   [&](const Entry& f, const std::string& p) {
                     stringData = dataValues(f, p, {kSecretMapping, ""});
                     if (data.empty()) dataAt = f.valueMark();
                   }},
                  {"immutable", false,
                   [this](const Entry& f, const std::string& p) {
                     if (std::optional<bool> b = boolean(f, p)) secret_.immutable = *b;
                   }}}),
             {});
  for (auto& [key, value] : stringData) data[key] = std::move(value);  // stringData wins
  checkDataSize({&data}, dataAt, "Secret");
  secret_.data = std::move(data);
  if (r_.count() != before) return std::nullopt;
  return secret_;
}

}  // namespace boxd::specs::detail
