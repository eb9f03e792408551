#include "agent/top_format.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace boxd::agent {

using nlohmann::json;

namespace {

const json* findByName(const json& list, const std::string& name) {
  for (const auto& e : list) {
    if (e.value("name", "") == name) return &e;
  }
  return nullptr;
}

// millicores used between the samples: Δcpu ns / Δwall ns × 1000.
json cpuMilli(const json* before, const json& after, int64_t wallNs) {
  if (before == nullptr || wallNs <= 0 || !after["cpuNs"].is_number() ||
      !(*before)["cpuNs"].is_number())
    return nullptr;
  int64_t used = after["cpuNs"].get<int64_t>() - (*before)["cpuNs"].get<int64_t>();
  if (used < 0) return nullptr;  // a cgroup re-created between the samples
  return static_cast<int64_t>((static_cast<double>(used) / static_cast<double>(wallNs)) * 1000.0 +
                              0.5);
}

json row(const json* before, const json& after, int64_t wallNs) {
  return {{"name", after["name"]},
          {"cpuMilli", cpuMilli(before, after, wallNs)},
          {"memoryBytes", after["memoryBytes"]},
          {"pids", after["pids"]}};
}

std::string cpuText(const json& v) {
  return v.is_number() ? std::to_string(v.get<int64_t>()) + "m" : "-";
}

std::string memText(const json& v) {
  if (!v.is_number()) return "-";
  int64_t b = v.get<int64_t>();
  if (b < (1 << 20)) return std::to_string((b + 1023) / 1024) + "Ki";
  return std::to_string((b + (1 << 19)) >> 20) + "Mi";
}

std::string numText(const json& v) {
  return v.is_number() ? std::to_string(v.get<int64_t>()) : "-";
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

// The list under key, or an empty one (a reference that outlives the call).
const json& listOf(const json& j, const char* key) {
  static const json kEmpty = json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : kEmpty;
}

}  // namespace

json topRows(const json& first, const json& second) {
  int64_t wallNs = second.value("sampledAtNs", int64_t{0}) - first.value("sampledAtNs", int64_t{0});
  json pods = json::array();
  for (const auto& p : listOf(second, "pods")) {
    const json* before = findByName(listOf(first, "pods"), p["name"]);
    json r = row(before, p, wallNs);
    json containers = json::array();
    for (const auto& c : listOf(p, "containers")) {
      const json* cb = before ? findByName(listOf(*before, "containers"), c["name"]) : nullptr;
      containers.push_back(row(cb, c, wallNs));
    }
    r["containers"] = containers;
    pods.push_back(r);
  }
  return {{"pods", pods}};
}

std::string formatTop(const json& rows, bool containers) {
  std::vector<std::vector<std::string>> t;
  if (containers)
    t.push_back({"POD", "NAME", "CPU(cores)", "MEMORY(bytes)", "PIDS"});
  else
    t.push_back({"NAME", "CPU(cores)", "MEMORY(bytes)", "PIDS"});
  for (const auto& p : rows["pods"]) {
    if (!containers) {
      t.push_back(
          {p["name"], cpuText(p["cpuMilli"]), memText(p["memoryBytes"]), numText(p["pids"])});
      continue;
    }
    for (const auto& c : p["containers"]) {
      t.push_back({p["name"], c["name"], cpuText(c["cpuMilli"]), memText(c["memoryBytes"]),
                   numText(c["pids"])});
    }
  }
  if (t.size() == 1) return "No pods running.\n";
  return table(t);
}

}  // namespace boxd::agent
