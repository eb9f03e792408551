// CronJobs in boxctl's human output: the CRONJOBS table of `boxctl status` (kubectl get cronjobs'
// columns) and `boxctl describe cronjob/NAME`. Pure.
#include "agent/boxctl_format.h"

namespace boxd::agent {
namespace {

using json = nlohmann::json;

std::string text(const json& j, const char* key, const std::string& none = "") {
  return j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty()
             ? j[key].get<std::string>()
             : none;
}

std::string qualifiedName(const json& j) {
  std::string ns = j.value("namespace", std::string("default"));
  return ns == "default" ? text(j, "name") : ns + "/" + text(j, "name");
}

std::string ago(const json& j, const char* key, int64_t nowMs) {
  return j.contains(key) ? formatAge(nowMs - j.value(key, int64_t{0})) : "<none>";
}

}  // namespace

std::string formatCronJobs(const json& cronJobs, int64_t nowMs) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"}};
  for (const auto& c : cronJobs) {
    rows.push_back({qualifiedName(c), text(c, "schedule"), text(c, "timeZone", "<none>"),
                    c.value("suspend", false) ? "True" : "False",
                    std::to_string(c.value("active", json::array()).size()),
                    ago(c, "lastScheduleTimeMs", nowMs), ago(c, "firstSeenMs", nowMs)});
  }
  return formatTable(rows);
}

std::string formatCronJobDescribe(const json& c) {
  auto when = [&c](const char* key) {
    return c.contains(key) ? formatClock(c.value(key, int64_t{0})) : "<unset>";
  };
  std::string out;
  out += "Name:                          " + text(c, "name") + "\n";
  out += "Namespace:                     " + c.value("namespace", std::string("default")) + "\n";
  out += "Kind:                          CronJob\n";
  out += "Source:                        " + text(c, "sourceFile") + "\n";
  out += "Schedule:                      " + text(c, "schedule") + "\n";
  out += "Time Zone:                     " +
         text(c, "timeZone", "<unset> (host: " + text(c, "zone", "UTC") + ")") + "\n";
  out += "Concurrency Policy:            " + text(c, "concurrencyPolicy") + "\n";
  out += std::string("Suspend:                       ") +
         (c.value("suspend", false) ? "True" : "False") + "\n";
  out +=
      "Successful Job History Limit:  " + std::to_string(c.value("successfulJobsHistoryLimit", 3)) +
      "\n";
  out += "Failed Job History Limit:      " + std::to_string(c.value("failedJobsHistoryLimit", 1)) +
         "\n";
  out += "Starting Deadline Seconds:     " +
         (c.contains("startingDeadlineSeconds")
              ? std::to_string(c.value("startingDeadlineSeconds", 0)) + "s"
              : std::string("<unset>")) +
         "\n";
  out += "Last Schedule Time:            " + when("lastScheduleTimeMs") + "\n";
  out += "Last Successful Time:          " + when("lastSuccessfulTimeMs") + "\n";
  out += "Next Schedule Time:            " + when("nextScheduleTimeMs") + "\n";
  std::string active;
  for (const auto& a : c.value("active", json::array()))
    active += (active.empty() ? "" : ", ") + a.get<std::string>();
  out += "Active Jobs:                   " + (active.empty() ? "<none>" : active) + "\n";
  out += "Jobs:\n";
  for (const auto& j : c.value("jobs", json::array()))
    out += "  " + text(j, "name") + "  " + text(j, "condition", "Active") + "\n";
  out += "Events:\n";
  out += c.value("events", json::array()).empty() ? "  (none)\n" : formatEvents(c["events"]);
  return out;
}

}  // namespace boxd::agent
