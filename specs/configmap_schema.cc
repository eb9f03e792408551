// The ConfigMap schema: Kubernetes' ConfigMap v1 (metadata, data, binaryData, immutable).

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
std::optional<ConfigMap> DocParser::parseConfigMap(const YAML::Node& root) {
  isConfigMap_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  YAML::Mark dataAt = where;
  walkObject(root, where, "",
             objectFields("v1", "ConfigMap", configMap_.name, configMap_.namespaceName,
                          checkDns1123Subdomain,
                          {{"data", false,
                            [&](const Entry& f, const std::string& p) {
                              configMap_.data = dataValues(f, p, {"strings", ""});
                              dataAt = f.valueMark();
                            }},
                           {"binaryData", false,
                            [&](const Entry& f, const std::string& p) {
                              configMap_.binaryData = dataValues(
                                  f, p, {"strings", "is not valid base64 (standard alphabet)"});
                              if (configMap_.data.empty()) dataAt = f.valueMark();
                            }},
                           {"immutable", false,
                            [this](const Entry& f, const std::string& p) {
                              if (std::optional<bool> b = boolean(f, p)) configMap_.immutable = *b;
                            }}}),
             {});
  for (const auto& [key, value] : configMap_.data) {
    if (configMap_.binaryData.count(key))
      error(dataAt, "binaryData." + key, "key " + inQuotes(key) + " is also in data");
  }
  checkDataSize({&configMap_.data, &configMap_.binaryData}, dataAt, "ConfigMap");
  if (r_.count() != before) return std::nullopt;
  return configMap_;
}

}  // namespace boxd::specs::detail
