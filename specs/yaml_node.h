// The YAML layer under the spec parser: scalar typing (as kubectl reads YAML), mapping entries
// (duplicate keys, merge keys), and the diagnostic sink with its limits. Internal to specs/.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "specs/parse.h"
#include "specs/quote.h"

namespace boxd::specs::detail {

// What a scalar means. Plain scalars are resolved the way kubectl's YAML reader does (YAML 1.1:
// yes/no/on/off are booleans); quoted ones and !!str are strings; other tags are Unsupported.
enum class ScalarKind { Null, Bool, Int, Float, String, Unsupported };
ScalarKind scalarKind(const YAML::Node& n);
// "a string", "a number", "a boolean", "null", "a mapping", "a list", "a value tagged !foo".
std::string describe(const YAML::Node& n);

// Joins a field path: ("spec", "containers") → "spec.containers"; odd keys become ["key"].
std::string fieldPath(const std::string& parent, std::string_view key);
std::string indexPath(const std::string& parent, size_t index);

// 1-based line of a mark (0 when unknown).
int lineOf(const YAML::Mark& m);

// Collects diagnostics for one file, at most kMaxErrors (then one "too many errors" note), and
// counts the work done so a small file with aliases cannot make the parser walk billions of nodes.
class Reporter {
 public:
  static constexpr size_t kMaxErrors = 200;
  static constexpr int64_t kNodeBudget = 1'000'000;
  // Past this a message or field path is cut (every quoted key or value is bounded already).
  static constexpr size_t kMaxMessageBytes = 1024;

  Reporter(std::string_view file, std::vector<Diagnostic>& out)
      : file_(escapeText(file)), out_(out) {}

  void error(const YAML::Mark& at, std::string field, std::string message);
  // Charges one visited node; false (after one diagnostic) once the budget is spent.
  bool spend(const YAML::Mark& at);
  void resetBudget() { budget_ = kNodeBudget; }
  const std::string& file() const { return file_; }  // escaped for display
  // Every error reported so far, including those past the cap.
  size_t count() const { return reported_; }

 private:
  std::string file_;
  std::vector<Diagnostic>& out_;
  size_t dropped_ = 0;
  size_t reported_ = 0;
  int64_t budget_ = kNodeBudget;
};

// Where a value is: its own mark, or `fallback` (its key) when it is null and has none useful.
YAML::Mark markOf(const YAML::Node& n, const YAML::Mark& fallback);

struct Entry {
  std::string key;
  YAML::Mark keyMark;
  YAML::Node value;
  YAML::Mark valueMark() const { return markOf(value, keyMark); }
};

// The entries of a mapping in document order, merge keys ("<<: *base") expanded (explicit keys
// win). Reports non-scalar keys and duplicate keys.
std::vector<Entry> mappingEntries(Reporter& r, const YAML::Node& map, const std::string& path);

}  // namespace boxd::specs::detail
