// boxctl's CronJob output: the CRONJOBS table of `boxctl status` (kubectl get cronjobs' columns)
// and `boxctl describe cronjob/NAME`.
#include <gtest/gtest.h>

#include "agent/boxctl_format.h"

namespace boxd::agent {
namespace {

using json = nlohmann::json;

json view() {
  return {{"name", "tick"},
          {"namespace", "default"},
          {"sourceFile", "tick.yaml"},
          {"schedule", "*/5 * * * *"},
          {"timeZone", ""},
          {"zone", "Local"},
          {"suspend", false},
          {"concurrencyPolicy", "Forbid"},
          {"successfulJobsHistoryLimit", 3},
          {"failedJobsHistoryLimit", 1},
          {"firstSeenMs", 0},
          {"lastScheduleTimeMs", 3540000},
          {"active", {"tick-59"}},
          {"jobs",
           {{{"name", "tick-58"}, {"condition", "Complete"}},
            {{"name", "tick-59"}, {"condition", ""}}}}};
}

TEST(CronJobFormat, StatusTableAsKubectl) {
  json other = view();
  other["name"] = "nightly";
  other["namespace"] = "ops";
  other["schedule"] = "@daily";
  other["timeZone"] = "Europe/Paris";
  other["suspend"] = true;
  other["active"] = json::array();
  other.erase("lastScheduleTimeMs");
  EXPECT_EQ(formatCronJobs(json::array({view(), other}), 3600000),
            "NAME          SCHEDULE      TIMEZONE       SUSPEND   ACTIVE   LAST SCHEDULE   AGE\n"
            "tick          */5 * * * *   <none>         False     1        60s             60m\n"
            "ops/nightly   @daily        Europe/Paris   True      0        <none>          60m\n");
}

TEST(CronJobFormat, Describe) {
  json v = view();
  v["kind"] = "CronJob";
  v["events"] = json::array();
  std::string out = formatDescribe(v);
  EXPECT_NE(out.find("Schedule:                      */5 * * * *\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Time Zone:                     <unset> (host: Local)\n"), std::string::npos);
  EXPECT_NE(out.find("Concurrency Policy:            Forbid\n"), std::string::npos);
  EXPECT_NE(out.find("Active Jobs:                   tick-59\n"), std::string::npos);
  EXPECT_NE(out.find("  tick-58  Complete\n  tick-59  Active\n"), std::string::npos);
  EXPECT_NE(out.find("Next Schedule Time:            <unset>\n"), std::string::npos);
}

}  // namespace
}  // namespace boxd::agent
