// batch/v1 Job documents: defaults, the checks Kubernetes makes, what boxd refuses, and the pods
// a Job's run is made of (names, labels, the completion index).
#include <gtest/gtest.h>

#include "specs/job.h"
#include "specs/parse.h"
#include "specs/workload.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

std::string job(std::string_view spec, std::string_view policy = "Never") {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n" + std::string(spec) +
         "  template:\n"
         "    spec:\n"
         "      restartPolicy: " +
         std::string(policy) +
         "\n"
         "      containers: [{name: c, image: busybox, command: [\"true\"]}]\n";
}

TEST(SpecsJob, DefaultsAsKubernetes) {
  ParseResult r = parseSpecFile("f.yaml", job(""));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  EXPECT_TRUE(r.pods.empty());  // the Job controller makes them
  EXPECT_TRUE(r.skipped.empty());
  ASSERT_EQ(r.jobs.size(), 1u);
  const Job& j = r.jobs[0].job;
  EXPECT_EQ(j.name, "pi");
  EXPECT_EQ(r.jobs[0].line, 1);
  EXPECT_EQ(j.completions, 1);
  EXPECT_EQ(j.parallelism, 1);
  EXPECT_EQ(j.backoffLimit, 6);
  EXPECT_FALSE(j.activeDeadlineSeconds);
  EXPECT_FALSE(j.ttlSecondsAfterFinished);
  EXPECT_EQ(j.completionMode, CompletionMode::NonIndexed);
  EXPECT_EQ(j.podTemplate.restartPolicy, RestartPolicy::Never);
}

TEST(SpecsJob, FieldsAreRead) {
  ParseResult r = parseSpecFile("f.yaml", job("  completions: 3\n  parallelism: 2\n"
                                              "  backoffLimit: 0\n  activeDeadlineSeconds: 30\n"
                                              "  ttlSecondsAfterFinished: 100\n"
                                              "  completionMode: Indexed\n  suspend: false\n",
                                              "OnFailure"));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  const Job& j = r.jobs.at(0).job;
  EXPECT_EQ(j.completions, 3);
  EXPECT_EQ(j.parallelism, 2);
  EXPECT_EQ(j.backoffLimit, 0);
  EXPECT_EQ(j.activeDeadlineSeconds, 30);
  EXPECT_EQ(j.ttlSecondsAfterFinished, 100);
  EXPECT_EQ(j.completionMode, CompletionMode::Indexed);
  EXPECT_EQ(j.podTemplate.restartPolicy, RestartPolicy::OnFailure);
}

TEST(SpecsJob, RestartPolicyMustBeOnFailureOrNever) {
  EXPECT_EQ(errorsOf(job("", "Always")),
            (Lines{"f.yaml:6:5: spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                   "supported values: \"OnFailure\", \"Never\""}));
  // The Pod default is Always: a Job's template must say it.
  EXPECT_EQ(errorsOf("apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n"
                     "  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n"),
            (Lines{"f.yaml:6:5: spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                   "supported values: \"OnFailure\", \"Never\""}));
}

TEST(SpecsJob, CountsAreChecked) {
  EXPECT_EQ(
      errorsOf(job("  completions: -1\n  parallelism: -2\n  backoffLimit: -3\n"
                   "  activeDeadlineSeconds: 0\n  ttlSecondsAfterFinished: -1\n")),
      (Lines{"f.yaml:5:16: spec.completions: must be greater than or equal to 0",
             "f.yaml:6:16: spec.parallelism: must be greater than or equal to 0",
             "f.yaml:7:17: spec.backoffLimit: must be greater than or equal to 0",
             "f.yaml:8:26: spec.activeDeadlineSeconds: must be greater than 0",
             "f.yaml:9:28: spec.ttlSecondsAfterFinished: must be greater than or equal to 0"}));
  EXPECT_EQ(errorsOf(job("  completionMode: Random\n")),
            (Lines{"f.yaml:5:19: spec.completionMode: Unsupported value: \"Random\": supported "
                   "values: \"NonIndexed\", \"Indexed\""}));
}

TEST(SpecsJob, WhatBoxdDoesNotRunIsRefused) {
  EXPECT_EQ(errorsOf(job("  parallelism: 2\n")),
            (Lines{"f.yaml:5:16: spec.completions: a work-queue Job (parallelism without "
                   "completions) is not supported by boxd: set spec.completions"}));
  Lines suspend = errorsOf(job("  suspend: true\n"));
  ASSERT_EQ(suspend.size(), 1u);
  EXPECT_NE(suspend[0].find("spec.suspend"), std::string::npos) << suspend[0];
  Lines selector = errorsOf(job("  selector: {matchLabels: {a: b}}\n"));
  ASSERT_EQ(selector.size(), 1u);
  EXPECT_NE(selector[0].find("spec.selector"), std::string::npos) << selector[0];
  EXPECT_EQ(errorsOf("apiVersion: batch/v2\nkind: Job\nmetadata: {name: pi}\nspec:\n"
                     "  template:\n    spec:\n      restartPolicy: Never\n"
                     "      containers: [{name: c, image: busybox}]\n"),
            (Lines{"f.yaml:1:13: apiVersion: must be \"batch/v1\", got \"batch/v2\""}));
}

TEST(SpecsJob, ParallelPodsThatWouldClashAreRefused) {
  std::string text =
      "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n"
      "  completions: 4\n  parallelism: 2\n"
      "  template:\n    spec:\n      restartPolicy: Never\n"
      "      containers: [{name: c, image: busybox, ports: [{containerPort: 80, hostPort: 81}]}]\n";
  EXPECT_EQ(errorsOf(text),
            (Lines{"f.yaml:6:16: spec.parallelism: 2 pods at once on one host would all claim "
                   "hostPort 81 (container c); boxd runs every pod on this host: use "
                   "parallelism: 1"}));
}

TEST(SpecsJob, NameTooLongForItsPodsAndDuplicates) {
  std::string longName(60, 'a');
  std::string text = job("");
  text.replace(text.find("name: pi"), 8, "name: " + longName);
  EXPECT_EQ(errorsOf(text), (Lines{"f.yaml:3:18: metadata.name: pod names made from it would be "
                                   "up to 66 characters; boxd pod names are at most 63: shorten "
                                   "the name"}));
  Lines dup = errorsOf(job("") + "---\n" + job(""));
  ASSERT_EQ(dup.size(), 1u);
  EXPECT_NE(dup[0].find("duplicate job name \"pi\""), std::string::npos) << dup[0];
}

TEST(SpecsJob, PodsAreNamedAndLabelledLikeKubernetes) {
  ParseResult r = parseSpecFile("f.yaml", job("  completions: 3\n  completionMode: Indexed\n"));
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  const Job& j = r.jobs.at(0).job;
  PodSpec p = jobPod(j, "uid1", 0, -1);
  ASSERT_EQ(p.name.size(), 8u);  // pi-xxxxx
  EXPECT_EQ(p.name.substr(0, 3), "pi-");
  EXPECT_EQ(p.name.find_first_not_of("bcdfghjklmnpqrstvwxz2456789", 3), std::string::npos);
  EXPECT_EQ(jobPod(j, "uid1", 0, -1).name, p.name);  // stable
  EXPECT_NE(jobPod(j, "uid1", 1, -1).name, p.name);  // a serial of its own
  EXPECT_NE(jobPod(j, "uid2", 0, -1).name, p.name);  // a run of its own
  EXPECT_EQ(ownerOf(p), "Job/pi");
  EXPECT_EQ(p.labels.at("job-name"), "pi");
  EXPECT_EQ(p.labels.at(kJobControllerUid), "uid1");
  EXPECT_EQ(completionIndexOf(p), -1);
  PodSpec indexed = jobPod(j, "uid1", 4, 2);
  EXPECT_EQ(indexed.name.substr(0, 5), "pi-2-");
  EXPECT_EQ(completionIndexOf(indexed), 2);
  EXPECT_EQ(indexed.labels.at(kJobCompletionIndex), "2");
  EXPECT_EQ(indexed.hostname, "pi-2");
  ASSERT_FALSE(indexed.containers[0].env.empty());
  EXPECT_EQ(indexed.containers[0].env[0].name, "JOB_COMPLETION_INDEX");
  EXPECT_EQ(indexed.containers[0].env[0].value, "2");
}

TEST(SpecsJob, IdentityIsTheTemplateAndCompletions) {
  auto hashOf = [](const std::string& spec) {
    ParseResult r = parseSpecFile("f.yaml", job(spec));
    EXPECT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
    return jobHash(r.jobs.at(0).job);
  };
  std::string base = hashOf("  completions: 2\n");
  EXPECT_EQ(hashOf("  completions: 2\n  parallelism: 2\n  activeDeadlineSeconds: 9\n"), base);
  EXPECT_EQ(hashOf("  completions: 2\n  backoffLimit: 1\n"), base);
  EXPECT_NE(hashOf("  completions: 3\n"), base);
  EXPECT_NE(hashOf("  completions: 2\n  completionMode: Indexed\n"), base);
}

TEST(SpecsJob, CronJobIsRunNotSkipped) {  // its schema: tests/unit/specs_cronjob_test.cc
  ParseResult r = parseSpecFile("f.yaml",
                                "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\n"
                                "spec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n"
                                "      template:\n        spec:\n          restartPolicy: Never\n"
                                "          containers: [{name: c, image: busybox}]\n");
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(errorLines(r));
  EXPECT_TRUE(r.skipped.empty());
  EXPECT_TRUE(r.jobs.empty());
  ASSERT_EQ(r.cronJobs.size(), 1u);
  EXPECT_EQ(r.cronJobs[0].cronJob.jobTemplate.podTemplate.restartPolicy, RestartPolicy::Never);
}

}  // namespace
}  // namespace boxd::specs
