#include "specs/doc_parser.h"

#include <algorithm>
#include <cctype>

#include "specs/validate.h"

namespace boxd::specs::detail {
namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Case-insensitive edit distance counting a swap of neighbours as one edit ("imgae" → "image"),
// for "did you mean" hints on field names.
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string suggestion(std::string_view key, const std::vector<std::string_view>& candidates) {
  if (key.size() > 64) return {};
  std::string_view best;
  size_t bestDistance = 3;
  for (std::string_view c : candidates) {
    size_t d = editDistance(key, c);
    if (d < bestDistance && d < std::max<size_t>(c.size() / 2, 1)) {
      best = c;
      bestDistance = d;
    }
  }
  return best.empty() ? std::string() : "; did you mean \"" + std::string(best) + "\"?";
}

// Values that ask for nothing: what generated manifests carry for fields they do not use
// (kubectl writes `creationTimestamp: null`, `status: {}`, `resources: {}`).
bool asksForNothing(const YAML::Node& v) {
  if (v.IsNull()) return true;
  if (v.IsMap() || v.IsSequence()) return v.size() == 0;
  if (v.IsScalar() && scalarKind(v) == ScalarKind::Bool) {
    const std::string& s = v.Scalar();
    return s == "false" || s == "False" || s == "FALSE" || s == "no" || s == "No" || s == "NO" ||
           s == "off" || s == "Off" || s == "OFF" || s == "n" || s == "N";
  }
  return false;
}

}  // namespace

std::string documentKind(const YAML::Node& root) {
  if (!root.IsMap()) return "";
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == "kind" && it->second.IsScalar() &&
        scalarKind(it->second) == ScalarKind::String) {
      return it->second.Scalar();
    }
  }
  return "";
}

DocParser::Handler DocParser::constant(std::string_view want) {
  return [this, want](const Entry& e, const std::string& path) {
    std::optional<std::string> s = string(e, path);
    if (s && *s != want)
      error(e.valueMark(), path, "must be \"" + std::string(want) + "\", got " + inQuotes(*s));
  };
}

std::vector<DocParser::Field> DocParser::objectFields(std::string_view apiVersion,
                                                      std::string_view kind, std::string& name,
                                                      std::string& namespaceName,
                                                      std::string (*checkName)(std::string_view),
                                                      std::vector<Field> fields) {
  std::vector<Field> out{
      {"apiVersion", true, constant(apiVersion)},
      {"kind", true, constant(kind)},
      {"metadata", true,
       [this, &name, &namespaceName, checkName](const Entry& f, const std::string& p) {
         parseObjectMetadata(f, p, name, namespaceName, checkName);
       }}};
  out.insert(out.end(), std::make_move_iterator(fields.begin()),
             std::make_move_iterator(fields.end()));
  return out;
}

void DocParser::walkObject(const YAML::Node& node, const YAML::Mark& where, const std::string& path,
                           const std::vector<Field>& fields,
                           std::span<const std::string_view> unsupported) {
  std::vector<Entry> entries;
  if (node.IsMap()) {
    entries = mappingEntries(r_, node, path);
  } else if (!node.IsNull()) {
    error(where, path, "must be a mapping, got " + describe(node));
    return;
  }
  std::vector<std::optional<YAML::Mark>> nullAt(fields.size());
  std::vector<bool> seen(fields.size(), false);
  for (const Entry& e : entries) {
    auto it =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == e.key; });
    if (it == fields.end()) {
      reportUnknown(e, path, fields, unsupported);
      continue;
    }
    size_t i = static_cast<size_t>(it - fields.begin());
    if (e.value.IsNull()) {
      nullAt[i] = e.keyMark;
      continue;
    }
    seen[i] = true;
    it->handle(e, fieldPath(path, e.key));
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!fields[i].required || seen[i]) continue;
    error(nullAt[i].value_or(where), fieldPath(path, fields[i].name),
          nullAt[i] ? "required field has no value" : "required field is missing");
  }
}

void DocParser::reportUnknown(const Entry& e, const std::string& path,
                              const std::vector<Field>& fields,
                              std::span<const std::string_view> unsupported) {
  if (std::find(unsupported.begin(), unsupported.end(), e.key) != unsupported.end()) {
    if (!asksForNothing(e.value)) {
      error(e.keyMark, fieldPath(path, e.key), "field is not supported by boxd yet");
    }
    return;
  }
  std::vector<std::string_view> names;
  for (const Field& f : fields) names.push_back(f.name);
  error(e.keyMark, fieldPath(path, e.key), "unknown field" + suggestion(e.key, names));
}

std::optional<std::string> DocParser::string(const YAML::Node& v, const YAML::Mark& at,
                                             const std::string& path) {
  if (!v.IsScalar() && !v.IsNull()) {
    error(at, path, "must be a string, got " + describe(v));
    return std::nullopt;
  }
  switch (scalarKind(v)) {
    case ScalarKind::String:
      break;
    case ScalarKind::Null:
      error(at, path, "must be a string, got null");
      return std::nullopt;
    case ScalarKind::Unsupported:
      error(at, path, "unsupported YAML tag " + shownText(v.Tag()));
      return std::nullopt;
    default:
      // In a Secret the scalar may be (part of) a credential: never repeat it.
      error(at, path,
            "must be a string, got " + describe(v) +
                (isSecret_ ? "; quote it" : "; quote it: " + inQuotes(v.Scalar())));
      return std::nullopt;
  }
  if (std::string why = checkText(v.Scalar()); !why.empty()) {
    error(at, path, why);
    return std::nullopt;
  }
  return v.Scalar();
}

bool DocParser::forEachItem(
    const Entry& e, const std::string& path,
    const std::function<void(const YAML::Node&, const YAML::Mark&, const std::string&)>& fn) {
  if (e.value.IsNull()) return true;
  if (!e.value.IsSequence()) {
    error(e.valueMark(), path, "must be a list, got " + describe(e.value));
    return false;
  }
  size_t i = 0;
  for (const YAML::Node& item : e.value) {
    YAML::Mark at = markOf(item, e.valueMark());
    if (!r_.spend(at)) return false;
    fn(item, at, indexPath(path, i++));
  }
  return true;
}

std::vector<std::string> DocParser::stringList(const Entry& e, const std::string& path) {
  std::vector<std::string> out;
  forEachItem(e, path, [&](const YAML::Node& item, const YAML::Mark& at, const std::string& p) {
    if (auto s = string(item, at, p)) out.push_back(std::move(*s));
  });
  return out;
}

std::map<std::string, std::string> DocParser::stringMap(
    const Entry& e, const std::string& path,
    const std::function<std::string(const std::string& key, const std::string& value)>& check) {
  std::map<std::string, std::string> out;
  if (!e.value.IsMap()) {
    if (!e.value.IsNull())
      error(e.valueMark(), path, "must be a mapping of strings, got " + describe(e.value));
    return out;
  }
  for (const Entry& kv : mappingEntries(r_, e.value, path)) {
    std::string p = fieldPath(path, kv.key);
    if (std::string why = checkText(kv.key); !why.empty()) {
      error(kv.keyMark, p, "key " + why);
      continue;
    }
    // `key:` with no value is the empty string, as kubectl reads it.
    std::optional<std::string> v =
        kv.value.IsNull() ? std::string() : string(kv.value, kv.valueMark(), p);
    if (!v) continue;
    if (std::string why = check(kv.key, *v); !why.empty()) {
      error(kv.keyMark, p, why);
      continue;
    }
    out[kv.key] = std::move(*v);
  }
  return out;
}

std::optional<int64_t> DocParser::integer(const Entry& e, const std::string& path) {
  const YAML::Node& v = e.value;
  if (!v.IsScalar() || scalarKind(v) != ScalarKind::Int) {
    error(e.valueMark(), path, "must be an integer, got " + describe(v));
    return std::nullopt;
  }
  const std::string& s = v.Scalar();
  size_t i = s[0] == '+' || s[0] == '-' ? 1 : 0;
  bool decimal = i < s.size() && s.find_first_not_of("0123456789", i) == std::string::npos;
  if (!decimal) {
    error(e.valueMark(), path, "must be a decimal integer, got " + inQuotes(s));
    return std::nullopt;
  }
  int64_t out = 0;
  for (; i < s.size(); ++i) {
    if (out > (INT64_MAX - 9) / 10) {
      error(e.valueMark(), path, "integer " + shownText(s) + " is out of range");
      return std::nullopt;
    }
    out = out * 10 + (s[i] - '0');
  }
  return s[0] == '-' ? -out : out;
}

std::optional<bool> DocParser::boolean(const Entry& e, const std::string& path) {
  const YAML::Node& v = e.value;
  if (!v.IsScalar() || scalarKind(v) != ScalarKind::Bool) {
    error(e.valueMark(), path, "must be true or false, got " + describe(v));
    return std::nullopt;
  }
  return !asksForNothing(v);
}

}  // namespace boxd::specs::detail
