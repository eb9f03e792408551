// The scheduling fields of the Pod schema: affinity (nodeAffinity, podAffinity,
// podAntiAffinity), topologySpreadConstraints and the service account fields, validated as the
// Kubernetes API server validates them. What they do on boxd's one node: docs/scheduling.md.

#include <algorithm>
#include <set>

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

constexpr const char* kRequired = "requiredDuringSchedulingIgnoredDuringExecution";
constexpr const char* kPreferred = "preferredDuringSchedulingIgnoredDuringExecution";

bool isInteger(const std::string& s) {
  size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string oneOf(std::initializer_list<const char*> values) {
  std::string out;
  for (const char* v : values) out += std::string(out.empty() ? "" : ", ") + "\"" + v + "\"";
  return out;
}

}  // namespace

DocParser::Handler DocParser::schedulingField() {
  return [this](const Entry& f, const std::string& p) {
    if (f.key == "affinity") {
      pod_.affinity = parseAffinity(f, p);
    } else if (f.key == "automountServiceAccountToken") {
      if (std::optional<bool> b = boolean(f, p)) pod_.automountServiceAccountToken = *b;
    } else if (f.key == "topologySpreadConstraints") {
      std::set<std::pair<std::string, std::string>> seen;
      forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
        TopologySpreadConstraint c = parseSpreadConstraint(n, at, ip);
        if (!c.topologyKey.empty() && !c.whenUnsatisfiable.empty() &&
            !seen.insert({c.topologyKey, c.whenUnsatisfiable}).second)
          error(at, ip,
                "Duplicate value: {" + inQuotes(c.topologyKey) + ", " +
                    inQuotes(c.whenUnsatisfiable) + "}: topologyKey and whenUnsatisfiable");
        pod_.topologySpreadConstraints.push_back(std::move(c));
      });
    } else {  // serviceAccountName, or its deprecated alias serviceAccount
      std::optional<std::string> s = string(f, p);
      if (!s) return;
      if (std::string why = checkDns1123Subdomain(*s); !s->empty() && !why.empty())
        return error(f.valueMark(), p, why);
      // serviceAccountName wins over the alias, as in Kubernetes, in any key order.
      if (f.key == "serviceAccountName" || pod_.serviceAccountName.empty())
        pod_.serviceAccountName = *s;
    }
  };
}

template <typename Weighted, typename Term>
DocParser::Handler DocParser::preferredTerms(std::vector<Weighted>& out, const char* termKey,
                                             Term Weighted::*term, TermParser<Term> parseTerm) {
  return [this, &out, termKey, term, parseTerm](const Entry& e, const std::string& path) {
    forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
      Weighted t;
      walkObject(n, at, ip,
                 {{"weight", true,
                   [&](const Entry& f, const std::string& p) {
                     if (auto w = parseWeight(f, p)) t.weight = *w;
                   }},
                  {termKey, true,
                   [&](const Entry& f, const std::string& p) {
                     t.*term = (this->*parseTerm)(f.value, f.valueMark(), p);
                   }}},
                 {});
      out.push_back(std::move(t));
    });
  };
}

Affinity DocParser::parseAffinity(const Entry& e, const std::string& path) {
  Affinity a;
  walkObject(
      e.value, e.valueMark(), path,
      {{"nodeAffinity", false,
        [&](const Entry& f, const std::string& p) { a.nodeAffinity = parseNodeAffinity(f, p); }},
       {"podAffinity", false,
        [&](const Entry& f, const std::string& p) { a.podAffinity = parsePodAffinity(f, p); }},
       {"podAntiAffinity", false,
        [&](const Entry& f, const std::string& p) { a.podAntiAffinity = parsePodAffinity(f, p); }}},
      {});
  return a;
}

NodeAffinity DocParser::parseNodeAffinity(const Entry& e, const std::string& path) {
  NodeAffinity na;
  auto terms = [&](const Entry& f, const std::string& p) {
    bool isList =
        forEachItem(f, p, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
          na.required.push_back(parseNodeSelectorTerm(n, at, ip));
        });
    if (isList && na.required.empty())
      error(f.valueMark(), p, "must have at least one node selector term");
  };
  walkObject(e.value, e.valueMark(), path,
             {{kRequired, false,
               [&](const Entry& f, const std::string& p) {
                 walkObject(f.value, f.valueMark(), p, {{"nodeSelectorTerms", true, terms}}, {});
               }},
              {kPreferred, false,
               preferredTerms(na.preferred, "preference", &PreferredSchedulingTerm::preference,
                              &DocParser::parseNodeSelectorTerm)}},
             {});
  return na;
}

NodeSelectorTerm DocParser::parseNodeSelectorTerm(const YAML::Node& n, const YAML::Mark& at,
                                                  const std::string& path) {
  NodeSelectorTerm t;
  auto list = [&](std::vector<NodeSelectorRequirement>& out, bool field) {
    return [&, field](const Entry& f, const std::string& p) {
      forEachItem(f, p, [&](const YAML::Node& in, const YAML::Mark& iat, const std::string& ip) {
        out.push_back(parseNodeRequirement(in, iat, ip, field));
      });
    };
  };
  walkObject(n, at, path,
             {{"matchExpressions", false, list(t.matchExpressions, false)},
              {"matchFields", false, list(t.matchFields, true)}},
             {});
  return t;
}

// matchExpressions: a label key and In, NotIn, Exists, DoesNotExist, Gt, Lt (Gt and Lt compare
// one integer value); matchFields: metadata.name with In or NotIn and exactly one value.
NodeSelectorRequirement DocParser::parseNodeRequirement(const YAML::Node& n, const YAML::Mark& at,
                                                        const std::string& path, bool field) {
  NodeSelectorRequirement req;
  YAML::Mark opAt = at;
  walkObject(n, at, path,
             {{"key", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (field && *s != "metadata.name")
                   return error(f.valueMark(), p,
                                "Unsupported value: " + inQuotes(*s) +
                                    ": supported values: \"metadata.name\"");
                 if (!field && !checkQualifiedName(*s).empty())
                   return error(f.valueMark(), p, checkQualifiedName(*s));
                 req.key = *s;
               }},
              {"operator", true,
               [&](const Entry& f, const std::string& p) {
                 opAt = f.valueMark();
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 bool ok = *s == "In" || *s == "NotIn" ||
                           (!field &&
                            (*s == "Exists" || *s == "DoesNotExist" || *s == "Gt" || *s == "Lt"));
                 if (!ok)
                   return error(
                       f.valueMark(), p,
                       "Unsupported value: " + inQuotes(*s) + ": supported values: " +
                           (field ? oneOf({"In", "NotIn"})
                                  : oneOf({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})));
                 req.op = *s;
               }},
              {"values", false,
               [&](const Entry& f, const std::string& p) { req.values = stringList(f, p); }}},
             {});
  const std::string vpath = path + ".values";
  if (field && !req.op.empty() && req.values.size() != 1)
    error(opAt, vpath,
          "must be only one value when `operator` is 'In' or 'NotIn' for node field selector");
  else if ((req.op == "In" || req.op == "NotIn") && req.values.empty())
    error(opAt, vpath, "must be specified when `operator` is 'In' or 'NotIn'");
  else if ((req.op == "Exists" || req.op == "DoesNotExist") && !req.values.empty())
    error(opAt, vpath, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
  else if ((req.op == "Gt" || req.op == "Lt") && req.values.size() != 1)
    error(opAt, vpath, "must be specified single value when `operator` is 'Lt' or 'Gt'");
  else if ((req.op == "Gt" || req.op == "Lt") && !isInteger(req.values[0]))
    error(opAt, vpath + "[0]",
          "must be an integer when `operator` is 'Lt' or 'Gt', got " + inQuotes(req.values[0]));
  for (size_t i = 0; !field && i < req.values.size(); ++i) {
    if (std::string why = checkLabelValue(req.values[i]); !why.empty())
      error(opAt, indexPath(vpath, i), why);
  }
  return req;
}

PodAffinityRules DocParser::parsePodAffinity(const Entry& e, const std::string& path) {
  PodAffinityRules rules;
  walkObject(e.value, e.valueMark(), path,
             {{kRequired, false,
               [&](const Entry& f, const std::string& p) {
                 forEachItem(f, p,
                             [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
                               rules.required.push_back(parsePodAffinityTerm(n, at, ip));
                             });
               }},
              {kPreferred, false,
               preferredTerms(rules.preferred, "podAffinityTerm",
                              &WeightedPodAffinityTerm::podAffinityTerm,
                              &DocParser::parsePodAffinityTerm)}},
             {});
  return rules;
}

PodAffinityTerm DocParser::parsePodAffinityTerm(const YAML::Node& n, const YAML::Mark& at,
                                                const std::string& path) {
  PodAffinityTerm t;
  YAML::Mark keysAt = at;
  walkObject(
      n, at, path,
      {{"labelSelector", false,
        [&](const Entry& f, const std::string& p) { t.labelSelector = parseSelector(f, p); }},
       {"namespaceSelector", false,
        [&](const Entry& f, const std::string& p) { t.namespaceSelector = parseSelector(f, p); }},
       {"namespaces", false,
        [&](const Entry& f, const std::string& p) {
          t.namespaces = stringList(f, p);
          for (size_t i = 0; i < t.namespaces.size(); ++i) {
            if (std::string why = checkDns1123Label(t.namespaces[i]); !why.empty())
              error(f.valueMark(), indexPath(p, i), why);
          }
        }},
       topologyKeyField(t.topologyKey),
       {"matchLabelKeys", false,
        [&](const Entry& f, const std::string& p) {
          keysAt = f.keyMark;
          t.matchLabelKeys = parseLabelKeys(f, p);
        }},
       {"mismatchLabelKeys", false,
        [&](const Entry& f, const std::string& p) {
          keysAt = f.keyMark;
          t.mismatchLabelKeys = parseLabelKeys(f, p);
        }}},
      {});
  if ((!t.matchLabelKeys.empty() || !t.mismatchLabelKeys.empty()) && !t.labelSelector)
    error(keysAt, path + ".labelSelector",
          "must be set when matchLabelKeys or mismatchLabelKeys is set");
  for (const std::string& k : t.matchLabelKeys) {
    if (std::find(t.mismatchLabelKeys.begin(), t.mismatchLabelKeys.end(), k) !=
        t.mismatchLabelKeys.end())
      error(keysAt, path + ".matchLabelKeys",
            inQuotes(k) + " must not be in both matchLabelKeys and mismatchLabelKeys");
  }
  return t;
}

DocParser::Field DocParser::topologyKeyField(std::string& out) {
  return {"topologyKey", true, [this, &out](const Entry& f, const std::string& p) {
            std::optional<std::string> s = string(f, p);
            if (s && s->empty()) return error(f.valueMark(), p, "can not be empty");
            if (s && !checkQualifiedName(*s).empty())
              return error(f.valueMark(), p, checkQualifiedName(*s));
            if (s) out = *s;
          }};
}

std::optional<int64_t> DocParser::parseWeight(const Entry& e, const std::string& path) {
  std::optional<int64_t> w = integer(e, path);
  if (w && (*w < 1 || *w > 100)) {
    error(e.valueMark(), path, "must be in the range 1-100, got " + std::to_string(*w));
    return std::nullopt;
  }
  return w;
}

std::vector<std::string> DocParser::parseLabelKeys(const Entry& e, const std::string& path) {
  std::vector<std::string> keys = stringList(e, path);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (std::string why = checkQualifiedName(keys[i]); !why.empty())
      error(e.valueMark(), indexPath(path, i), why);
  }
  return keys;
}

TopologySpreadConstraint DocParser::parseSpreadConstraint(const YAML::Node& n, const YAML::Mark& at,
                                                          const std::string& path) {
  TopologySpreadConstraint c;
  YAML::Mark minAt = at;
  auto policy = [&](std::string& out) {
    return [&](const Entry& f, const std::string& p) {
      std::optional<std::string> s = string(f, p);
      if (s && *s != "Honor" && *s != "Ignore")
        return error(f.valueMark(), p,
                     "Unsupported value: " + inQuotes(*s) +
                         ": supported values: " + oneOf({"Honor", "Ignore"}));
      if (s) out = *s;
    };
  };
  walkObject(
      n, at, path,
      {{"maxSkew", true,
        [&](const Entry& f, const std::string& p) {
          std::optional<int64_t> v = integer(f, p);
          if (v && *v <= 0)
            return error(f.valueMark(), p, "must be greater than zero, got " + std::to_string(*v));
          if (v) c.maxSkew = *v;
        }},
       topologyKeyField(c.topologyKey),
       {"whenUnsatisfiable", true,
        [&](const Entry& f, const std::string& p) {
          std::optional<std::string> s = string(f, p);
          if (s && *s != "DoNotSchedule" && *s != "ScheduleAnyway")
            return error(f.valueMark(), p,
                         "Unsupported value: " + inQuotes(*s) +
                             ": supported values: " + oneOf({"DoNotSchedule", "ScheduleAnyway"}));
          if (s) c.whenUnsatisfiable = *s;
        }},
       {"labelSelector", false,
        [&](const Entry& f, const std::string& p) { c.labelSelector = parseSelector(f, p); }},
       {"minDomains", false,
        [&](const Entry& f, const std::string& p) {
          minAt = f.valueMark();
          std::optional<int64_t> v = integer(f, p);
          if (v && *v <= 0)
            return error(f.valueMark(), p, "must be greater than zero, got " + std::to_string(*v));
          c.minDomains = v;
        }},
       {"nodeAffinityPolicy", false, policy(c.nodeAffinityPolicy)},
       {"nodeTaintsPolicy", false, policy(c.nodeTaintsPolicy)},
       {"matchLabelKeys", false,
        [&](const Entry& f, const std::string& p) { c.matchLabelKeys = parseLabelKeys(f, p); }}},
      {});
  if (c.minDomains && c.whenUnsatisfiable == "ScheduleAnyway")
    error(minAt, path + ".minDomains",
          "can only use minDomains if whenUnsatisfiable=DoNotSchedule");
  return c;
}

}  // namespace boxd::specs::detail
