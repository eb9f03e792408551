#include "agent/boxctl_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
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

std::string clock(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// Exit code, Started and Finished of a container state, as kubectl describe shows them.
std::string containerTimes(const json& c, const std::string& state) {
  std::string out;
  std::string pad = state == "Terminated" && !c.contains("name") ? "      " : "    ";
  if (state == "Terminated")
    out += pad + "Exit code: " + std::to_string(c.value("exitCode", 0)) + "\n";
  int64_t started = c.value("startedAtMs", int64_t{0}),
          finished = c.value("finishedAtMs", int64_t{0});
  if ((state == "Running" || state == "Terminated") && started > 0)
    out += pad + "Started:   " + clock(started) + "\n";
  if (state == "Terminated" && finished > 0) out += pad + "Finished:  " + clock(finished) + "\n";
  return out;
}

}  // namespace

std::string formatAge(int64_t ms) {
  int64_t s = std::max<int64_t>(ms, 0) / 1000;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  if (s < 172800) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string formatBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
  return buf;
}

std::string statusColumn(const json& pod) {
  std::string phase = str(pod, "phase"), reason = str(pod, "reason");
  if (phase == "Running") {
    for (const auto& c : pod["containers"]) {
      if (str(c, "reason") == "CrashLoopBackOff") return "CrashLoopBackOff";
    }
  }
  if (phase == "Pending" && !reason.empty()) return reason;
  if (phase == "Failed" && startsWith(reason, "Init:")) return reason;
  if (phase == "Terminating" && !reason.empty()) return reason;
  return phase.empty() ? "Pending" : phase;
}

std::string formatStatus(const json& s, bool allNamespaces) {
  std::string out = "specs: " + str(s, "specsDir");
  if (!str(s, "revision").empty()) out += " (revision " + str(s, "revision") + ")";
  out += "\n";
  int64_t now = s.value("nowMs", int64_t{0});
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"}};
  bool owners = false;  // an OWNER column once some pod belongs to a workload
  for (const auto& p : s["pods"]) owners = owners || !str(p, "owner").empty();
  if (owners) rows[0].push_back("OWNER");
  if (allNamespaces) rows[0].insert(rows[0].begin(), "NAMESPACE");
  for (const auto& p : s["pods"]) {
    std::string ip = p.value("hostNetwork", false) ? "host" : str(p, "podIP");
    rows.push_back({str(p, "name"), str(p, "ready"), statusColumn(p),
                    std::to_string(p.value("restarts", 0)),
                    formatAge(now - p.value("createdAtMs", now)), ip.empty() ? "-" : ip});
    if (owners) rows.back().push_back(str(p, "owner").empty() ? "-" : str(p, "owner"));
    if (allNamespaces) rows.back().insert(rows.back().begin(), p.value("namespace", "default"));
  }
  if (rows.size() == 1)
    out += "No pods.\n";
  else
    out += table(rows);
  if (!s["specErrors"].empty()) {
    out += "\nSPEC ERRORS\n";
    for (const auto& e : s["specErrors"]) {
      if (e["errors"].empty()) out += "  " + str(e, "file") + ": " + str(e, "error") + "\n";
      for (const auto& d : e["errors"]) out += "  " + str(d, "text") + "\n";
    }
  }
  if (s.contains("jobs") && !s["jobs"].empty()) out += "\nJOBS\n" + formatJobs(s["jobs"], now);
  if (s.contains("cronJobs") && !s["cronJobs"].empty())
    out += "\nCRONJOBS\n" + formatCronJobs(s["cronJobs"], now);
  if (s.contains("skipped") && !s["skipped"].empty()) {
    out += "\nSKIPPED (kinds boxd does not run)\n";
    for (const auto& d : s["skipped"]) out += "  " + str(d, "text") + "\n";
  }
  return out;
}

std::string formatTable(const std::vector<std::vector<std::string>>& rows) { return table(rows); }

std::string formatClock(int64_t ms) { return clock(ms); }

std::string formatDescribe(const json& p) {
  if (str(p, "kind") == "Job") return formatJobDescribe(p);
  if (str(p, "kind") == "CronJob") return formatCronJobDescribe(p);
  std::string out;
  out += "Name:         " + str(p, "name") + "\n";
  out += "Namespace:    " + p.value("namespace", std::string("default")) + "\n";
  out += "UID:          " + str(p, "uid") + "\n";
  out += "Source:       " + str(p, "sourceFile") + "\n";
  if (!str(p, "owner").empty()) out += "Controlled By: " + str(p, "owner") + "\n";
  out += "Status:       " + statusColumn(p) + "\n";
  if (p.value("hostNetwork", false))
    out += "IP:           host network\n";
  else if (!str(p, "podIP").empty())
    out += "IP:           " + str(p, "podIP") + "\n";
  if (!str(p, "message").empty()) out += "Message:      " + str(p, "message") + "\n";
  out += "Created:      " + clock(p.value("createdAtMs", int64_t{0})) + "\n";
  out += "Spec hash:    " + str(p, "specHash").substr(0, 16) + "\n";
  auto containers = [&out](const char* title, const json& list) {
    out += title;
    for (const auto& c : list) {
      out += "  " + str(c, "name") + ":\n";
      out += "    Image:     " + str(c, "image") + "\n";
      if (!str(c, "imageID").empty()) out += "    Image ID:  " + str(c, "imageID") + "\n";
      if (!str(c, "imageDigest").empty()) out += "    Digest:    " + str(c, "imageDigest") + "\n";
      if (c.contains("command") && c["command"].is_array()) {
        std::string cmd;
        for (const auto& a : c["command"]) cmd += (cmd.empty() ? "" : " ") + a.get<std::string>();
        out += "    Command:   " + cmd + "\n";
      }
      if (!str(c, "user").empty()) out += "    User:      " + str(c, "user") + "\n";
      out += "    State:     " + str(c, "state");
      if (!str(c, "reason").empty()) out += " (" + str(c, "reason") + ")";
      out += "\n";
      if (c.value("pid", 0) != 0)
        out += "    PID:       " + std::to_string(c.value("pid", 0)) + "\n";
      out += containerTimes(c, str(c, "state"));
      if (!str(c, "message").empty()) out += "    Message:   " + str(c, "message") + "\n";
      if (c.contains("lastState")) {
        const json& l = c["lastState"];
        out += "    Last State: Terminated";
        if (!str(l, "reason").empty()) out += " (" + str(l, "reason") + ")";
        out += "\n" + containerTimes(l, "Terminated");
        if (!str(l, "message").empty()) out += "      Message:   " + str(l, "message") + "\n";
      }
      if (c.contains("ready"))
        out += std::string("    Ready:     ") + (c.value("ready", false) ? "True" : "False") + "\n";
      out += "    Restarts:  " + std::to_string(c.value("restarts", 0)) + "\n";
      if (!str(c, "log").empty()) out += "    Log:       " + str(c, "log") + "\n";
      const char* label = "    Mounts:    ";
      for (const auto& m : c.value("mounts", json::array())) {
        std::string src = str(m, "source");
        if (!str(m, "subPath").empty()) src += "/" + str(m, "subPath");
        out += label + src + " -> " + str(m, "mountPath") +
               (m.value("readOnly", false) ? " (ro)" : "") + "\n";
        label = "               ";
      }
    }
  };
  if (p.contains("initContainers")) containers("Init Containers:\n", p["initContainers"]);
  containers("Containers:\n", p["containers"]);
  if (!str(p, "ephemeralStorage").empty())
    out += "Ephemeral storage: " + str(p, "ephemeralStorage") + "\n";
  out += "Host resources (cgroup " + str(p, "cgroupVersion") + "):\n";
  std::vector<std::vector<std::string>> rows = {{"  STEP", "KIND", "STATE", "RESOURCE"}};
  for (const auto& r : p["resources"]) {
    std::string res = str(r, "resource");
    if (!str(r, "detail").empty()) res += ": " + str(r, "detail");
    rows.push_back(
        {"  " + std::to_string(r.value("step", 0)), str(r, "kind"), str(r, "state"), res});
  }
  out += rows.size() > 1 ? table(rows) : "  (none)\n";
  out += "Events:\n";
  out += p["events"].empty() ? "  (none)\n" : formatEvents(p["events"]);
  return out;
}

std::string formatEvents(const json& events) {
  std::vector<std::vector<std::string>> rows = {{"TIME", "POD", "TYPE", "REASON", "MESSAGE"}};
  for (const auto& e : events) {
    rows.push_back({clock(e.value("timeMs", int64_t{0})),
                    str(e, "pod").empty() ? "-" : str(e, "pod"), str(e, "type"), str(e, "reason"),
                    str(e, "message")});
  }
  return table(rows);
}

namespace {
// A Job's STATUS: its condition, or Running while it has not finished.
std::string jobStatus(const json& j) {
  return j.contains("condition") ? str(j["condition"], "type") : "Running";
}
}  // namespace

std::string formatJobs(const json& jobs, int64_t nowMs) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "ACTIVE", "FAILED"}};
  for (const auto& j : jobs) {
    int64_t start = j.value("startTimeMs", nowMs);
    int64_t end = j.value("completionTimeMs", nowMs);
    std::string name = str(j, "name");
    if (j.value("namespace", std::string("default")) != "default")
      name = str(j, "namespace") + "/" + name;
    rows.push_back(
        {name, jobStatus(j),
         std::to_string(j.value("succeeded", 0)) + "/" + std::to_string(j.value("completions", 1)),
         formatAge(end - start), formatAge(nowMs - start), std::to_string(j.value("active", 0)),
         std::to_string(j.value("failed", 0))});
  }
  return table(rows);
}

std::string formatJobDescribe(const json& j) {
  std::string out;
  out += "Name:            " + str(j, "name") + "\n";
  out += "Namespace:       " + j.value("namespace", std::string("default")) + "\n";
  out += "Kind:            Job\n";
  for (const char* what : {"labels", "annotations"}) {
    if (!j.contains(what) || !j[what].is_object()) continue;
    out += std::string(what) == "labels" ? "Labels:\n" : "Annotations:\n";
    for (const auto& [k, v] : j[what].items())
      out += "  " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump()) + "\n";
  }
  out += "Source:          " + str(j, "sourceFile") + "\n";
  out += "Run UID:         " + str(j, "uid") + "\n";
  out += "Completions:     " + std::to_string(j.value("completions", 1)) + "\n";
  out += "Parallelism:     " + std::to_string(j.value("parallelism", 1)) + "\n";
  out += "Completion Mode: " + str(j, "completionMode") + "\n";
  out += "Backoff Limit:   " + std::to_string(j.value("backoffLimit", 6)) + "\n";
  if (j.contains("activeDeadlineSeconds"))
    out +=
        "Active Deadline Seconds: " + std::to_string(j.value("activeDeadlineSeconds", 0)) + "s\n";
  out += "Restart Policy:  " + str(j, "restartPolicy") + "\n";
  out += "Start Time:      " + clock(j.value("startTimeMs", int64_t{0})) + "\n";
  if (j.contains("completionTimeMs"))
    out += "Finished:        " + clock(j.value("completionTimeMs", int64_t{0})) + "\n";
  out += "Pods Statuses:   " + std::to_string(j.value("active", 0)) + " Active / " +
         std::to_string(j.value("succeeded", 0)) + " Succeeded / " +
         std::to_string(j.value("failed", 0)) + " Failed\n";
  out += "Status:          " + jobStatus(j) + "\n";
  if (j.contains("condition")) {
    const json& c = j["condition"];
    out += "Condition:       " + str(c, "type") + " (" + str(c, "reason") +
           "): " + str(c, "message") + "\n";
  }
  out += "Pods:\n";
  for (const auto& p : j.value("pods", json::array())) out += "  " + p.get<std::string>() + "\n";
  out += "Events:\n";
  out += j.value("events", json::array()).empty() ? "  (none)\n" : formatEvents(j["events"]);
  return out;
}

std::string shortImageId(const json& id) {
  std::string s = id.is_string() ? id.get<std::string>() : "";
  if (s.rfind("sha256:", 0) == 0) s = s.substr(7);
  return s.substr(0, 12);
}

std::string formatImages(const json& images) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "TAG", "ID", "DIGEST", "LAYERS", "SIZE", "SHARED", "UNIQUE", "PODS", "CREATED"}};
  for (const auto& i : images) {
    const std::string digest = str(i, "digest");
    rows.push_back({str(i, "name"), str(i, "tag"), shortImageId(i["id"]),
                    digest.empty() ? "-" : "sha256:" + shortImageId(i["digest"]),
                    std::to_string(i.value("layers", 1)),
                    formatBytes(i.value("sizeBytes", int64_t{0})),
                    formatBytes(i.value("sharedBytes", int64_t{0})),
                    formatBytes(i.value("uniqueBytes", int64_t{0})),
                    std::to_string(i.value("pods", 0)), clock(i.value("createdAtMs", int64_t{0}))});
  }
  return table(rows);
}

std::string formatVolumes(const json& volumes) {
  if (volumes.empty()) return "no block volumes attached\n";
  std::vector<std::vector<std::string>> rows = {
      {"VOLUME", "BACKEND", "DEVICE", "FS", "MOUNT", "USERS"}};
  for (const auto& v : volumes) {
    std::string users;
    for (const auto& u : v.value("users", json::array())) {
      users += (users.empty() ? "" : ",") + str(u, "pod") + "/" + str(u, "volume") +
               (u.value("readOnly", false) ? "(ro)" : "(rw)");
    }
    rows.push_back({str(v, "volume"), str(v, "backend"), str(v, "device"), str(v, "fsType"),
                    str(v, "mountPath"), users.empty() ? "-" : users});
  }
  return table(rows);
}

}  // namespace boxd::agent
