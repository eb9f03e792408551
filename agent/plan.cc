#include "agent/plan.h"

#include <algorithm>
#include <set>

#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out = split(s, '\n');
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

// "/containers/0/image" -> "containers[0].image"
std::string fieldPath(const std::string& pointer) {
  std::string out;
  for (const auto& part : split(pointer, '/')) {
    if (part.empty()) continue;
    bool index = std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    std::string name = part;
    for (auto [from, to] : {std::pair{"~1", "/"}, std::pair{"~0", "~"}}) {
      for (size_t at = name.find(from); at != std::string::npos; at = name.find(from, at + 1))
        name.replace(at, 2, to);
    }
    out += index ? "[" + part + "]" : (out.empty() ? "" : ".") + name;
  }
  return out;
}

std::vector<std::string> changedFields(const json& from, const json& to) {
  std::set<std::string> fields;
  for (const auto& op : json::diff(from, to)) fields.insert(fieldPath(op.value("path", "")));
  return {fields.begin(), fields.end()};
}

struct Edit {
  char op;  // ' ', '-', '+'
  std::string text;
};

// Longest common subsequence, line by line: fine for specs (a few hundred lines).
std::vector<Edit> diffLines(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<uint32_t>> lcs(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  std::vector<Edit> out;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out.push_back({' ', a[i++]});
      j++;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push_back({'-', a[i++]});  // removals first, as diff -u shows them
    } else {
      out.push_back({'+', b[j++]});
    }
  }
  return out;
}

}  // namespace

const char* toString(PodAction a) {
  switch (a) {
    case PodAction::Keep:
      return "unchanged";
    case PodAction::Create:
      return "create";
    case PodAction::Replace:
      return "replace";
    case PodAction::Delete:
      return "delete";
  }
  return "unchanged";
}

PodAction podAction(bool running, bool needsTeardown, const std::string& recordedHash,
                    const DesiredPod* want) {
  if (!running) return want != nullptr ? PodAction::Create : PodAction::Keep;
  if (want == nullptr) return PodAction::Delete;
  if (needsTeardown || recordedHash != want->hash) return PodAction::Replace;
  return PodAction::Keep;
}

bool PlanChanges::changes() const {
  return !secrets.empty() || std::any_of(pods.begin(), pods.end(), [](const PodChange& p) {
    return p.action != PodAction::Keep;
  });
}

PlanChanges planChanges(const std::map<std::string, RunningPod>& running,
                        const std::map<std::string, DesiredSecret>& currentSecrets,
                        const Desired& next) {
  PlanChanges out;
  std::set<std::string> names;
  for (const auto& [n, p] : running) names.insert(n);
  for (const auto& [n, p] : next.pods) names.insert(n);
  for (const auto& name : names) {
    auto r = running.find(name);
    auto w = next.pods.find(name);
    const DesiredPod* want = w != next.pods.end() ? &w->second : nullptr;
    PodChange c;
    c.name = name;
    c.action = podAction(r != running.end(), r != running.end() && r->second.needsTeardown,
                         r != running.end() ? r->second.specHash : "", want);
    c.sourceFile = want ? want->sourceFile : r->second.sourceFile;
    if (c.action == PodAction::Replace) {
      json from = specs::toJson(r->second.spec), to = specs::toJson(want->spec);
      c.fields = changedFields(from, to);
      c.diff = unifiedDiff(from.dump(2) + "\n", to.dump(2) + "\n", "running/" + name,
                           want->sourceFile + "/" + name);
    }
    out.pods.push_back(std::move(c));
  }
  for (const auto& [name, s] : next.secrets) {
    auto cur = currentSecrets.find(name);
    if (cur == currentSecrets.end())
      out.secrets.push_back({name, "added", s.sourceFile});
    else if (!(cur->second.secret == s.secret))
      out.secrets.push_back({name, "changed", s.sourceFile});
  }
  for (const auto& [name, s] : currentSecrets) {
    if (!next.secrets.count(name)) out.secrets.push_back({name, "removed", s.sourceFile});
  }
  return out;
}

std::string unifiedDiff(const std::string& a, const std::string& b, const std::string& aName,
                        const std::string& bName, int context) {
  if (a == b) return "";
  std::vector<Edit> edits = diffLines(lines(a), lines(b));
  std::string out = "--- " + aName + "\n+++ " + bName + "\n";
  const size_t n = edits.size();
  size_t i = 0;
  size_t aLine = 1, bLine = 1;  // line numbers at edits[i]
  while (i < n) {
    // Next change from i.
    size_t first = i;
    while (first < n && edits[first].op == ' ') first++;
    if (first == n) break;
    size_t start = first >= size_t(context) && first - context > i ? first - context : i;
    // Advance line counters over the skipped unchanged lines.
    for (size_t k = i; k < start; ++k) aLine++, bLine++;
    // Extend the hunk while changes are within 2*context of each other.
    size_t end = first, lastChange = first;
    while (end < n) {
      if (edits[end].op != ' ') lastChange = end;
      if (end - lastChange > size_t(2 * context)) break;
      end++;
    }
    end = std::min(n, lastChange + context + 1);
    size_t aCount = 0, bCount = 0;
    std::string body;
    for (size_t k = start; k < end; ++k) {
      if (edits[k].op != '+') aCount++;
      if (edits[k].op != '-') bCount++;
      body += edits[k].op + edits[k].text + "\n";
    }
    out += "@@ -" + std::to_string(aCount ? aLine : aLine - 1) + "," + std::to_string(aCount) +
           " +" + std::to_string(bCount ? bLine : bLine - 1) + "," + std::to_string(bCount) +
           " @@\n" + body;
    aLine += aCount;
    bLine += bCount;
    i = end;
  }
  return out;
}

}  // namespace boxd::agent
