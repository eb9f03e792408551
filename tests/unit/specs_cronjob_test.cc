// batch/v1 CronJob documents: defaults, the checks the API server makes (schedule, timeZone,
// the policies and limits, the Job template through the Job schema), and the Jobs a CronJob
// makes (names, annotations, labels).
#include <gtest/gtest.h>

#include "specs/cronjob.h"
#include "specs/parse.h"
#include "specs/workload.h"
#include "tests/unit/cron_test_util.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

std::string cronJob(std::string_view spec, std::string_view name = "hello") {
  return "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: " + std::string(name) +
         "}\nspec:\n" + std::string(spec) +
         "  jobTemplate:\n"
         "    metadata: {labels: {team: a}, annotations: {note: x}}\n"
         "    spec:\n"
         "      backoffLimit: 2\n"
         "      template:\n"
         "        spec:\n"
         "          restartPolicy: OnFailure\n"
         "          containers: [{name: c, image: busybox, command: [\"true\"]}]\n";
}

TEST(SpecsCronJob, DefaultsAsKubernetes) {
  ParseResult r = parseSpecFile("f.yaml", cronJob("  schedule: '*/5 * * * *'\n"));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_TRUE(r.jobs.empty());
  ASSERT_EQ(r.cronJobs.size(), 1u);
  const CronJob& c = r.cronJobs[0].cronJob;
  EXPECT_EQ(c.name, "hello");
  EXPECT_EQ(c.schedule, "*/5 * * * *");
  EXPECT_FALSE(c.timeZone);
  EXPECT_FALSE(c.startingDeadlineSeconds);
  EXPECT_EQ(c.concurrencyPolicy, ConcurrencyPolicy::Allow);
  EXPECT_FALSE(c.suspend);
  EXPECT_EQ(c.successfulJobsHistoryLimit, 3);
  EXPECT_EQ(c.failedJobsHistoryLimit, 1);
  EXPECT_EQ(c.jobTemplate.backoffLimit, 2);
  EXPECT_EQ(c.jobTemplate.podTemplate.restartPolicy, RestartPolicy::OnFailure);
  EXPECT_EQ(c.jobLabels, (std::map<std::string, std::string>{{"team", "a"}}));
}

TEST(SpecsCronJob, EveryField) {
  TestZoneinfo zones;
  ParseResult r = parseSpecFile("f.yaml", cronJob("  schedule: '@hourly'\n"
                                                  "  timeZone: America/New_York\n"
                                                  "  startingDeadlineSeconds: 200\n"
                                                  "  concurrencyPolicy: Forbid\n"
                                                  "  suspend: true\n"
                                                  "  successfulJobsHistoryLimit: 0\n"
                                                  "  failedJobsHistoryLimit: 5\n"));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  const CronJob& c = r.cronJobs.at(0).cronJob;
  EXPECT_EQ(c.timeZone, "America/New_York");
  EXPECT_EQ(c.startingDeadlineSeconds, 200);
  EXPECT_EQ(c.concurrencyPolicy, ConcurrencyPolicy::Forbid);
  EXPECT_TRUE(c.suspend);
  EXPECT_EQ(c.successfulJobsHistoryLimit, 0);
  EXPECT_EQ(c.failedJobsHistoryLimit, 5);
}

TEST(SpecsCronJob, ProblemsNameTheField) {
  TestZoneinfo zones;
  EXPECT_EQ(errorsOf(cronJob("  schedule: '61 * * * *'\n")),
            Lines({"f.yaml:5:13: spec.schedule: Invalid value: \"61 * * * *\": minute field: 61 "
                   "is above the maximum 59"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: 'TZ=UTC 0 * * * *'\n")),
            Lines({"f.yaml:5:13: spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use "
                   "TZ or CRON_TZ in schedule, use timeZone field instead"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@every 1m'\n")),
            Lines({"f.yaml:5:13: spec.schedule: Invalid value: \"@every 1m\": @every is not a "
                   "Kubernetes CronJob schedule: write five cron fields"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n  timeZone: Mars/Olympus\n")),
            Lines({"f.yaml:6:13: spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time "
                   "zone Mars/Olympus (" +
                   zones.path() + "/Mars/Olympus cannot be read)"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n  timeZone: Local\n")),
            Lines({"f.yaml:6:13: spec.timeZone: timeZone must be an explicit time zone as "
                   "defined in https://www.iana.org/time-zones"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n  concurrencyPolicy: Sometimes\n")),
            Lines({"f.yaml:6:22: spec.concurrencyPolicy: Unsupported value: \"Sometimes\": "
                   "supported values: \"Allow\", \"Forbid\", \"Replace\""}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n  startingDeadlineSeconds: -1\n")),
            Lines({"f.yaml:6:28: spec.startingDeadlineSeconds: must be greater than or equal "
                   "to 0"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n  failedJobsHistoryLimit: -2\n")),
            Lines({"f.yaml:6:27: spec.failedJobsHistoryLimit: must be greater than or equal to "
                   "0"}));
  EXPECT_EQ(errorsOf("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {}\n"),
            Lines({"f.yaml:4:7: spec.schedule: required field is missing",
                   "f.yaml:4:7: spec.jobTemplate: required field is missing"}));
}

TEST(SpecsCronJob, TheJobTemplateIsAJobSpec) {
  std::string doc = cronJob("  schedule: '@daily'\n");
  doc.replace(doc.find("OnFailure"), 9, "Always");
  EXPECT_EQ(errorsOf(doc), Lines({"f.yaml:11:9: spec.jobTemplate.spec.template.spec.restartPolicy: "
                                  "Unsupported value: \"Always\": supported values: "
                                  "\"OnFailure\", \"Never\""}));
}

TEST(SpecsCronJob, NamesLeaveRoomForTheJobAndPodNames) {
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n", std::string(53, 'a'))),
            Lines({"f.yaml:3:18: metadata.name: must be no more than 52 characters"}));
  EXPECT_EQ(errorsOf(cronJob("  schedule: '@daily'\n", std::string(50, 'a'))),
            Lines({"f.yaml:3:18: metadata.name: pod names made from it would be up to 65 "
                   "characters; boxd pod names are at most 63: shorten the name"}));
  // <name>-<8 digits>-<5 chars>: 48 characters fit.
  EXPECT_TRUE(
      parseSpecFile("f.yaml", cronJob("  schedule: '@daily'\n", std::string(48, 'a'))).ok());
}

TEST(SpecsCronJob, TheJobsItMakes) {
  ParseResult r = parseSpecFile("f.yaml", cronJob("  schedule: '@daily'\n"));
  ASSERT_TRUE(r.ok());
  const CronJob& c = r.cronJobs.at(0).cronJob;
  int64_t t = utc(2026, 3, 8, 7);
  EXPECT_EQ(cronJobJobName(c, t), "hello-" + std::to_string(t / 60));
  Job j = cronJobJob(c, t, newYorkRule());
  EXPECT_EQ(j.name, "hello-29549220");
  EXPECT_EQ(j.annotations.at(kCronJobScheduledTimestamp), "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(j.annotations.at(kOwnerAnnotation), "CronJob/hello");
  EXPECT_EQ(j.annotations.at("note"), "x");
  EXPECT_EQ(j.labels.at("team"), "a");
  EXPECT_EQ(j.backoffLimit, 2);
  auto back = jobFromJson(jobToJson(j));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(jobHash(*back), jobHash(j));
  EXPECT_EQ(back->annotations, j.annotations);
  // The Job's pods are named as any Job's.
  EXPECT_EQ(jobPod(j, "uid", 0, -1).name.rfind("hello-29549220-", 0), 0u);
}

TEST(SpecsCronJob, DuplicateNamesInAFile) {
  std::string doc = cronJob("  schedule: '@daily'\n");
  EXPECT_EQ(errorsOf(doc + "---\n" + doc),
            Lines({"f.yaml:17:18: metadata.name: duplicate cronjob name \"hello\" (first "
                   "defined at line 3)"}));
}

}  // namespace
}  // namespace boxd::specs
