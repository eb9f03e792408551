// spec.tolerations: checked as Kubernetes checks them, then without effect. boxd's node carries
// no taints, and a toleration only lets a pod onto a node whose taints it matches: on an untainted
// node every pod runs, whatever it tolerates (README, docs/config.md).

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr std::string_view kEffects[] = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"};

struct Toleration {
  std::string key, op = "Equal", value, effect;
  bool hasSeconds = false;
  YAML::Mark keyAt, opAt, valueAt, secondsAt;
};

}  // namespace

void DocParser::parseTolerations(const Entry& e, const std::string& path) {
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    Toleration t;
    t.keyAt = t.opAt = t.valueAt = t.secondsAt = at;
    walkObject(
        n, at, p,
        {{"key", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            t.keyAt = f.valueMark();
            if (!s || s->empty()) return;
            t.key = *s;  // even when malformed: one error for it, not a second about the operator
            if (std::string why = checkQualifiedName(*s); !why.empty())
              error(f.valueMark(), fp, why);
          }},
         {"operator", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            t.opAt = f.valueMark();
            if (!s) return;
            if (*s != "Equal" && *s != "Exists")
              return error(f.valueMark(), fp,
                           "must be \"Equal\" or \"Exists\", got " + inQuotes(*s));
            t.op = *s;
          }},
         {"value", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            t.valueAt = f.valueMark();
            if (!s) return;
            if (std::string why = checkLabelValue(*s); !why.empty())
              return error(f.valueMark(), fp, why);
            t.value = *s;
          }},
         {"effect", false,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            if (!s) return;
            for (std::string_view known : kEffects)
              if (*s == known) return void(t.effect = *s);
            error(f.valueMark(), fp,
                  "must be \"NoSchedule\", \"PreferNoSchedule\" or \"NoExecute\", got " +
                      inQuotes(*s));
          }},
         {"tolerationSeconds", false,
          [&](const Entry& f, const std::string& fp) {
            (void)integer(f, fp);
            t.hasSeconds = true;
            t.secondsAt = f.valueMark();
          }}},
        {});
    if (t.key.empty() && t.op != "Exists")
      error(t.opAt, p + ".operator",
            "must be \"Exists\" when the key is empty (it matches every taint)");
    if (t.op == "Exists" && !t.value.empty())
      error(t.valueAt, p + ".value", "must be empty when the operator is \"Exists\"");
    if (t.hasSeconds && t.effect != "NoExecute")
      error(t.secondsAt, p + ".tolerationSeconds", "is only allowed with the effect \"NoExecute\"");
  });
}

}  // namespace boxd::specs::detail
