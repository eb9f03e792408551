// The Pod schema boxd accepts: a Kubernetes Pod v1 subset, as field tables.

#include "specs/doc_parser.h"
#include "specs/quantity.h"
#include "specs/quote.h"
#include "specs/validate.h"
#include "specs/workload.h"

namespace boxd::specs::detail {
namespace {

// Well-known Kubernetes fields boxd does not implement yet: named as such, so nobody takes them
// for typos, and never silently dropped.
constexpr std::string_view kPodUnsupported[] = {"status"};
constexpr std::string_view kSpecUnsupported[] = {"ephemeralContainers",
                                                 "hostPID",
                                                 "hostIPC",
                                                 "hostUsers",
                                                 "shareProcessNamespace",
                                                 "nodeName",
                                                 "subdomain",
                                                 "setHostnameAsFQDN",
                                                 "priority",
                                                 "priorityClassName",
                                                 "preemptionPolicy",
                                                 "schedulerName",
                                                 "runtimeClassName",
                                                 "activeDeadlineSeconds",
                                                 "readinessGates",
                                                 "overhead",
                                                 "os",
                                                 "schedulingGates",
                                                 "resourceClaims"};
constexpr std::string_view kContainerUnsupported[] = {"volumeDevices",
                                                      "stdin",
                                                      "stdinOnce",
                                                      "tty",
                                                      "terminationMessagePath",
                                                      "terminationMessagePolicy",
                                                      "resizePolicy"};
constexpr std::string_view kVolumeMountUnsupported[] = {"mountPropagation", "subPathExpr",
                                                        "recursiveReadOnly"};
constexpr std::string_view kHostPathTypes[] = {"",           "Directory",    "DirectoryOrCreate",
                                               "File",       "FileOrCreate", "Socket",
                                               "CharDevice", "BlockDevice"};

// A path without "." or ".." components (and without empty ones but a trailing slash).
bool cleanPath(std::string_view p) {
  size_t start = p[0] == '/' ? 1 : 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part == "." || part == "..") return false;
    if (part.empty() && end != p.size()) return false;
    start = end + 1;
  }
  return true;
}
constexpr std::string_view kResourcesUnsupported[] = {"claims"};

constexpr size_t kMaxAnnotationBytes = 256 * 1024;  // Kubernetes' limit on all annotations together

// One quantity as written, normalized.
struct Quantity {
  std::optional<int64_t> value;
  YAML::Mark mark;
  std::string path;
};

std::string formatCpu(int64_t milli) { return std::to_string(milli) + "m"; }
std::string formatMemory(int64_t bytes) { return std::to_string(bytes) + " bytes"; }

}  // namespace

std::optional<PodSpec> DocParser::parse(const YAML::Node& root) {
  size_t before = r_.count();
  YAML::Mark where = markOf(root, YAML::Mark());
  if (!root.IsMap()) {
    error(where, "", "a document must be a mapping (a Pod), got " + describe(root));
    return std::nullopt;
  }
  if (!checkKind(root)) return std::nullopt;
  parsePod(root, where);
  if (r_.count() != before) return std::nullopt;
  return pod_;
}

// A document of another kind would only produce noise field by field: report the kind alone.
// (Secret documents go to parseSecret; parse.cc decides.)
bool DocParser::checkKind(const YAML::Node& root) {
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar() || it->first.Scalar() != "kind" || !it->second.IsScalar()) continue;
    if (scalarKind(it->second) == ScalarKind::String && it->second.Scalar() != "Pod") {
      error(it->second.Mark(), "kind",
            "boxd runs only Pods (and reads the Secrets and ConfigMaps they name): kind must be "
            "\"Pod\", \"Secret\" or \"ConfigMap\", got " +
                inQuotes(it->second.Scalar()));
      return false;
    }
  }
  return true;
}

void DocParser::parsePod(const YAML::Node& root, const YAML::Mark& where) {
  walkObject(
      root, where, "",
      {{"apiVersion", true, constant("v1")},
       {"kind", true, constant("Pod")},
       {"metadata", true, [this](const Entry& e, const std::string& p) { parseMetadata(e, p); }},
       {"spec", true, [this](const Entry& e, const std::string& p) { parseSpec(e, p); }}},
      kPodUnsupported);
  finishPod();
}

void DocParser::finishPod() {
  checkVolumeMounts();
  checkResourceRefs();
  checkAppArmorAnnotations(nameMark_);
  checkBlockVolumes();
  applyRbdProvisions();
  checkNetwork();
  if (!legacyInit_.empty()) {
    if (!pod_.initContainers.empty()) {
      error(legacyInitMark_, std::string("metadata.annotations.") + kLegacyInitContainersAnnotation,
            "spec.initContainers is set too; remove this deprecated annotation");
    } else {
      for (const Container& c : legacyInit_) {
        if (auto it = containerPaths_.find(c.name); it != containerPaths_.end()) {
          error(legacyInitMark_,
                std::string("metadata.annotations.") + kLegacyInitContainersAnnotation,
                "duplicate container name " + inQuotes(c.name) + " (also " + it->second + ")");
        }
      }
      pod_.initContainers = std::move(legacyInit_);
    }
  }
}

DocParser::Field DocParser::namespaceField(std::string& out) {
  return {"namespace", false, [this, &out](const Entry& f, const std::string& p) {
            std::optional<std::string> s = string(f, p);
            if (!s) return;
            if (std::string why = checkDns1123Label(*s); !why.empty())
              return error(f.valueMark(), p, why);
            out = *s;
          }};
}

void DocParser::parseObjectMetadata(const Entry& e, const std::string& path, std::string& name,
                                    std::string& namespaceName,
                                    std::string (*checkName)(std::string_view)) {
  walkObject(e.value, e.valueMark(), path,
             {{"name", true,
               [&](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s) return;
                 if (std::string why = checkName(*s); !why.empty())
                   return error(f.valueMark(), p, why);
                 name = *s;
                 nameMark_ = f.valueMark();
               }},
              namespaceField(namespaceName),
              {"labels", false,
               [this](const Entry& f, const std::string& p) { stringMap(f, p, labelProblem); }},
              {"annotations", false,
               [this](const Entry& f, const std::string& p) {
                 // A Secret's last-applied-configuration annotation holds its values: keys only.
                 stringMap(f, p, [](const std::string& k, const std::string&) {
                   return checkQualifiedName(k);
                 });
               }}},
             kMetadataUnsupported);
}

std::string DocParser::labelProblem(const std::string& key, const std::string& value) {
  std::string why = checkQualifiedName(key);
  return why.empty() ? checkLabelValue(value) : why;
}

void DocParser::parseMetadata(const Entry& e, const std::string& path) {
  size_t annotationBytes = 0;
  walkObject(e.value, e.valueMark(), path,
             {{"name", !inTemplate_,
               [this](const Entry& f, const std::string& p) {
                 std::optional<std::string> s = string(f, p);
                 if (!s || inTemplate_) return;  // a template's name is not used (Kubernetes)
                 if (std::string why = checkDns1123Label(*s); !why.empty())
                   return error(f.valueMark(), p, why);
                 pod_.name = *s;
                 nameMark_ = f.valueMark();
               }},
              namespaceField(pod_.namespaceName),
              {"labels", false,
               [this](const Entry& f, const std::string& p) {
                 pod_.labels = stringMap(f, p, labelProblem);
               }},
              {"annotations", false,
               [this, &annotationBytes](const Entry& f, const std::string& p) {
                 pod_.annotations =
                     stringMap(f, p, [&](const std::string& k, const std::string& v) {
                       annotationBytes += k.size() + v.size();
                       if (k == kOwnerAnnotation || k == kReplicaAnnotation)
                         return std::string(
                             "set by boxd on the pods of a workload; a spec may not "
                             "set it");
                       return checkQualifiedName(k);
                     });
                 if (annotationBytes > kMaxAnnotationBytes) {
                   error(f.valueMark(), p,
                         "annotations total " + std::to_string(annotationBytes) +
                             " bytes; at most 262144 (256 KiB) are allowed");
                 }
                 parseLegacyInitContainers(f, p);
                 noteRbdProvisions(f, p);
               }}},
             kMetadataUnsupported);
}

void DocParser::parseSpec(const Entry& e, const std::string& path) {
  walkObject(
      e.value, e.valueMark(), path,
      {{"containers", true,
        [this](const Entry& f, const std::string& p) {
          parseContainers(f, p, pod_.containers, true);
        }},
       {"initContainers", false,
        [this](const Entry& f, const std::string& p) {
          parseContainers(f, p, pod_.initContainers, false);
        }},
       {"volumes", false, [this](const Entry& f, const std::string& p) { parseVolumes(f, p); }},
       {"securityContext", false,
        [this](const Entry& f, const std::string& p) {
          pod_.securityContext = parsePodSecurityContext(f, p);
        }},
       {"restartPolicy", false,
        [this](const Entry& f, const std::string& p) {
          std::optional<std::string> s = string(f, p);
          if (!s) return;
          for (RestartPolicy rp :
               {RestartPolicy::Always, RestartPolicy::OnFailure, RestartPolicy::Never}) {
            if (*s == toString(rp)) {
              pod_.restartPolicy = rp;
              return;
            }
          }
          error(f.valueMark(), p,
                "must be one of \"Always\", \"OnFailure\", \"Never\", got " + inQuotes(*s));
        }},
       {"hostname", false,
        [this](const Entry& f, const std::string& p) {
          std::optional<std::string> s = string(f, p);
          if (!s) return;
          if (std::string why = checkDns1123Label(*s); !why.empty())
            return error(f.valueMark(), p, why);
          pod_.hostname = *s;
        }},
       {"terminationGracePeriodSeconds", false,
        [this](const Entry& f, const std::string& p) {
          std::optional<int64_t> v = integer(f, p);
          if (v && *v < 0)
            error(f.valueMark(), p, "must not be negative, got " + std::to_string(*v));
          if (v && *v >= 0) pod_.terminationGracePeriodSeconds = *v;
        }},
       {"hostNetwork", false,
        [this](const Entry& f, const std::string& p) {
          if (std::optional<bool> b = boolean(f, p)) pod_.hostNetwork = *b;
          hostNetworkMark_ = f.valueMark();
        }},
       {"dnsPolicy", false, [this](const Entry& f, const std::string& p) { parseDnsPolicy(f, p); }},
       {"dnsConfig", false, [this](const Entry& f, const std::string& p) { parseDnsConfig(f, p); }},
       {"hostAliases", false,
        [this](const Entry& f, const std::string& p) { parseHostAliases(f, p); }},
       {"imagePullSecrets", false,
        [this](const Entry& f, const std::string& p) { parseImagePullSecrets(f, p); }},
       {"nodeSelector", false,
        [this](const Entry& f, const std::string& p) {
          pod_.nodeSelector = stringMap(f, p, labelProblem);
        }},
       {"tolerations", false,
        [this](const Entry& f, const std::string& p) { parseTolerations(f, p); }},
       // boxd has no Services, so there are no service variables to leave out (docs/config.md).
       {"enableServiceLinks", false,
        [this](const Entry& f, const std::string& p) { (void)boolean(f, p); }},
       // Scheduling on the one node and the service account (scheduling_schema.cc).
       {"affinity", false, schedulingField()},
       {"topologySpreadConstraints", false, schedulingField()},
       {"serviceAccountName", false, schedulingField()},
       {"serviceAccount", false, schedulingField()},
       {"automountServiceAccountToken", false, schedulingField()}},
      kSpecUnsupported);
}

// Container names are unique across containers and initContainers (logs and status name them).
void DocParser::parseContainers(const Entry& e, const std::string& path,
                                std::vector<Container>& out, bool required) {
  bool isList =
      forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
        Container c = parseContainer(n, at, p, !required);
        if (c.name.empty()) return;
        if (!required && !c.isSidecar() && !c.probes.empty())
          error(at, p,
                "an init container runs to completion: it takes no probes or lifecycle hooks "
                "(unless it is a sidecar, with restartPolicy: Always)");
        auto [it, inserted] = containerPaths_.emplace(c.name, p);
        if (!inserted)
          error(at, p + ".name",
                "duplicate container name " + inQuotes(c.name) + " (also " + it->second + ")");
        out.push_back(std::move(c));
      });
  if (required && isList && e.value.size() == 0)
    error(e.valueMark(), path, "must list at least one container");
}

// Kubernetes' rules: only an init container takes one, and only "Always" (a sidecar).
void DocParser::parseContainerRestartPolicy(const Entry& f, const std::string& path, bool init,
                                            Container& c) {
  std::optional<std::string> s = string(f, path);
  if (!s) return;
  if (!init)
    return error(f.valueMark(), path,
                 "may not be set for non-init containers (only an init container with "
                 "restartPolicy: Always, a sidecar, takes one)");
  if (*s != toString(RestartPolicy::Always))
    return error(f.valueMark(), path,
                 "Unsupported value: " + inQuotes(*s) + ": supported values: \"Always\"");
  c.restartPolicy = RestartPolicy::Always;
}

// The deprecated annotation holds a JSON array of containers. Its problems are reported at the
// annotation, with the field path inside it and the column within its JSON text.
void DocParser::parseLegacyInitContainers(const Entry& annotations, const std::string& path) {
  auto it = pod_.annotations.find(kLegacyInitContainersAnnotation);
  if (it == pod_.annotations.end()) return;
  YAML::Mark at = annotations.valueMark();
  for (const Entry& a : mappingEntries(r_, annotations.value, path)) {
    if (a.key == kLegacyInitContainersAnnotation) at = a.valueMark();
  }
  legacyInitMark_ = at;
  std::string apath = path + "." + kLegacyInitContainersAnnotation;
  std::vector<Diagnostic> inner;
  Reporter innerReporter("", inner);
  DocParser sub(innerReporter);
  YAML::Node list;
  try {
    list = YAML::Load(it->second);
  } catch (const YAML::Exception& ex) {
    return error(at, apath, "must be a JSON array of containers: " + ex.msg);
  }
  if (!list.IsSequence()) {
    return error(at, apath, "must be a JSON array of containers, got " + describe(list));
  }
  Entry wrapped{std::string(kLegacyInitContainersAnnotation), at, list};
  sub.parseContainers(wrapped, "", sub.legacyInit_, false);
  for (const Diagnostic& d : inner) {
    error(at, apath + d.field,
          d.message + " (in the annotation's JSON, column " + std::to_string(d.column) + ")");
  }
  if (inner.empty()) legacyInit_ = std::move(sub.legacyInit_);
}

Container DocParser::parseContainer(const YAML::Node& n, const YAML::Mark& at,
                                    const std::string& path, bool init) {
  Container c;
  auto str = [this](std::string& out, std::string (*check)(std::string_view)) {
    return [this, &out, check](const Entry& f, const std::string& p) {
      std::optional<std::string> s = string(f, p);
      if (!s) return;
      if (std::string why = check ? check(*s) : ""; !why.empty())
        return error(f.valueMark(), p, why);
      out = std::move(*s);
    };
  };
  walkObject(
      n, at, path,
      {{"name", true, str(c.name, checkDns1123Label)},
       {"image", true, str(c.image, checkImageRef)},
       {"command", false,
        [&](const Entry& f, const std::string& p) { c.command = stringList(f, p); }},
       {"args", false, [&](const Entry& f, const std::string& p) { c.args = stringList(f, p); }},
       {"env", false, [&](const Entry& f, const std::string& p) { c.env = parseEnv(f, p); }},
       {"envFrom", false,
        [&](const Entry& f, const std::string& p) { c.envFrom = parseEnvFrom(f, p); }},
       {"workingDir", false,
        str(c.workingDir,
            [](std::string_view s) {
              return s.empty() || s[0] == '/' ? std::string()
                                              : "must be an absolute path, got " + inQuotes(s);
            })},
       {"resources", false,
        [&](const Entry& f, const std::string& p) { c.resources = parseResources(f, p); }},
       {"volumeMounts", false,
        [&](const Entry& f, const std::string& p) { c.volumeMounts = parseVolumeMounts(f, p); }},
       {"ports", false, [&](const Entry& f, const std::string& p) { c.ports = parsePorts(f, p); }},
       {"securityContext", false,
        [&](const Entry& f, const std::string& p) {
          c.securityContext = parseSecurityContext(f, p);
        }},
       {"imagePullPolicy", false,
        str(c.imagePullPolicy,
            [](std::string_view s) {
              return s == "Always" || s == "IfNotPresent" || s == "Never"
                         ? std::string()
                         : "must be one of \"Always\", \"IfNotPresent\", \"Never\", got " +
                               inQuotes(s);
            })},
       {"livenessProbe", false,
        [&](const Entry& f, const std::string& p) { c.probes.liveness = parseProbe(f, p, true); }},
       {"readinessProbe", false,
        [&](const Entry& f, const std::string& p) {
          c.probes.readiness = parseProbe(f, p, false);
        }},
       {"startupProbe", false,
        [&](const Entry& f, const std::string& p) { c.probes.startup = parseProbe(f, p, true); }},
       {"lifecycle", false,
        [&](const Entry& f, const std::string& p) { c.probes.lifecycle = parseLifecycle(f, p); }},
       {"restartPolicy", false,
        [&](const Entry& f, const std::string& p) { parseContainerRestartPolicy(f, p, init, c); }}},
      kContainerUnsupported);
  resolveProbePorts(c, path);
  return c;
}

std::vector<EnvVar> DocParser::parseEnv(const Entry& e, const std::string& path) {
  std::vector<EnvVar> out;
  std::map<std::string, int> firstLine;
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    EnvVar v;
    YAML::Mark nameAt = at;
    bool named = false;
    walkObject(
        n, at, p,
        {{"name", true,
          [&](const Entry& f, const std::string& fp) {
            std::optional<std::string> s = string(f, fp);
            if (!s) return;
            if (std::string why = checkEnvName(*s); !why.empty())
              return error(f.valueMark(), fp, why);
            v.name = *s;
            nameAt = f.valueMark();
            named = true;
          }},
         {"value", false,
          [&](const Entry& f, const std::string& fp) {
            if (std::optional<std::string> s = string(f, fp)) v.value = *s;
          }},
         {"valueFrom", false,
          [&](const Entry& f, const std::string& fp) { v.valueFrom = parseEnvVarSource(f, fp); }}},
        {});
    if (v.valueFrom && !v.value.empty())
      error(nameAt, p + ".valueFrom", "must not be set when value is not empty");
    if (!named) return;
    auto [it, inserted] = firstLine.emplace(v.name, lineOf(nameAt));
    if (!inserted) {
      error(nameAt, p + ".name",
            "duplicate environment variable " + inQuotes(v.name) + " (first set at line " +
                std::to_string(it->second) + ")");
      return;
    }
    out.push_back(std::move(v));
  });
  return out;
}

Resources DocParser::parseResources(const Entry& e, const std::string& path) {
  Quantity cpu[2];  // [0] limit, [1] request
  Quantity mem[2];
  Quantity disk[2];  // ephemeral-storage
  auto amounts = [&](int which) {
    return [this, &cpu, &mem, &disk, which](const Entry& f, const std::string& p) {
      if (!f.value.IsMap())
        return error(f.valueMark(), p, "must be a mapping of quantities, got " + describe(f.value));
      for (const Entry& q : mappingEntries(r_, f.value, p)) {
        std::string qp = fieldPath(p, q.key);
        bool isCpu = q.key == "cpu", isDisk = q.key == "ephemeral-storage";
        if (!isCpu && !isDisk && q.key != "memory") {
          error(q.keyMark, qp,
                "resource " + inQuotes(q.key) +
                    " is not supported by boxd (only cpu, memory and ephemeral-storage)");
          continue;
        }
        if (!q.value.IsScalar() ||
            (scalarKind(q.value) != ScalarKind::String && scalarKind(q.value) != ScalarKind::Int &&
             scalarKind(q.value) != ScalarKind::Float)) {
          error(q.valueMark(), qp,
                "must be a quantity such as \"500m\" or \"64Mi\", got " + describe(q.value));
          continue;
        }
        Result<int64_t> v =
            isCpu ? parseCpuMilli(q.value.Scalar()) : parseMemoryBytes(q.value.Scalar());
        if (!v) {
          error(q.valueMark(), qp, v.error().message);
          continue;
        }
        if (which == 0 && *v == 0) {
          error(q.valueMark(), qp,
                "a limit of zero would stop the container; leave the limit out for none");
          continue;
        }
        (isCpu ? cpu : isDisk ? disk : mem)[which] = Quantity{*v, q.valueMark(), qp};
      }
    };
  };
  walkObject(e.value, e.valueMark(), path,
             {{"limits", false, amounts(0)}, {"requests", false, amounts(1)}},
             kResourcesUnsupported);
  auto settle = [this](Quantity(&q)[2], std::string (*format)(int64_t), std::string_view what,
                       std::optional<int64_t>& limit, std::optional<int64_t>& request) {
    if (q[0].value && q[1].value && *q[1].value > *q[0].value) {
      error(q[1].mark, q[1].path,
            std::string(what) + " request " + format(*q[1].value) + " is greater than its limit " +
                format(*q[0].value));
    }
    limit = q[0].value;
    request = q[1].value ? q[1].value : q[0].value;  // Kubernetes: a request defaults to its limit
  };
  Resources r;
  settle(cpu, formatCpu, "cpu", r.cpuLimitMilli, r.cpuRequestMilli);
  settle(mem, formatMemory, "memory", r.memoryLimitBytes, r.memoryRequestBytes);
  settle(disk, formatMemory, "ephemeral-storage", r.ephemeralLimitBytes, r.ephemeralRequestBytes);
  return r;
}

void DocParser::parseVolumes(const Entry& e, const std::string& path) {
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    Volume v;
    size_t before = r_.count();
    std::vector<Field> fields = {
        {"name", true,
         [&](const Entry& f, const std::string& fp) {
           std::optional<std::string> name = string(f, fp);
           if (!name) return;
           if (std::string why = checkDns1123Label(*name); !why.empty())
             return error(f.valueMark(), fp, why);
           auto [it, inserted] = volumePaths_.emplace(*name, p);
           if (!inserted)
             return error(
                 f.valueMark(), fp,
                 "duplicate volume name " + inQuotes(*name) + " (also " + it->second + ")");
           v.name = *name;
         }},
        {"emptyDir", false,
         [&](const Entry& f, const std::string& fp) {
           EmptyDirVolume ed;
           walkObject(
               f.value, f.valueMark(), fp,
               {{"medium", false,
                 [&](const Entry& g, const std::string& gp) {
                   std::optional<std::string> m = string(g, gp);
                   if (!m) return;
                   if (*m == "Memory")
                     ed.memory = true;
                   else if (!m->empty())
                     error(g.valueMark(), gp,
                           "unknown medium " + inQuotes(*m) + "; use \"\" (disk) or \"Memory\"");
                 }},
                {"sizeLimit", false,
                 [&](const Entry& g, const std::string& gp) {
                   std::optional<std::string> q =
                       g.value.IsScalar() ? std::optional(g.value.Scalar()) : string(g, gp);
                   if (!q) return;
                   Result<int64_t> bytes = parseMemoryBytes(*q);
                   if (!bytes) return error(g.valueMark(), gp, bytes.error().message);
                   if (*bytes == 0) return error(g.valueMark(), gp, "must be greater than zero");
                   ed.sizeLimitBytes = *bytes;
                 }}},
               {});
           v.emptyDir = ed;
         }},
        {"hostPath", false,
         [&](const Entry& f, const std::string& fp) {
           HostPathVolume hp;
           walkObject(
               f.value, f.valueMark(), fp,
               {{"path", true,
                 [&](const Entry& g, const std::string& gp) {
                   std::optional<std::string> s = string(g, gp);
                   if (!s) return;
                   if (s->empty() || (*s)[0] != '/' || !cleanPath(*s))
                     return error(g.valueMark(), gp,
                                  "must be an absolute path without . or .. components, got " +
                                      inQuotes(*s));
                   hp.path = *s;
                 }},
                {"type", false,
                 [&](const Entry& g, const std::string& gp) {
                   std::optional<std::string> t = string(g, gp);
                   if (!t) return;
                   for (std::string_view known : kHostPathTypes) {
                     if (*t == known) {
                       hp.type = *t;
                       return;
                     }
                   }
                   error(g.valueMark(), gp,
                         "unknown hostPath type " + inQuotes(*t) +
                             "; one of Directory, DirectoryOrCreate, File, FileOrCreate, Socket, "
                             "CharDevice, BlockDevice (or empty)");
                 }}},
               {});
           v.hostPath = hp;
         }},
        {"iscsi", false,
         [&](const Entry& f, const std::string& fp) { v.iscsi = parseIscsi(f, fp); }},
        {"rbd", false, [&](const Entry& f, const std::string& fp) { v.rbd = parseRbd(f, fp); }}};
    addConfigVolumeFields(fields, v);
    walkObject(n, at, p, fields, {});
    int sources = v.emptyDir.has_value() + v.hostPath.has_value() + v.iscsi.has_value() +
                  v.rbd.has_value() + v.config.has_value();
    // A volume whose only source was refused (an unsupported type, a typo) has its one error.
    bool refused = sources == 0 && r_.count() != before;
    if (!v.name.empty() && sources != 1 && !refused) {
      error(at, p,
            "must set exactly one volume source: emptyDir, hostPath, configMap, secret, "
            "downwardAPI, projected, iscsi or rbd");
      return;
    }
    if (v.name.empty()) return;
    if (v.isBlock() && r_.count() == before) blockRefs_.push_back({v.name, at, p});
    pod_.volumes.push_back(std::move(v));
  });
}

std::vector<VolumeMount> DocParser::parseVolumeMounts(const Entry& e, const std::string& path) {
  std::vector<VolumeMount> out;
  std::map<std::string, std::string> firstPath;  // mountPath → path of the mount
  forEachItem(e, path, [&](const YAML::Node& n, const YAML::Mark& at, const std::string& p) {
    VolumeMount m;
    YAML::Mark mountAt = at;
    walkObject(n, at, p,
               {{"name", true,
                 [&](const Entry& f, const std::string& fp) {
                   if (std::optional<std::string> s = string(f, fp)) {
                     m.name = *s;
                     mountRefs_.push_back({*s, f.valueMark(), fp});
                   }
                 }},
                {"mountPath", true,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (s->empty() || (*s)[0] != '/' || !cleanPath(*s))
                     return error(f.valueMark(), fp,
                                  "must be an absolute path without . or .. components, got " +
                                      inQuotes(*s));
                   m.mountPath =
                       s->size() > 1 && s->back() == '/' ? s->substr(0, s->size() - 1) : *s;
                   mountAt = f.valueMark();
                 }},
                {"readOnly", false,
                 [&](const Entry& f, const std::string& fp) {
                   if (std::optional<bool> b = boolean(f, fp)) m.readOnly = *b;
                 }},
                {"subPath", false,
                 [&](const Entry& f, const std::string& fp) {
                   std::optional<std::string> s = string(f, fp);
                   if (!s) return;
                   if (!s->empty() && ((*s)[0] == '/' || !cleanPath(*s)))
                     return error(f.valueMark(), fp,
                                  "must be a relative path inside the volume without . or .. "
                                  "components, got " +
                                      inQuotes(*s));
                   m.subPath = *s;
                 }}},
               kVolumeMountUnsupported);
    if (m.mountPath.empty()) return;
    auto [it, inserted] = firstPath.emplace(m.mountPath, p);
    if (!inserted) {
      return error(mountAt, p + ".mountPath",
                   "duplicate mount path " + inQuotes(m.mountPath) + " (also " + it->second + ")");
    }
    out.push_back(std::move(m));
  });
  return out;
}

void DocParser::checkVolumeMounts() {
  for (const MountRef& r : mountRefs_) {
    // A StatefulSet's claim template is reported once, at volumeClaimTemplates, not again here.
    if (volumePaths_.count(r.volume) == 0 && claimTemplateNames_.count(r.volume) == 0)
      error(r.at, r.path, "volume " + inQuotes(r.volume) + " is not declared in spec.volumes");
  }
}

}  // namespace boxd::specs::detail
