#include "agent/scheduling.h"

#include <algorithm>
#include <charconv>

namespace boxd::agent {

namespace {

const char* const kNodeAffinity = "node(s) didn't match Pod's node affinity/selector";
const char* const kSpread = "node(s) didn't match pod topology spread constraints";
const char* const kExistingAnti = "node(s) didn't satisfy existing pods anti-affinity rules";
const char* const kAnti = "node(s) didn't match pod anti-affinity rules";
const char* const kAffinity = "node(s) didn't match pod affinity rules";

std::string message(const char* reason, const std::string& detail) {
  return std::string("0/1 nodes are available: 1 ") + reason + " (" + detail + ")";
}

std::string listText(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return "[" + out + "]";
}

bool toInt(const std::string& s, int64_t& out) {
  const char* b = s.data() + (!s.empty() && s[0] == '+' ? 1 : 0);
  auto [end, ec] = std::from_chars(b, s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "" when the requirement holds for the value (absent = nullptr), else why not.
std::string requirementMismatch(const specs::NodeSelectorRequirement& r, const std::string* has,
                                const std::string& what) {
  std::string text = r.key + " " + r.op + (r.values.empty() ? "" : " " + listText(r.values));
  std::string node = has ? "this node has " + what + "=" + *has : "this node has no " + what;
  bool in = has && std::find(r.values.begin(), r.values.end(), *has) != r.values.end();
  bool ok = false;
  if (r.op == "In") ok = in;
  if (r.op == "NotIn") ok = !in;
  if (r.op == "Exists") ok = has != nullptr;
  if (r.op == "DoesNotExist") ok = has == nullptr;
  if ((r.op == "Gt" || r.op == "Lt") && has && r.values.size() == 1) {
    int64_t got = 0, want = 0;
    if (toInt(*has, got) && toInt(r.values[0], want)) ok = r.op == "Gt" ? got > want : got < want;
  }
  return ok ? "" : text + "; " + node;
}

// "" when every requirement of the term holds; a term with none matches no node.
std::string termMismatch(const specs::NodeSelectorTerm& t, const Node& node) {
  if (t.matchExpressions.empty() && t.matchFields.empty()) return "an empty term matches no node";
  for (const auto& r : t.matchExpressions) {
    auto it = node.labels.find(r.key);
    std::string why =
        requirementMismatch(r, it == node.labels.end() ? nullptr : &it->second, "label " + r.key);
    if (!why.empty()) return why;
  }
  for (const auto& r : t.matchFields) {
    if (std::string why = requirementMismatch(r, &node.name, "metadata.name"); !why.empty())
      return why;
  }
  return "";
}

// The term's label selector with matchLabelKeys / mismatchLabelKeys applied from the owner.
std::optional<specs::LabelSelector> effectiveSelector(const std::optional<specs::LabelSelector>& s,
                                                      const std::vector<std::string>& matchKeys,
                                                      const std::vector<std::string>& mismatchKeys,
                                                      const specs::PodSpec& owner) {
  if (!s) return std::nullopt;
  specs::LabelSelector out = *s;
  for (const auto& k : matchKeys) {
    if (auto it = owner.labels.find(k); it != owner.labels.end())
      out.matchExpressions.push_back({k, "In", {it->second}});
  }
  for (const auto& k : mismatchKeys) {
    if (auto it = owner.labels.find(k); it != owner.labels.end())
      out.matchExpressions.push_back({k, "NotIn", {it->second}});
  }
  return out;
}

std::string podName(const specs::PodSpec& p) { return p.namespaceName + "/" + p.name; }

std::string termText(const char* kind, size_t i, const specs::PodAffinityTerm& t) {
  return std::string("spec.affinity.") + kind + ".requiredDuringSchedulingIgnoredDuringExecution[" +
         std::to_string(i) + "], topologyKey " + t.topologyKey;
}

}  // namespace

Node thisNode(const Labels& configured) {
  Labels wellKnown = nodeLabels({});
  return {wellKnown["kubernetes.io/hostname"], nodeLabels(configured)};
}

bool occupiesNode(const std::string& phase, const std::string& reason) {
  return reason != kUnschedulable && phase != "Succeeded" && phase != "Failed";
}

std::string nodeAffinityMismatch(const specs::PodSpec& pod, const Node& node) {
  if (std::string why = nodeSelectorMismatch(pod, node.labels); !why.empty()) return why;
  const auto& terms = pod.affinity.nodeAffinity.required;
  if (terms.empty()) return "";
  std::string first;
  for (const auto& t : terms) {
    std::string why = termMismatch(t, node);
    if (why.empty()) return "";
    if (first.empty()) first = why;
  }
  return message(kNodeAffinity,
                 "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: " +
                     std::string(terms.size() == 1 ? "its term"
                                                   : "no term of " + std::to_string(terms.size())) +
                     " matches; " + first);
}

bool affinityTermSelects(const specs::PodAffinityTerm& term, const specs::PodSpec& owner,
                         const specs::PodSpec& other) {
  bool inNamespace = false;
  if (term.namespaces.empty() && !term.namespaceSelector) {
    inNamespace = other.namespaceName == owner.namespaceName;
  } else {
    inNamespace =
        std::find(term.namespaces.begin(), term.namespaces.end(), other.namespaceName) !=
            term.namespaces.end() ||
        (term.namespaceSelector &&
         term.namespaceSelector->matches({{"kubernetes.io/metadata.name", other.namespaceName}}));
  }
  if (!inNamespace) return false;
  auto sel =
      effectiveSelector(term.labelSelector, term.matchLabelKeys, term.mismatchLabelKeys, owner);
  return sel && sel->matches(other.labels);
}

std::string topologySpreadMismatch(const specs::PodSpec& pod, const Node& node,
                                   const std::vector<const specs::PodSpec*>& placed) {
  for (size_t i = 0; i < pod.topologySpreadConstraints.size(); ++i) {
    const auto& c = pod.topologySpreadConstraints[i];
    if (c.whenUnsatisfiable != "DoNotSchedule") continue;
    std::string where = "spec.topologySpreadConstraints[" + std::to_string(i) + "]";
    if (node.labels.count(c.topologyKey) == 0)
      return std::string("0/1 nodes are available: 1 ") + kSpread + " (missing required label) (" +
             where + ": this node has no label " + c.topologyKey + ")";
    auto sel = effectiveSelector(c.labelSelector, c.matchLabelKeys, {}, pod);
    int64_t count = 0;
    for (const specs::PodSpec* p : placed) {
      if (sel && p->namespaceName == pod.namespaceName && sel->matches(p->labels)) ++count;
    }
    int64_t self = sel && sel->matches(pod.labels) ? 1 : 0;
    // One domain: the global minimum is its own count, unless minDomains asks for more domains
    // than exist, when Kubernetes takes it as 0.
    int64_t minimum = c.minDomains && *c.minDomains > 1 ? 0 : count;
    int64_t skew = count + self - minimum;
    if (skew > c.maxSkew)
      return message(kSpread, where + ": skew " + std::to_string(skew) + " > maxSkew " +
                                  std::to_string(c.maxSkew) + " with minDomains " +
                                  std::to_string(c.minDomains.value_or(1)) + " on one node");
  }
  return "";
}

std::string interPodAffinityMismatch(const specs::PodSpec& pod, const Node& node,
                                     const std::vector<const specs::PodSpec*>& placed) {
  // In the scheduler's order: the pod's affinity, its anti-affinity, existing pods' anti-affinity.
  auto hasKey = [&](const std::string& k) { return node.labels.count(k) > 0; };
  const auto& aff = pod.affinity.podAffinity.required;
  bool anyMatch = false, allMatch = true, selfMatch = true;
  std::string unmet;
  for (size_t i = 0; i < aff.size(); ++i) {
    if (!hasKey(aff[i].topologyKey))
      return message(kAffinity, termText("podAffinity", i, aff[i]) + ": this node has no label " +
                                    aff[i].topologyKey);
    bool found = std::any_of(placed.begin(), placed.end(), [&](const specs::PodSpec* e) {
      return affinityTermSelects(aff[i], pod, *e);
    });
    anyMatch = anyMatch || found;
    if (!found && unmet.empty())
      unmet = termText("podAffinity", i, aff[i]) + ": no pod on this node matches";
    allMatch = allMatch && found;
    selfMatch = selfMatch && affinityTermSelects(aff[i], pod, pod);
  }
  // The first pod of a group with affinity to itself may run when no pod matches any term.
  if (!allMatch && !(!anyMatch && selfMatch)) return message(kAffinity, unmet);
  const auto& anti = pod.affinity.podAntiAffinity.required;
  for (size_t i = 0; i < anti.size(); ++i) {
    if (!hasKey(anti[i].topologyKey)) continue;  // no such topology domain: nothing to avoid
    for (const specs::PodSpec* e : placed) {
      if (affinityTermSelects(anti[i], pod, *e))
        return message(kAnti, termText("podAntiAffinity", i, anti[i]) + " selects pod " +
                                  podName(*e) + " on this node");
    }
  }
  for (const specs::PodSpec* e : placed) {
    const auto& terms = e->affinity.podAntiAffinity.required;
    for (size_t i = 0; i < terms.size(); ++i) {
      if (hasKey(terms[i].topologyKey) && affinityTermSelects(terms[i], *e, pod))
        return message(kExistingAnti, "pod " + podName(*e) + " on this node has " +
                                          termText("podAntiAffinity", i, terms[i]) +
                                          ", which selects this pod");
    }
  }
  return "";
}

std::string scheduleMismatch(const specs::PodSpec& pod, const Node& node,
                             const std::vector<const specs::PodSpec*>& placed) {
  if (std::string why = nodeAffinityMismatch(pod, node); !why.empty()) return why;
  if (std::string why = topologySpreadMismatch(pod, node, placed); !why.empty()) return why;
  return interPodAffinityMismatch(pod, node, placed);
}

}  // namespace boxd::agent
