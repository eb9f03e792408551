// CronJobs in the desired state: a file's CronJobs, its last good ones while it has errors, and
// a name declared in two files (neither is used).
#include <gtest/gtest.h>

#include "agent/desired.h"

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

}  // namespace
}  // namespace boxd::agent
