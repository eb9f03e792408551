#include "specs/parse.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <climits>
#include <map>
#include <sstream>

#include "specs/doc_parser.h"
#include "specs/nesting.h"
#include "specs/quote.h"
#include "specs/validate.h"
#include "specs/workload.h"

namespace boxd::specs {

using detail::DocParser;
using detail::Reporter;

std::string Diagnostic::str() const {
  std::string out = file;
  if (line > 0) {
    if (!out.empty()) out += ':';
    out += std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  if (!out.empty()) out += ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

namespace {

// Spec files are small; this bounds what a stray file in the specs directory can cost.
constexpr size_t kMaxFileBytes = 8 * 1024 * 1024;

YAML::Mark markAtOffset(std::string_view content, size_t offset) {
  YAML::Mark m;
  m.pos = static_cast<int>(offset);
  for (size_t i = 0; i < offset; ++i) {
    if (content[i] == '\n') {
      ++m.line;
      m.column = 0;
    } else {
      ++m.column;
    }
  }
  return m;
}

// yaml-cpp would read NUL as the end of input and pass invalid UTF-8 through; refuse both up
// front, pointing at the first bad byte.
bool checkEncoding(Reporter& r, std::string_view content) {
  size_t bad = badTextOffset(content);
  if (bad == std::string_view::npos) return true;
  r.error(markAtOffset(content, bad), "",
          content[bad] == '\0' ? "file contains a NUL byte" : "file is not valid UTF-8");
  return false;
}

// yaml-cpp 0.7 can get stuck on some malformed input (a stray '}' at the top level): it emits
// empty documents at the same position forever, and LoadAll never returns. A first, cheap pass
// over the parser's events stops that, and bounds the events and the nesting (block collections
// too) any input can produce before a single node is built.
class EventGuard : public YAML::EventHandler {
 public:
  enum class Why { Stuck, TooMany, TooDeep };
  struct Stuck {
    YAML::Mark mark;
    Why why;
  };
  static constexpr int64_t kMaxEvents = 20'000'000;

  void OnDocumentStart(const YAML::Mark& m) override {
    if (m.pos == lastDocumentStart_) throw Stuck{m, Why::Stuck};
    lastDocumentStart_ = m.pos;
    tick(m);
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { tick(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { tick(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    tick(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    open(m);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    open(m);
  }
  void OnMapEnd() override { --depth_; }

 private:
  void tick(const YAML::Mark& m) {
    if (++events_ > kMaxEvents) throw Stuck{m, Why::TooMany};
  }
  void open(const YAML::Mark& m) {
    tick(m);
    if (++depth_ > detail::kMaxNestingDepth) throw Stuck{m, Why::TooDeep};
  }
  int lastDocumentStart_ = -1;
  int64_t events_ = 0;
  int depth_ = 0;
};

constexpr size_t npos = std::string_view::npos;

// yaml-cpp quotes the offending text in a few messages ("unknown escape character: q"). The
// text could be part of a Secret's value, and the position says where it is: keep the words.
std::string withoutQuotedText(const std::string& msg) {
  for (std::string_view prefix : {YAML::ErrorMsg::INVALID_ESCAPE, YAML::ErrorMsg::INVALID_UNICODE,
                                  YAML::ErrorMsg::YAML_VERSION}) {
    if (msg.rfind(prefix, 0) == 0) {
      std::string_view words = prefix.substr(0, prefix.find_last_not_of(": ") + 1);
      return std::string(words);
    }
  }
  return msg;
}

std::string tooDeep() {
  return "YAML is nested too deeply (more than " + std::to_string(detail::kMaxNestingDepth) +
         " levels)";
}

// False (after one diagnostic) if yaml-cpp would not terminate on this input, or would spend
// far more than the file's size on it.
bool preflight(Reporter& r, const std::string& text) {
  if (size_t at = detail::excessiveFlowNesting(text); at != npos) {
    r.error(markAtOffset(text, at), "", tooDeep());
    return false;
  }
  std::istringstream in(text);
  YAML::Parser parser(in);
  EventGuard guard;
  try {
    while (parser.HandleNextDocument(guard)) {
    }
  } catch (const EventGuard::Stuck& s) {
    if (s.why == EventGuard::Why::TooDeep) {
      r.error(s.mark, "", tooDeep());
      return false;
    }
    bool stuck = s.why == EventGuard::Why::Stuck;
    std::string what = stuck ? "unexpected content" : "too many YAML nodes";
    size_t pos = static_cast<size_t>(s.mark.pos);
    // Quote only punctuation: the text could be part of a Secret's value.
    if (stuck && pos < text.size() && std::string_view(",[]{}:").find(text[pos]) != npos)
      what = "unexpected \"" + text.substr(pos, 1) + "\"";
    r.error(s.mark, "", "YAML syntax error: " + what);
    return false;
  } catch (const std::exception&) {
    // Ordinary syntax errors: LoadAll reports them the same way, with its message.
  }
  return true;
}

std::vector<YAML::Node> loadDocuments(Reporter& r, std::string_view content) {
  try {
    std::string text(content);
    if (!preflight(r, text)) return {};
    return YAML::LoadAll(text);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's message for this is just "bad file"
    r.error(e.mark, "", "YAML is nested too deeply (" + std::to_string(e.depth()) + " levels)");
  } catch (const YAML::ParserException& e) {
    r.error(e.mark, "", "YAML syntax error: " + withoutQuotedText(e.msg));
  } catch (const YAML::Exception& e) {
    r.error(e.mark, "", "YAML error: " + withoutQuotedText(e.msg));
  } catch (const std::exception& e) {
    r.error(YAML::Mark::null_mark(), "", std::string("cannot read YAML: ") + e.what());
  }
  return {};
}

// False (after reporting it) when the name was defined before in the file.
bool firstDefinition(Reporter& r, const DocParser& p, std::string_view kind,
                     std::map<std::string, int>& nameLine) {
  auto [it, inserted] = nameLine.emplace(p.key(), detail::lineOf(p.nameMark()));
  if (inserted) return true;
  r.error(p.nameMark(), "metadata.name",
          "duplicate " + std::string(kind) + " name " + inQuotes(p.key()) +
              " (first defined at line " + std::to_string(it->second) + ")");
  return false;
}

// kind written in another case or plural ("pod", "Secrets"): a slip, not another kind.
bool misspeltKind(const std::string& kind) {
  std::string k;
  for (char c : kind) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!k.empty() && k.back() == 's') k.pop_back();
  return k == "pod" || k == "secret" || k == "configmap";
}

// A document of a kind boxd does not run: noted at its line, and the rest of the file applies.
bool skipOtherKind(Reporter& r, const YAML::Node& doc, ParseResult& res) {
  std::string kind = detail::documentKind(doc);
  // Only what looks like a Kubernetes object (metadata is a mapping) is skipped; anything else
  // is reported by the Pod parser, as a document that is not a Pod.
  if (kind.empty() || kind == "Pod" || kind == "Secret" || kind == "ConfigMap" || kind == "Job" ||
      kind == "CronJob" || workloadKind(kind) || misspeltKind(kind) || !doc["metadata"] ||
      !doc["metadata"].IsMap())
    return false;
  std::string version;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == "apiVersion" && it->second.IsScalar())
      version = it->second.Scalar();
  }
  std::string name;
  if (doc["metadata"] && doc["metadata"].IsMap() && doc["metadata"]["name"] &&
      doc["metadata"]["name"].IsScalar())
    name = " " + inQuotes(doc["metadata"]["name"].Scalar());
  YAML::Mark at = doc.Mark();
  std::string what = "kind " + shownText(kind);
  if (!version.empty()) what += " (" + shownText(version) + ")";
  res.skipped.push_back({r.file(), detail::lineOf(at), at.column < 0 ? 0 : at.column + 1, "",
                         what + name + " is not run by boxd; skipped"});
  return true;
}

// The pods of a workload join the file's pods; a name a Pod document (or another workload) of the
// file already has is reported at the workload's name.
void addWorkloadPods(Reporter& r, const DocParser& p, const Workload& w, int line,
                     std::map<std::string, int>& podLine, ParseResult& res) {
  std::vector<PodSpec> pods = expandWorkload(w);
  for (const PodSpec& pod : pods) {
    auto it = podLine.find(pod.name);
    if (it == podLine.end()) continue;
    r.error(p.nameMark(), "metadata.name",
            "pod " + inQuotes(pod.name) + " of this " + std::string(toString(w.kind)) +
                " is also declared at line " + std::to_string(it->second));
    return;
  }
  for (PodSpec& pod : pods) {
    podLine.emplace(pod.name, detail::lineOf(p.nameMark()));
    res.pods.push_back(ParsedPod{std::move(pod), line});
  }
}

void parseDocuments(Reporter& r, const std::vector<YAML::Node>& docs, ParseResult& res) {
  std::map<std::string, int> podLine;     // pod name → line of its first definition
  std::map<std::string, int> secretLine;  // the same for Secrets (a Pod and a Secret may share)
  std::map<std::string, int> configMapLine;
  std::map<std::string, int> workloadLine;  // workload names, one namespace for every kind
  std::map<std::string, int> jobLine;
  std::map<std::string, int> cronJobLine;
  for (const YAML::Node& doc : docs) {
    if (!doc.IsDefined() || doc.IsNull()) continue;  // `---` alone, or only comments
    r.resetBudget();
    DocParser p(r);
    int line = detail::lineOf(doc.Mark());
    if (skipOtherKind(r, doc, res)) continue;
    if (detail::documentKind(doc) == "ConfigMap") {
      std::optional<ConfigMap> cm = p.parseConfigMap(doc);
      if (p.name().empty() || !firstDefinition(r, p, "configmap", configMapLine)) continue;
      if (cm) res.configMaps.push_back(ParsedConfigMap{std::move(*cm), line});
      continue;
    }
    if (detail::documentKind(doc) == "Job") {
      std::optional<Job> job = p.parseJob(doc);
      if (p.name().empty() || !firstDefinition(r, p, "job", jobLine)) continue;
      if (job) res.jobs.push_back(ParsedJob{std::move(*job), line});
      continue;
    }
    if (detail::documentKind(doc) == "CronJob") {
      std::optional<CronJob> cj = p.parseCronJob(doc);
      if (p.name().empty() || !firstDefinition(r, p, "cronjob", cronJobLine)) continue;
      if (cj) res.cronJobs.push_back(ParsedCronJob{std::move(*cj), line});
      continue;
    }
    if (auto kind = workloadKind(detail::documentKind(doc))) {
      std::optional<Workload> w = p.parseWorkload(doc, *kind);
      if (p.name().empty() || !firstDefinition(r, p, "workload", workloadLine)) continue;
      if (w) addWorkloadPods(r, p, *w, line, podLine, res);
      continue;
    }
    if (detail::documentKind(doc) == "Secret") {
      res.holdsSecret = true;
      std::optional<Secret> secret = p.parseSecret(doc);
      if (p.name().empty() || !firstDefinition(r, p, "secret", secretLine)) continue;
      if (secret) res.secrets.push_back(ParsedSecret{std::move(*secret), line});
      continue;
    }
    std::optional<PodSpec> pod = p.parse(doc);
    if (p.name().empty() || !firstDefinition(r, p, "pod", podLine)) continue;
    if (pod) res.pods.push_back(ParsedPod{std::move(*pod), line});
  }
}

}  // namespace

ParseResult parseSpecFile(std::string_view file, std::string_view content) {
  ParseResult res;
  Reporter r(file, res.errors);
  if (content.size() > kMaxFileBytes) {
    r.error(YAML::Mark::null_mark(), "",
            "file is larger than " + std::to_string(kMaxFileBytes) + " bytes");
    return res;
  }
  if (!checkEncoding(r, content)) return res;
  try {
    parseDocuments(r, loadDocuments(r, content), res);
  } catch (const std::exception& e) {  // yaml-cpp node access; should not happen, but never escape
    r.error(YAML::Mark::null_mark(), "",
            std::string("internal error while reading the spec: ") + e.what());
  }
  std::stable_sort(res.errors.begin(), res.errors.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     // File-level notes without a line ("too many errors") go last.
                     int la = a.line > 0 ? a.line : INT_MAX;
                     int lb = b.line > 0 ? b.line : INT_MAX;
                     return la != lb ? la < lb : a.column < b.column;
                   });
  return res;
}

}  // namespace boxd::specs
