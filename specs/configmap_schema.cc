// The ConfigMap schema: Kubernetes' ConfigMap v1 (metadata, data, binaryData, immutable).

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr size_t kMaxConfigMapBytes = 1024 * 1024;  // Kubernetes' limit on a ConfigMap's data

}  // namespace

std::optional<ConfigMap> DocParser::parseConfigMap(const YAML::Node& root) {
  isConfigMap_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  YAML::Mark dataAt = where;
  walkObject(
      root, where, "",
      {{"apiVersion", true, constant("v1")},
       {"kind", true, constant("ConfigMap")},
       {"metadata", true,
        [this](const Entry& f, const std::string& p) {
          parseObjectMetadata(f, p, configMap_.name, configMap_.namespaceName,
                              checkDns1123Subdomain);
        }},
       {"data", false,
        [&](const Entry& f, const std::string& p) {
          configMap_.data = stringMap(
              f, p, [](const std::string& k, const std::string&) { return checkSecretKey(k); });
          dataAt = f.valueMark();
        }},
       {"binaryData", false,
        [&](const Entry& f, const std::string& p) {
          std::map<std::string, std::string> encoded = stringMap(
              f, p, [](const std::string& k, const std::string&) { return checkSecretKey(k); });
          for (auto& [key, text] : encoded) {
            std::optional<std::string> bytes = decodeBase64(text);
            if (!bytes) {
              error(f.valueMark(), fieldPath(p, key), "is not valid base64 (standard alphabet)");
              continue;
            }
            configMap_.binaryData[key] = std::move(*bytes);
          }
          if (configMap_.data.empty()) dataAt = f.valueMark();
        }},
       {"immutable", false,
        [this](const Entry& f, const std::string& p) {
          if (std::optional<bool> b = boolean(f, p)) configMap_.immutable = *b;
        }}},
      {});
  size_t total = 0;
  for (const auto& [key, value] : configMap_.data) {
    total += key.size() + value.size();
    if (configMap_.binaryData.count(key))
      error(dataAt, "binaryData." + key, "key " + inQuotes(key) + " is also in data");
  }
  for (const auto& [key, value] : configMap_.binaryData) total += key.size() + value.size();
  if (total > kMaxConfigMapBytes) {
    error(dataAt, "data",
          "the ConfigMap holds " + std::to_string(total) +
              " bytes of keys and values; at most 1048576 (1 MiB) are allowed");
  }
  if (r_.count() != before) return std::nullopt;
  return configMap_;
}

}  // namespace boxd::specs::detail
