#include "specs/yaml_node.h"

#include <map>
#include <set>

#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool allOf(std::string_view s, std::string_view chars) {
  return !s.empty() && s.find_first_not_of(chars) == std::string_view::npos;
}

bool isYaml11Bool(std::string_view s) {
  static const std::set<std::string_view> kBools = {
      "y",    "Y",    "yes", "Yes", "YES", "n",     "N",     "no",    "No",  "NO",  "true",
      "True", "TRUE", "on",  "On",  "ON",  "false", "False", "FALSE", "off", "Off", "OFF"};
  return kBools.count(s) != 0;
}

bool isYamlInt(std::string_view s) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    return allOf(s.substr(2), "0123456789abcdefABCDEF_");
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) return allOf(s.substr(2), "01_");
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
    return allOf(s.substr(2), "01234567_");
  return !s.empty() && isDigit(s[0]) && allOf(s, "0123456789_");
}

bool isYamlFloat(std::string_view s) {
  static const std::set<std::string_view> kSpecial = {".inf", ".Inf", ".INF",
                                                      ".nan", ".NaN", ".NAN"};
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (kSpecial.count(s) != 0) return true;
  size_t i = 0;
  size_t digits = 0;
  while (i < s.size() && (isDigit(s[i]) || s[i] == '_')) digits += isDigit(s[i++]) ? 1 : 0;
  bool dot = i < s.size() && s[i] == '.';
  if (dot) {
    for (++i; i < s.size() && (isDigit(s[i]) || s[i] == '_');) digits += isDigit(s[i++]) ? 1 : 0;
  }
  if (digits == 0) return false;
  bool exp = i < s.size() && (s[i] == 'e' || s[i] == 'E');
  if (exp) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i == s.size()) return false;
    while (i < s.size() && isDigit(s[i])) ++i;
  }
  return i == s.size() && (dot || exp);
}

ScalarKind resolvePlain(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return ScalarKind::Null;
  if (isYaml11Bool(s)) return ScalarKind::Bool;
  if (isYamlInt(s)) return ScalarKind::Int;
  if (isYamlFloat(s)) return ScalarKind::Float;
  return ScalarKind::String;
}

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

}  // namespace

ScalarKind scalarKind(const YAML::Node& n) {
  if (n.IsNull()) return ScalarKind::Null;
  const std::string& tag = n.Tag();
  if (tag == "!") return ScalarKind::String;
  if (tag == "?" || tag.empty()) return resolvePlain(n.Scalar());
  if (tag.compare(0, kCoreTag.size(), kCoreTag) != 0) return ScalarKind::Unsupported;
  std::string_view t = std::string_view(tag).substr(kCoreTag.size());
  if (t == "str") return ScalarKind::String;
  if (t == "int") return ScalarKind::Int;
  if (t == "float") return ScalarKind::Float;
  if (t == "bool") return ScalarKind::Bool;
  if (t == "null") return ScalarKind::Null;
  return ScalarKind::Unsupported;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Scalar:
      break;
  }
  switch (scalarKind(n)) {
    case ScalarKind::Null:
      return "null";
    case ScalarKind::Bool:
      return "a boolean";
    case ScalarKind::Int:
    case ScalarKind::Float:
      return "a number";
    case ScalarKind::String:
      return "a string";
    case ScalarKind::Unsupported:
      break;
  }
  return "a value tagged " + shownText(n.Tag());
}

// A key is shown whole only when it is a short identifier or a label/annotation key
// ("kubectl.kubernetes.io/last-applied-configuration"); any other is quoted, bounded and escaped:
// the lines of a stray file become keys, and must not be echoed into status and logs.
std::string fieldPath(const std::string& parent, std::string_view key) {
  // Up to 63 characters: Kubernetes' longest field names
  // (requiredDuringSchedulingIgnoredDuringExecution) stay plain.
  bool simple = !key.empty() && key.size() <= 63;
  for (char c : key) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c);
    simple = simple && (alnum || c == '_' || c == '-');
  }
  if (simple) return parent.empty() ? std::string(key) : parent + "." + std::string(key);
  if (checkQualifiedName(key).empty()) return parent + "[\"" + std::string(key) + "\"]";
  return parent + "[" + inQuotes(key) + "]";
}

std::string indexPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

int lineOf(const YAML::Mark& m) { return m.line < 0 ? 0 : m.line + 1; }

namespace {

std::string boundedText(std::string_view s) {
  std::string out = escapeText(s.substr(0, Reporter::kMaxMessageBytes));
  if (s.size() > Reporter::kMaxMessageBytes) out += "...";
  return out;
}

}  // namespace

void Reporter::error(const YAML::Mark& at, std::string field, std::string message) {
  ++reported_;
  if (out_.size() >= kMaxErrors) {
    if (dropped_++ == 0) {
      out_.push_back(
          Diagnostic{file_, 0, 0, "",
                     "too many errors; stopped reporting after " + std::to_string(kMaxErrors)});
    }
    return;
  }
  Diagnostic d;
  d.file = file_;
  d.line = lineOf(at);
  d.column = at.column < 0 || at.line < 0 ? 0 : at.column + 1;
  // Quoted text is bounded where it is quoted; this is the backstop for anything that was not
  // (a library's message): no control character, and a bounded length.
  d.field = boundedText(field);
  d.message = boundedText(message);
  out_.push_back(std::move(d));
}

bool Reporter::spend(const YAML::Mark& at) {
  if (budget_ < 0) return false;
  if (--budget_ >= 0) return true;
  error(at, "",
        "document is too large once its aliases are expanded (more than " +
            std::to_string(kNodeBudget) + " nodes)");
  return false;
}

YAML::Mark markOf(const YAML::Node& n, const YAML::Mark& fallback) {
  if (!n.IsDefined() || n.IsNull()) return fallback;
  YAML::Mark m = n.Mark();
  return m.line < 0 ? fallback : m;
}

namespace {

constexpr int kMaxMergeDepth = 16;

struct Collector {
  Reporter& r;
  std::string path;
  std::vector<Entry> out;
  std::set<std::string> seen;

  void add(const YAML::Node& key, const YAML::Node& value, bool merged,
           std::map<std::string, YAML::Mark>& local) {
    if (!key.IsScalar()) {
      r.error(markOf(key, markOf(value, YAML::Mark::null_mark())), path,
              "mapping keys must be strings, got " + describe(key));
      return;
    }
    const std::string& k = key.Scalar();
    if (!merged) {
      auto [it, inserted] = local.emplace(k, key.Mark());
      if (!inserted) {
        r.error(key.Mark(), fieldPath(path, k),
                "duplicate key (first at line " + std::to_string(lineOf(it->second)) + ")");
        return;
      }
    }
    if (seen.insert(k).second) out.push_back(Entry{k, key.Mark(), value});
  }

  bool isMergeKey(const YAML::Node& key) const {
    return key.IsScalar() && key.Scalar() == "<<" &&
           (key.Tag() == "?" || key.Tag() == "tag:yaml.org,2002:merge");
  }

  void collect(const YAML::Node& map, int depth, bool merged) {
    std::map<std::string, YAML::Mark> local;
    std::vector<std::pair<YAML::Node, YAML::Mark>> sources;
    for (auto it = map.begin(); it != map.end(); ++it) {
      if (!r.spend(it->first.Mark())) return;
      if (isMergeKey(it->first)) {
        sources.emplace_back(it->second, it->first.Mark());
      } else {
        add(it->first, it->second, merged, local);
      }
    }
    for (const auto& [src, at] : sources) mergeFrom(src, at, depth);
  }

  void mergeFrom(const YAML::Node& src, const YAML::Mark& at, int depth) {
    if (depth >= kMaxMergeDepth) {
      r.error(at, fieldPath(path, "<<"), "merge keys nested too deeply (a cycle?)");
      return;
    }
    if (src.IsMap()) return collect(src, depth + 1, true);
    if (src.IsSequence()) {
      bool allMaps = true;
      for (const YAML::Node& s : src) allMaps = allMaps && s.IsMap();
      if (allMaps) {
        for (const YAML::Node& s : src) collect(s, depth + 1, true);
        return;
      }
    }
    r.error(at, fieldPath(path, "<<"),
            "a merge key needs a mapping or a list of mappings, got " + describe(src));
  }
};

}  // namespace

std::vector<Entry> mappingEntries(Reporter& r, const YAML::Node& map, const std::string& path) {
  Collector c{r, path, {}, {}};
  c.collect(map, 0, false);
  return std::move(c.out);
}

}  // namespace boxd::specs::detail
