// CronJobs in the desired state: a file's CronJobs, its last good ones while it has errors, a
// name declared in two files (neither is used), and a Job of the specs named as a Job a CronJob
// made before (the CronJob's keeps the name; the other is held, its file told, until it is gone).
#include <gtest/gtest.h>

#include "agent/cronjob_jobs.h"
#include "agent/desired.h"
#include "specs/workload.h"

namespace boxd::agent {
namespace {

std::string cronJob(const std::string& name, const std::string& schedule) {
  return "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: " + name +
         "}\nspec:\n  schedule: '" + schedule +
         "'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
         "          restartPolicy: Never\n          containers: [{name: c, image: busybox}]\n";
}

FileResult file(const std::string& name, const std::string& content) {
  return {name, specs::parseSpecFile(name, content)};
}

TEST(CronJobDesired, LastGoodWhileTheFileHasErrors) {
  LastGood good;
  Desired d = resolveDesired({file("a.yaml", cronJob("tick", "@hourly"))}, good, {});
  ASSERT_EQ(d.cronJobs.size(), 1u);
  EXPECT_EQ(d.cronJobs.at("tick").sourceFile, "a.yaml");
  EXPECT_EQ(d.cronJobs.at("tick").hash, specs::cronJobHash(d.cronJobs.at("tick").cronJob));
  d = resolveDesired({file("a.yaml", cronJob("tick", "61 * * * *"))}, good, {});
  ASSERT_EQ(d.cronJobs.size(), 1u);
  EXPECT_EQ(d.cronJobs.at("tick").cronJob.schedule, "@hourly");
  EXPECT_EQ(d.errors.size(), 1u);
}

TEST(CronJobDesired, ANameInTwoFilesIsUsedByNeither) {
  LastGood good;
  Desired d = resolveDesired(
      {file("a.yaml", cronJob("tick", "@hourly")), file("b.yaml", cronJob("tick", "@daily"))}, good,
      {});
  EXPECT_TRUE(d.cronJobs.empty());
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].errors.at(0).str(),
            "a.yaml: metadata.name: cronjob \"tick\" is also declared in b.yaml; neither "
            "declaration is used");
}

std::string job(const std::string& name, const std::string& ns = "") {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name +
         (ns.empty() ? "" : ", namespace: " + ns) +
         "}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n"
         "      containers: [{name: c, image: busybox}]\n";
}

// The Jobs of the specs in jobs.yaml (one document each).
std::map<std::string, DesiredJob> specJobs(const std::vector<std::string>& docs) {
  std::string text;
  for (const auto& d : docs) text += (text.empty() ? "" : "---\n") + d;
  LastGood good;
  return resolveDesired({file("jobs.yaml", text)}, good, {}).jobs;
}

// The Job `tick` made for a minute, as its record keeps it (tick.yaml declares the CronJob).
CronJobKeptJob tickJob(const std::string& name) {
  DesiredJob j = specJobs({job(name)}).at(name);
  j.job.annotations[specs::kOwnerAnnotation] = "CronJob/tick";
  j.hash = specs::jobHash(j.job);
  j.sourceFile = "tick.yaml";
  return {"tick", j};
}

TEST(CronJobDesired, ACronJobsJobKeepsItsNameAndTheJobOfTheSpecsIsHeld) {
  auto specs = specJobs({job("tick-29000000"), job("other")});
  CronJobJobs m = mergeCronJobJobs(specs, {tickJob("tick-29000000")}, {});
  ASSERT_EQ(m.jobs.size(), 2u);
  EXPECT_EQ(m.jobs.at("tick-29000000").sourceFile, "tick.yaml");
  EXPECT_EQ(m.jobs.at("tick-29000000").job.annotations.at(specs::kOwnerAnnotation), "CronJob/tick");
  EXPECT_EQ(m.jobs.at("other").sourceFile, "jobs.yaml");
  ASSERT_EQ(m.held.size(), 1u);
  const SpecError& e = m.held.at("tick-29000000");
  EXPECT_EQ(e.file, "jobs.yaml");
  ASSERT_EQ(e.errors.size(), 1u);
  EXPECT_EQ(e.errors[0].str(),
            "jobs.yaml: metadata.name: Job \"tick-29000000\" already exists (created by CronJob "
            "\"tick\"): its declaration in jobs.yaml is not run until that Job is gone");
  EXPECT_TRUE(m.releasing.empty());
  // Held as long as the CronJob keeps its Job.
  m = mergeCronJobJobs(specs, {tickJob("tick-29000000")}, {"tick-29000000"});
  EXPECT_EQ(m.jobs.at("tick-29000000").sourceFile, "tick.yaml");
  EXPECT_EQ(m.held.count("tick-29000000"), 1u);
}

TEST(CronJobDesired, AHeldJobOfTheSpecsRunsOnePassAfterTheCronJobsJobIsGone) {
  auto specs = specJobs({job("tick-29000000")});
  // The CronJob's Job is gone (history limit, the CronJob removed): neither runs in this pass,
  // so the old run and its pods go first.
  CronJobJobs m = mergeCronJobJobs(specs, {}, {"tick-29000000"});
  EXPECT_TRUE(m.jobs.empty());
  EXPECT_TRUE(m.held.empty());
  EXPECT_EQ(m.releasing, std::set<std::string>{"tick-29000000"});
  // The pass after: the Job of the specs runs.
  m = mergeCronJobJobs(specs, {}, {});
  ASSERT_EQ(m.jobs.count("tick-29000000"), 1u);
  EXPECT_EQ(m.jobs.at("tick-29000000").sourceFile, "jobs.yaml");
  EXPECT_FALSE(m.jobs.at("tick-29000000").job.annotations.count(specs::kOwnerAnnotation));
  EXPECT_TRUE(m.releasing.empty());
  // A Job of the specs removed meanwhile is not waited for.
  EXPECT_TRUE(mergeCronJobJobs({}, {}, {"tick-29000000"}).releasing.empty());
}

TEST(CronJobDesired, AJobOfTheSpecsInAnotherNamespaceIsNotHeld) {
  auto specs = specJobs({job("tick-29000000", "batch")});
  CronJobJobs m = mergeCronJobJobs(specs, {tickJob("tick-29000000")}, {});
  EXPECT_TRUE(m.held.empty());
  EXPECT_EQ(m.jobs.size(), 2u);
  EXPECT_EQ(m.jobs.at("batch/tick-29000000").sourceFile, "jobs.yaml");
}

TEST(CronJobDesired, HeldErrorsJoinTheirFilesErrors) {
  specs::Diagnostic a{"a.yaml", 3, 1, "kind", "one"}, b{"a.yaml", 0, 0, "metadata.name", "two"},
      c{"b.yaml", 0, 0, "metadata.name", "three"};
  auto all = withSpecErrors({{"a.yaml", {a}}}, {{"a.yaml", {b}}, {"b.yaml", {c}}});
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].file, "a.yaml");
  EXPECT_EQ(all[0].errors.size(), 2u);
  EXPECT_EQ(all[1].file, "b.yaml");
  EXPECT_TRUE(hasErrors(all, "b.yaml"));
  EXPECT_FALSE(hasErrors(all, "c.yaml"));
}

}  // namespace
}  // namespace boxd::agent
