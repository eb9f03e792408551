// spec.imagePullSecrets: the Secrets holding a pod's registry credentials, by name.
#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {

void DocParser::parseImagePullSecrets(const Entry& e, const std::string& path) {
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    std::string name;
    walkObject(n, at, p,
               {{"name", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (std::string why = checkDns1123Subdomain(*s); !why.empty())
                     return error(f.valueMark(), fp, why);
                   name = *s;
                 }}},
               {});
    if (name.empty()) return;
    for (const auto& have : pod_.imagePullSecrets)
      if (have == name) return error(at, p, "secret " + inQuotes(name) + " is named twice");
    pod_.imagePullSecrets.push_back(name);
  });
}

}  // namespace boxd::specs::detail
