#include "agent/validate_tree.h"

#include <dirent.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "agent/config_refs.h"
#include "agent/spec_source.h"
#include "common/fd.h"
#include "common/util.h"
#include "specs/quote.h"
#include "specs/workload.h"

namespace boxd::agent {

namespace {

struct FileParse {
  std::string file;  // as shown: the path given, or dir/name
  specs::ParseResult parsed;
  std::string content;  // to locate the fields of problems found across files
};

struct Where {
  std::string file;
  int line = 0;
  std::string str() const { return line > 0 ? file + ":" + std::to_string(line) : file; }
};

// Paths as shown in problems: escaped as boxd escapes file names (a control character in a
// name cannot forge a line of output).
std::string joinPath(const std::string& dir, const std::string& name) {
  if (dir == ".") return specs::escapeText(name);  // as boxd names files: relative to the dir
  return specs::escapeText(endsWith(dir, "/") ? dir + name : dir + "/" + name);
}

std::string baseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string skipReason(const std::string& name) {
  if (!name.empty() && name[0] == '.') return "boxd skips dotfiles; rename it or remove it";
  return "boxd skips this file (an editor or package leftover); rename it or remove it";
}

// Parses one file's text as boxd does, then applies the world-readable Secret rule. Returns the
// parse before the refusal: the cross-document checks still see what the file declares.
void parseAs(const std::string& shown, std::string content, unsigned mode, ValidateReport& report,
             std::vector<FileParse>& out) {
  ++report.files;
  specs::ParseResult parsed = specs::parseSpecFile(shown, content);
  SpecFile f{shown, {}, {}, mode, {}};
  specs::ParseResult checked = parsed;
  refuseExposedSecrets(f, checked);
  for (auto& d : checked.errors) report.problems.push_back(std::move(d));
  out.push_back({shown, std::move(parsed), std::move(content)});
}

void readDir(const std::string& dir, ValidateReport& report, std::vector<FileParse>& out) {
  auto snap = readSpecSnapshot(dir, kDefaultSpecMaxBytes, [&](SpecFile& f) {
    std::string shown = joinPath(dir, f.name);
    if (!f.error.empty()) {
      ++report.files;
      report.problems.push_back({shown, 0, 0, "", f.error});
    } else {
      parseAs(shown, std::move(f.content), f.mode, report, out);
    }
    std::string().swap(f.content);
  });
  if (!snap.ok()) {
    report.problems.push_back({specs::escapeText(dir), 0, 0, "", snap.error().message});
    return;
  }
  DIR* d = ::opendir(snap->dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (looksLikeSkippedSpec(name))
      report.problems.push_back({joinPath(dir, name), 0, 0, "", skipReason(name)});
  }
  ::closedir(d);
}

void readPath(const std::string& path, ValidateReport& report, std::vector<FileParse>& out) {
  const std::string shown = specs::escapeText(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    report.problems.push_back(
        {shown, 0, 0, "", std::string("cannot read: ") + std::strerror(errno)});
    return;
  }
  if (S_ISDIR(st.st_mode)) return readDir(path, report, out);
  std::string name = baseName(path);
  if (!isSpecFileName(name)) {
    report.problems.push_back(
        {shown, 0, 0, "",
         looksLikeSkippedSpec(name)
             ? skipReason(name)
             : "boxd reads only *.yaml, *.yml and *.json files; it skips this one"});
    return;
  }
  if (!S_ISREG(st.st_mode)) {
    report.problems.push_back({shown, 0, 0, "", "not a regular file; boxd does not read it"});
    return;
  }
  if (static_cast<size_t>(st.st_size) > kDefaultSpecMaxBytes) {
    report.problems.push_back(
        {shown, 0, 0, "", "larger than 4 MiB (specMaxBytes); boxd does not read it"});
    return;
  }
  auto content = readFile(path);
  if (!content.ok()) {
    report.problems.push_back({shown, 0, 0, "", content.error().message});
    return;
  }
  parseAs(shown, std::move(*content), st.st_mode & 07777u, report, out);
}

std::string listOthers(const std::vector<Where>& all, size_t self) {
  std::string out;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i != self) out += (out.empty() ? "" : ", ") + all[i].str();
  }
  return out;
}

// A pod the files declare, as the checks across files see it: a Pod, a pod of a workload, or a
// Job's pod template (what every pod of the Job runs).
struct DeclaredPod {
  Where where;  // its document
  const specs::PodSpec* spec = nullptr;
  std::string who;     // as problems name it: pod "web", deployment "web", job "backup"
  std::string fields;  // where the pod's spec is in its document: "spec", "spec.template.spec"
};

std::string quotedKey(const std::string& kind, const std::string& ns, const std::string& name) {
  return kind + " \"" + specs::objectKey(ns, name) + "\"";
}

std::vector<DeclaredPod> declaredPods(const std::vector<FileParse>& files) {
  std::vector<DeclaredPod> out;
  for (const auto& f : files) {
    for (const auto& p : f.parsed.pods) {
      std::string owner = specs::ownerOf(p.spec);  // "Deployment/web" for a workload's pod
      size_t slash = owner.find('/');
      if (slash == std::string::npos) {
        out.push_back({{f.file, p.line},
                       &p.spec,
                       quotedKey("pod", p.spec.namespaceName, p.spec.name),
                       "spec"});
        continue;
      }
      std::string kind = owner.substr(0, slash);
      std::transform(kind.begin(), kind.end(), kind.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out.push_back({{f.file, p.line},
                     &p.spec,
                     quotedKey(kind, p.spec.namespaceName, owner.substr(slash + 1)),
                     "spec.template.spec"});
    }
    for (const auto& j : f.parsed.jobs) {
      out.push_back({{f.file, j.line},
                     &j.job.podTemplate,
                     quotedKey("job", j.job.namespaceName, j.job.name),
                     "spec.template.spec"});
    }
    for (const auto& c : f.parsed.cronJobs) {
      out.push_back({{f.file, c.line},
                     &c.cronJob.jobTemplate.podTemplate,
                     quotedKey("cronjob", c.cronJob.namespaceName, c.cronJob.name),
                     "spec.jobTemplate.spec.template.spec"});
    }
  }
  return out;
}

// Names are unique per kind and namespace across the files, as boxd needs them.
void duplicateNames(const std::vector<FileParse>& files, ValidateReport& report) {
  std::map<std::string, std::vector<Where>> pods, secrets, configMaps, jobs, cronJobs;
  for (const auto& f : files) {
    for (const auto& p : f.parsed.pods) pods[p.spec.key()].push_back({f.file, p.line});
    for (const auto& s : f.parsed.secrets) {
      secrets[specs::objectKey(s.secret.namespaceName, s.secret.name)].push_back({f.file, s.line});
    }
    for (const auto& c : f.parsed.configMaps) {
      configMaps[specs::objectKey(c.configMap.namespaceName, c.configMap.name)].push_back(
          {f.file, c.line});
    }
    for (const auto& j : f.parsed.jobs) jobs[j.job.key()].push_back({f.file, j.line});
    for (const auto& c : f.parsed.cronJobs) cronJobs[c.cronJob.key()].push_back({f.file, c.line});
  }
  for (const auto& [decls, kind] :
       {std::pair{&pods, "pod"}, std::pair{&secrets, "secret"}, std::pair{&configMaps, "configmap"},
        std::pair{&jobs, "job"}, std::pair{&cronJobs, "cronjob"}}) {
    for (const auto& [name, where] : *decls) {
      if (where.size() < 2) continue;
      for (size_t i = 0; i < where.size(); ++i) {
        report.problems.push_back({where[i].file, where[i].line, 0, "metadata.name",
                                   std::string(kind) + " \"" + name + "\" is also declared at " +
                                       listOthers(where, i) + "; boxd applies neither"});
      }
    }
  }
}

// A key a pod reads from a Secret or ConfigMap, where it names it (the field within the pod spec).
struct KeyRef {
  std::string key, field;
};

// A Secret or ConfigMap a pod names, where it names it (the field within the pod spec), and the
// keys it must hold.
struct ObjectRef {
  bool secret = false;
  std::string name, field;
  std::vector<KeyRef> keys;  // env valueFrom's key, the items[].key of a volume
  bool envKey = false;       // env reads a ConfigMap's data only, not its binaryData
};

// configMap / secret volumes and the configMap / secret sources of projected ones.
void configVolumeRefs(const specs::ConfigVolume& cv, const std::string& at,
                      std::vector<ObjectRef>& out) {
  const bool projected = cv.type == "projected";
  for (size_t j = 0; j < cv.sources.size(); ++j) {
    const specs::ConfigSource& src = cv.sources[j];
    if (src.kind == specs::ConfigSource::Kind::DownwardAPI || src.optional) continue;
    const bool secret = src.kind == specs::ConfigSource::Kind::Secret;
    const std::string base = at +
                             (projected ? "projected.sources[" + std::to_string(j) + "]." : "") +
                             (secret ? "secret." : "configMap.");
    ObjectRef ref{secret, src.name, base + (secret && !projected ? "secretName" : "name"), {}};
    for (size_t k = 0; k < src.items.size(); ++k)
      ref.keys.push_back({src.items[k].key, base + "items[" + std::to_string(k) + "].key"});
    out.push_back(std::move(ref));
  }
}

// envFrom and env valueFrom of one container (at: "containers[0].").
void containerRefs(const specs::Container& c, const std::string& at, std::vector<ObjectRef>& out) {
  for (size_t k = 0; k < c.envFrom.size(); ++k) {
    const specs::EnvFromSource& from = c.envFrom[k];
    if (from.optional) continue;
    out.push_back({from.secret,
                   from.name,
                   at + "envFrom[" + std::to_string(k) + "]." +
                       (from.secret ? "secretRef.name" : "configMapRef.name"),
                   {}});
  }
  for (size_t k = 0; k < c.env.size(); ++k) {
    const auto& from = c.env[k].valueFrom;
    if (!from || from->optional) continue;
    const bool secret = from->kind == specs::EnvVarSource::Kind::SecretKey;
    if (!secret && from->kind != specs::EnvVarSource::Kind::ConfigMapKey) continue;
    const std::string base = at + "env[" + std::to_string(k) + "].valueFrom." +
                             (secret ? "secretKeyRef." : "configMapKeyRef.");
    out.push_back({secret, from->name, base + "name", {{from->key, base + "key"}}, true});
  }
}

// Every reference of a pod that boxd resolves in the pod's namespace and that must resolve
// (not optional): block volumes' secretRef, imagePullSecrets, env valueFrom, envFrom, and
// configMap / secret / projected volumes.
std::vector<ObjectRef> requiredRefs(const specs::PodSpec& pod) {
  std::vector<ObjectRef> out;
  for (size_t i = 0; i < pod.volumes.size(); ++i) {
    const specs::Volume& v = pod.volumes[i];
    const std::string at = "volumes[" + std::to_string(i) + "].";
    if (v.iscsi && !v.iscsi->secretRef.empty())
      out.push_back({true, v.iscsi->secretRef, at + "iscsi.secretRef", {}});
    if (v.rbd && !v.rbd->secretRef.empty())
      out.push_back({true, v.rbd->secretRef, at + "rbd.secretRef", {}});
    if (v.config) configVolumeRefs(*v.config, at, out);
  }
  for (size_t i = 0; i < pod.imagePullSecrets.size(); ++i)
    out.push_back(
        {true, pod.imagePullSecrets[i], "imagePullSecrets[" + std::to_string(i) + "].name", {}});
  for (const auto& [list, listName] : {std::pair{&pod.initContainers, "initContainers"},
                                       std::pair{&pod.containers, "containers"}}) {
    for (size_t ci = 0; ci < list->size(); ++ci)
      containerRefs((*list)[ci], std::string(listName) + "[" + std::to_string(ci) + "].", out);
  }
  return out;
}

// A Secret or ConfigMap as the files declare it: how often (boxd uses neither of two), and its
// keys (a Secret's data with stringData; a ConfigMap's data, and binaryData apart). No values.
struct DeclaredObject {
  int count = 0;
  std::set<std::string> data, binaryData;
};

std::string declaredKey(bool secret, const std::string& ns, const std::string& name) {
  return std::string(secret ? "Secret " : "ConfigMap ") + specs::objectKey(ns, name);
}

std::map<std::string, DeclaredObject> declaredObjects(const std::vector<FileParse>& files) {
  std::map<std::string, DeclaredObject> out;
  for (const auto& f : files) {
    for (const auto& s : f.parsed.secrets) {
      DeclaredObject& o = out[declaredKey(true, s.secret.namespaceName, s.secret.name)];
      ++o.count;
      for (const auto& kv : s.secret.data) o.data.insert(kv.first);
    }
    for (const auto& c : f.parsed.configMaps) {
      DeclaredObject& o = out[declaredKey(false, c.configMap.namespaceName, c.configMap.name)];
      ++o.count;
      for (const auto& kv : c.configMap.data) o.data.insert(kv.first);
      for (const auto& kv : c.configMap.binaryData) o.binaryData.insert(kv.first);
    }
  }
  return out;
}

// The keys of ref that its object lacks: boxd would hold the container
// (CreateContainerConfigError) or not write the volume, with the same words.
void missingKeys(const DeclaredPod& p, const ObjectRef& ref, const DeclaredObject& obj,
                 ValidateReport& report) {
  if (obj.count != 1) return;  // declared twice: reported as such, and boxd uses neither
  for (const KeyRef& k : ref.keys) {
    if (obj.data.count(k.key) || (!ref.envKey && obj.binaryData.count(k.key))) continue;
    const bool inBinaryData = ref.envKey && obj.binaryData.count(k.key) != 0;
    report.problems.push_back(
        {p.where.file, p.where.line, 0, p.fields + "." + k.field,
         p.who + ": " +
             missingKeyMessage(ref.secret, p.spec->namespaceName, ref.name, k.key, inBinaryData)});
  }
}

// A pod naming a Secret or ConfigMap that no file declares in the pod's namespace, or a key its
// object lacks: boxd would hold it (FailedToRetrieveImagePullSecret, CreateContainerConfigError,
// a volume not attached).
void missingObjects(const std::vector<FileParse>& files, const std::vector<DeclaredPod>& pods,
                    ValidateReport& report) {
  const std::map<std::string, DeclaredObject> declared = declaredObjects(files);
  for (const DeclaredPod& p : pods) {
    const std::string& ns = p.spec->namespaceName;
    for (const ObjectRef& ref : requiredRefs(*p.spec)) {
      auto it = declared.find(declaredKey(ref.secret, ns, ref.name));
      if (it != declared.end()) {
        missingKeys(p, ref, it->second, report);
        continue;
      }
      std::string where =
          ns.empty() || ns == specs::kDefaultNamespace ? "" : " in namespace \"" + ns + "\"";
      report.problems.push_back({p.where.file, p.where.line, 0, p.fields + "." + ref.field,
                                 p.who + ": no file declares " +
                                     (ref.secret ? "Secret" : "ConfigMap") + " \"" + ref.name +
                                     "\"" + where});
    }
  }
}

// What one pod claims of the host (a host port, a block volume), for the clash checks.
struct Claim {
  const DeclaredPod* pod = nullptr;
  std::string field;
  std::string hostIP;     // host ports
  bool readOnly = false;  // block volumes
};

bool addressesOverlap(const std::string& a, const std::string& b) {
  auto any = [](const std::string& s) { return s.empty() || s == "0.0.0.0" || s == "::"; };
  return any(a) || any(b) || a == b;
}

void hostPortClashes(const std::vector<DeclaredPod>& pods, ValidateReport& report) {
  std::map<std::string, std::vector<Claim>> claims;  // "TCP/8080" -> pods publishing it
  for (const DeclaredPod& p : pods) {
    for (size_t ci = 0; ci < p.spec->containers.size(); ++ci) {
      const auto& ports = p.spec->containers[ci].ports;
      for (size_t pi = 0; pi < ports.size(); ++pi) {
        if (ports[pi].hostPort <= 0) continue;
        std::string field = p.fields + ".containers[" + std::to_string(ci) + "].ports[" +
                            std::to_string(pi) + "].hostPort";
        claims[ports[pi].protocol + "/" + std::to_string(ports[pi].hostPort)].push_back(
            {&p, field, ports[pi].hostIP});
      }
    }
  }
  for (const auto& [key, list] : claims) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = 0; j < list.size(); ++j) {
        const DeclaredPod &a = *list[i].pod, &b = *list[j].pod;
        if (i == j || a.who == b.who) continue;
        if (!addressesOverlap(list[i].hostIP, list[j].hostIP)) continue;
        report.problems.push_back({a.where.file, a.where.line, 0, list[i].field,
                                   a.who + " publishes host port " + key + ", which " + b.who +
                                       " (" + b.where.str() + ") publishes too"});
        break;
      }
    }
  }
}

void blockClashes(const std::vector<DeclaredPod>& pods, ValidateReport& report) {
  std::map<std::string, std::vector<Claim>> claims;  // volume identity -> users
  for (const DeclaredPod& p : pods) {
    for (size_t i = 0; i < p.spec->volumes.size(); ++i) {
      const specs::Volume& v = p.spec->volumes[i];
      std::string field = p.fields + ".volumes[" + std::to_string(i) + "]";
      if (v.iscsi) {
        claims["iSCSI " + v.iscsi->iqn + " LUN " + std::to_string(v.iscsi->lun)].push_back(
            {&p, field + ".iscsi", "", v.iscsi->readOnly});
      } else if (v.rbd) {
        claims["RBD image " + v.rbd->pool + "/" + v.rbd->image].push_back(
            {&p, field + ".rbd", "", v.rbd->readOnly});
      }
    }
  }
  auto how = [](bool readOnly) { return readOnly ? "read-only" : "read-write"; };
  for (const auto& [key, list] : claims) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = 0; j < list.size(); ++j) {
        const DeclaredPod &a = *list[i].pod, &b = *list[j].pod;
        if (i == j || a.who == b.who) continue;
        if (list[i].readOnly && list[j].readOnly) continue;
        report.problems.push_back({a.where.file, a.where.line, 0, list[i].field,
                                   a.who + " uses " + key + " " + how(list[i].readOnly) + ", and " +
                                       b.who + " (" + b.where.str() + ") uses it " +
                                       how(list[j].readOnly) +
                                       "; a block volume mounted read-write must have one user"});
        break;
      }
    }
  }
}

// Where field ("spec.containers[0].ports[1].hostPort") is in the document of content that starts
// at docLine: its value's line and column, or nullopt. The file parsed before, so loading it
// again is within the parser's limits.
std::optional<std::pair<int, int>> locate(const std::string& content, int docLine,
                                          const std::string& field) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(content);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull() || doc.Mark().line + 1 != docLine) continue;
    YAML::Node cur(doc);
    for (const auto& part : split(field, '.')) {
      std::string key = part.substr(0, part.find('['));
      const YAML::Node& here = cur;
      if (!here.IsMap() || !here[key]) return std::nullopt;
      cur.reset(here[key]);
      for (size_t at = part.find('['); at != std::string::npos; at = part.find('[', at + 1)) {
        size_t index = std::strtoul(part.c_str() + at + 1, nullptr, 10);
        const YAML::Node& list = cur;
        if (!list.IsSequence() || index >= list.size()) return std::nullopt;
        cur.reset(list[index]);
      }
    }
    return std::pair{cur.Mark().line + 1, cur.Mark().column + 1};
  }
  return std::nullopt;
}

// Cross-file problems are first reported at their document's start: point them at the field.
void pointAtFields(const std::vector<FileParse>& files, std::vector<specs::Diagnostic>& problems,
                   size_t from) {
  std::map<std::string, const std::string*> content;
  for (const auto& f : files) content[f.file] = &f.content;
  for (size_t i = from; i < problems.size(); ++i) {
    specs::Diagnostic& d = problems[i];
    auto it = content.find(d.file);
    if (it == content.end() || d.field.empty() || d.line == 0) continue;
    if (auto at = locate(*it->second, d.line, d.field)) std::tie(d.line, d.column) = *at;
  }
}

}  // namespace

bool looksLikeSkippedSpec(const std::string& name) {
  if (name == "." || name == ".." || isSpecFileName(name)) return false;
  for (const char* ext : {".yaml", ".yml", ".json"}) {
    if (name.find(ext) != std::string::npos) return true;
  }
  return false;
}

ValidateReport validatePaths(const std::vector<std::string>& paths) {
  ValidateReport report;
  std::vector<FileParse> files;
  for (const auto& p : paths) readPath(p, report, files);
  for (const auto& f : files) {
    report.pods += static_cast<int>(f.parsed.pods.size());
    report.secrets += static_cast<int>(f.parsed.secrets.size());
  }
  const size_t crossFrom = report.problems.size();
  const std::vector<DeclaredPod> pods = declaredPods(files);
  duplicateNames(files, report);
  missingObjects(files, pods, report);
  hostPortClashes(pods, report);
  blockClashes(pods, report);
  pointAtFields(files, report.problems, crossFrom);
  // The replicas of a workload share its template: a problem of the template is said once.
  std::set<std::tuple<std::string, int, int, std::string, std::string>> seen;
  std::erase_if(report.problems, [&](const specs::Diagnostic& d) {
    return !seen.insert({d.file, d.line, d.column, d.field, d.message}).second;
  });
  std::stable_sort(report.problems.begin(), report.problems.end(),
                   [](const specs::Diagnostic& a, const specs::Diagnostic& b) {
                     return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
                   });
  return report;
}

}  // namespace boxd::agent
