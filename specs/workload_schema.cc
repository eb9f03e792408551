// The workload schema: apps/v1 Deployment, ReplicaSet, DaemonSet and StatefulSet, read as
// `podman kube play` reads them: the pod template (the Pod schema, at spec.template) and how
// many pods of it run on this host. Fields about rollout pacing are accepted and documented as
// such (docs/workloads.md): boxd rolls one pod at a time whatever they say.

#include <algorithm>

#include "specs/doc_parser.h"
#include "specs/quote.h"
#include "specs/validate.h"
#include "specs/workload.h"

namespace boxd::specs::detail {
namespace {

// Known fields boxd cannot honour on one host: refused unless they ask for nothing.
constexpr std::string_view kWorkloadSpecUnsupported[] = {"paused", "volumeClaimTemplates",
                                                         "ordinals"};
constexpr std::string_view kWorkloadUnsupported[] = {"status"};

std::string labelsText(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return "{" + out + "}";
}

}  // namespace

std::optional<Workload> DocParser::parseWorkload(const YAML::Node& root, WorkloadKind kind) {
  isWorkload_ = true;
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  workload_.kind = kind;
  walkObject(
      root, where, "",
      // Pod names are DNS-1123 labels in boxd: so is the name they start with.
      objectFields("apps/v1", toString(kind), workload_.name, workload_.namespaceName,
                   checkDns1123Label,
                   {{"spec", true,
                     [this](const Entry& f, const std::string& p) { parseWorkloadSpec(f, p); }}}),
      kWorkloadUnsupported);
  if (r_.count() != before) return std::nullopt;
  return workload_;
}

void DocParser::parseWorkloadSpec(const Entry& e, const std::string& path) {
  bool daemonSet = workload_.kind == WorkloadKind::DaemonSet;
  bool statefulSet = workload_.kind == WorkloadKind::StatefulSet;
  std::optional<LabelSelector> selector;
  YAML::Mark selectorAt = e.valueMark(), templateAt = e.valueMark(), replicasAt = e.valueMark();
  bool haveTemplate = false;
  auto accepted = [](const Entry&, const std::string&) {};  // pacing: see docs/workloads.md
  std::vector<Field> fields = {{"selector", true,
                                [&](const Entry& f, const std::string& p) {
                                  selectorAt = f.valueMark();
                                  selector = parseSelector(f, p);
                                }},
                               {"template", true,
                                [&](const Entry& f, const std::string& p) {
                                  templateAt = f.valueMark();
                                  haveTemplate = parsePodTemplate(f, p);
                                }},
                               {"minReadySeconds", false, accepted},
                               {"revisionHistoryLimit", false, accepted}};
  if (!daemonSet) {
    fields.push_back({"replicas", false, [&](const Entry& f, const std::string& p) {
                        replicasAt = f.valueMark();
                        std::optional<int64_t> n = integer(f, p);
                        if (n && *n < 0)
                          return error(
                              f.valueMark(), p,
                              "must be greater than or equal to 0, got " + std::to_string(*n));
                        if (n) workload_.replicas = *n;
                      }});
  }
  if (workload_.kind == WorkloadKind::Deployment) {
    fields.push_back({"strategy", false, accepted});
    fields.push_back({"progressDeadlineSeconds", false, accepted});
  }
  if (daemonSet || statefulSet) fields.push_back({"updateStrategy", false, accepted});
  if (statefulSet) {
    fields.push_back({"serviceName", false, accepted});
    fields.push_back({"podManagementPolicy", false, accepted});
    fields.push_back({"persistentVolumeClaimRetentionPolicy", false, accepted});
  }
  if (statefulSet) noteClaimTemplates(e.value);
  walkObject(e.value, e.valueMark(), path, fields, kWorkloadSpecUnsupported);
  if (!haveTemplate || !selector) return;
  if (selector->empty()) {
    return error(selectorAt, fieldPath(path, "selector"),
                 "empty selector is invalid for " + lowerKind());
  }
  if (!selector->matches(workload_.podTemplate.labels)) {
    error(templateAt, path + ".template.metadata.labels",
          "Invalid value: " + inQuotes(labelsText(workload_.podTemplate.labels)) +
              ": `selector` does not match template `labels`");
  }
  checkReplicaClash(fieldPath(path, "replicas"), replicasAt, workload_.replicas, "replicas");
  size_t longest = longestPodName(workload_.kind, workload_.name, workload_.replicas);
  if (!workload_.name.empty() && longest > 63) {
    error(nameMark_, "metadata.name",
          "pod names made from it would be up to " + std::to_string(longest) +
              " characters; boxd pod names are at most 63: shorten the name");
  }
}

// The names of volumeClaimTemplates, read before the pod template: volumeClaimTemplates is
// reported as not supported, and the template's mounts of its claims are not reported a second
// time as undeclared volumes.
void DocParser::noteClaimTemplates(const YAML::Node& spec) {
  // yaml-cpp throws on a missing key's node: look entries up by walking the maps.
  auto child = [](const YAML::Node& map, std::string_view key) {
    if (map.IsMap())
      for (const auto& kv : map)
        if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
    return YAML::Node();
  };
  YAML::Node templates = child(spec, "volumeClaimTemplates");
  if (!templates.IsSequence()) return;
  for (const YAML::Node& t : templates) {
    YAML::Node name = child(child(t, "metadata"), "name");
    if (name.IsScalar()) claimTemplateNames_.insert(name.Scalar());
  }
}

std::string DocParser::lowerKind() const {
  std::string k(toString(workload_.kind));
  k[0] = static_cast<char>(k[0] - 'A' + 'a');
  return k;
}

// Several pods of one template on one host: a hostPort (or a port of the host's network) or a
// read-write block volume would be claimed by each of them.
void DocParser::checkReplicaClash(const std::string& path, const YAML::Mark& at, int64_t n,
                                  std::string_view field) {
  if (n <= 1) return;
  const PodSpec& t = workload_.podTemplate;
  std::string what;
  for (const Container& c : t.containers) {
    for (const ContainerPort& port : c.ports) {
      if (what.empty() && port.hostPort != 0)
        what = "hostPort " + std::to_string(port.hostPort) + " (container " + c.name + ")";
      if (what.empty() && t.hostNetwork)
        what = "port " + std::to_string(port.containerPort) + " of the host's network (container " +
               c.name + ")";
    }
  }
  for (const Volume& v : t.volumes) {
    if (!what.empty()) break;
    if ((v.iscsi && !v.iscsi->readOnly) || (v.rbd && !v.rbd->readOnly))
      what = "the read-write block volume " + v.name;
  }
  if (what.empty()) return;
  error(at, path,
        std::to_string(n) + (field == "replicas" ? " replicas" : " pods at once") +
            " on one host would all claim " + what + "; boxd runs every " +
            (field == "replicas" ? "replica" : "pod") + " on this host: use " + std::string(field) +
            ": 1");
}

// spec.template: {metadata, spec}, read with the Pod schema. The name inside is ignored, as in
// Kubernetes; the pods are named from the workload.
bool DocParser::parsePodTemplate(const Entry& e, const std::string& path, bool job) {
  size_t before = r_.count();
  inTemplate_ = true;
  YAML::Mark savedName = nameMark_;
  nameMark_ = e.valueMark();
  walkObject(
      e.value, e.valueMark(), path,
      {{"metadata", false, [this](const Entry& f, const std::string& p) { parseMetadata(f, p); }},
       {"spec", true, [this](const Entry& f, const std::string& p) { parseSpec(f, p); }}},
      {});
  finishPod();
  if (!job && pod_.restartPolicy != RestartPolicy::Always) {
    error(e.valueMark(), path + ".spec.restartPolicy",
          "Unsupported value: " + inQuotes(toString(pod_.restartPolicy)) +
              ": supported values: \"Always\"");
  }
  if (job && pod_.restartPolicy == RestartPolicy::Always) {  // also the default: Kubernetes' words
    error(e.valueMark(), path + ".spec.restartPolicy",
          "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"");
  }
  pod_.name.clear();
  workload_.podTemplate = pod_;
  nameMark_ = savedName;
  inTemplate_ = false;
  return r_.count() == before;
}

std::optional<LabelSelector> DocParser::parseSelector(const Entry& e, const std::string& path) {
  LabelSelector sel;
  size_t before = r_.count();
  walkObject(e.value, e.valueMark(), path,
             {{"matchLabels", false,
               [&](const Entry& f, const std::string& p) {
                 sel.matchLabels = stringMap(f, p, labelProblem);
               }},
              {"matchExpressions", false,
               [&](const Entry& f, const std::string& p) {
                 forEachItem(f, p,
                             [&](const YAML::Node& n, const YAML::Mark& at, const std::string& ip) {
                               sel.matchExpressions.push_back(parseRequirement(n, at, ip));
                             });
               }}},
             {});
  if (r_.count() != before) return std::nullopt;
  return sel;
}

LabelSelector::Requirement DocParser::parseRequirement(const YAML::Node& n, const YAML::Mark& at,
                                                       const std::string& path) {
  LabelSelector::Requirement req;
  YAML::Mark opAt = at;
  walkObject(n, at, path,
             {{"key", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (s && !checkQualifiedName(*s).empty())
                   return error(f.valueMark(), p, checkQualifiedName(*s));
                 if (s) req.key = *s;
               }},
              {"operator", true,
               [&](const Entry& f, const std::string& p) {
                 opAt = f.valueMark();
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (*s != "In" && *s != "NotIn" && *s != "Exists" && *s != "DoesNotExist")
                   return error(f.valueMark(), p,
                                "Unsupported value: " + inQuotes(*s) +
                                    ": supported values: \"In\", \"NotIn\", \"Exists\", "
                                    "\"DoesNotExist\"");
                 req.op = *s;
               }},
              {"values", false,
               [&](const Entry& f, const std::string& p) { req.values = stringList(f, p); }}},
             {});
  bool set = req.op == "In" || req.op == "NotIn";
  if (set && req.values.empty())
    error(opAt, path + ".values", "must be specified when `operator` is 'In' or 'NotIn'");
  if (!set && !req.op.empty() && !req.values.empty())
    error(opAt, path + ".values",
          "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
  return req;
}

}  // namespace boxd::specs::detail
