// The sidecar rules (agent/sidecar_rules.h): when the next init container may start, when the
// pod is done, and the order sidecars are stopped in.
#include "agent/sidecar_rules.h"

#include <gtest/gtest.h>

#include "agent/ephemeral_storage.h"
#include "agent/pod_plan.h"

namespace boxd::agent {
namespace {

specs::Container container(const std::string& name, bool sidecar = false) {
  specs::Container c;
  c.name = name;
  c.image = "busybox";
  if (sidecar) c.restartPolicy = specs::RestartPolicy::Always;
  return c;
}

// init: setup (regular), logs (sidecar), proxy (sidecar), migrate (regular); containers: app, job.
specs::PodSpec pod(specs::RestartPolicy policy = specs::RestartPolicy::Never) {
  specs::PodSpec p;
  p.name = "p";
  p.restartPolicy = policy;
  p.initContainers = {container("setup"), container("logs", true), container("proxy", true),
                      container("migrate")};
  p.containers = {container("app"), container("job")};
  return p;
}

RunFacts running(bool started = true) {
  RunFacts f;
  f.state = "Running";
  f.started = started;
  return f;
}
RunFacts exited(int code, bool restartDue = false) {
  RunFacts f;
  f.state = "Terminated";
  f.exitCode = code;
  f.restartDue = restartDue;
  return f;
}

TEST(SidecarRules, ASidecarPassesOnceStartedNotOnceCompleted) {
  specs::PodSpec p = pod();
  PodFacts facts;
  EXPECT_EQ(initProgress(p, facts).index, 0u);
  facts["setup"] = exited(0);
  EXPECT_EQ(initProgress(p, facts).index, 1u) << "the sidecar is next";
  facts["logs"] = running(/*started=*/false);  // its startup probe has not passed yet
  EXPECT_EQ(initProgress(p, facts).index, 1u) << "the next init container waits for it";
  facts["logs"] = running(true);
  InitProgress at = initProgress(p, facts);
  EXPECT_EQ(at.index, 2u);
  EXPECT_EQ(at.passed, 2u) << "kubectl's Init:2/4";
  facts["proxy"] = running(true);
  facts["migrate"] = exited(0);
  EXPECT_EQ(initProgress(p, facts).index, 4u) << "every init container passed: the containers";
}

TEST(SidecarRules, ASidecarThatExitedHoldsTheInitSequenceUntilItRunsAgain) {
  specs::PodSpec p = pod();
  PodFacts facts{{"setup", exited(0)}, {"logs", exited(0, /*restartDue=*/true)}};
  EXPECT_EQ(initProgress(p, facts).index, 1u) << "exit 0 does not pass a sidecar";
}

TEST(SidecarRules, OnceTheContainersRanASidecarRestartHoldsNothingBack) {
  specs::PodSpec p = pod();
  PodFacts facts{{"setup", exited(0)},
                 {"logs", exited(137, true)},
                 {"proxy", running(true)},
                 {"migrate", exited(0)},
                 {"app", running()}};
  EXPECT_EQ(initProgress(p, facts).index, 4u);
}

TEST(SidecarRules, ThePodIsDoneWhenItsRegularContainersAreDoneForGood) {
  specs::PodSpec p = pod(specs::RestartPolicy::Never);
  PodFacts facts{{"logs", running()}, {"proxy", running()}, {"app", exited(0)}};
  EXPECT_FALSE(podCompleted(p, facts)) << "job has not run";
  facts["job"] = running();
  EXPECT_FALSE(podCompleted(p, facts));
  facts["job"] = exited(2);
  EXPECT_TRUE(podCompleted(p, facts)) << "sidecars still running do not keep it going";
  facts["job"].starting = true;
  EXPECT_FALSE(podCompleted(p, facts));
}

TEST(SidecarRules, OnFailureIsDoneOnlyWhenEveryContainerSucceeded) {
  specs::PodSpec p = pod(specs::RestartPolicy::OnFailure);
  PodFacts facts{{"app", exited(0)}, {"job", exited(1, /*restartDue=*/true)}};
  EXPECT_FALSE(podCompleted(p, facts));
  facts["job"] = exited(1);  // its restart timer was lost with a previous boxd: still restarted
  EXPECT_FALSE(podCompleted(p, facts));
  facts["job"] = exited(0);
  EXPECT_TRUE(podCompleted(p, facts));
}

TEST(SidecarRules, AlwaysIsNeverDone) {
  specs::PodSpec p = pod(specs::RestartPolicy::Always);
  PodFacts facts{{"app", exited(0)}, {"job", exited(0)}};
  EXPECT_FALSE(podCompleted(p, facts));
}

TEST(SidecarRules, AFailedInitContainerEndsANeverPod) {
  specs::PodSpec p = pod(specs::RestartPolicy::Never);
  PodFacts facts{
      {"setup", exited(0)}, {"logs", running()}, {"proxy", running()}, {"migrate", exited(3)}};
  EXPECT_TRUE(podCompleted(p, facts));
  facts["logs"] = exited(1);  // a sidecar's failure never ends the pod
  facts["migrate"] = running();
  EXPECT_FALSE(podCompleted(p, facts));
}

TEST(SidecarRules, SidecarsStopLastDeclaredFirst) {
  specs::PodSpec p = pod();
  PodFacts facts{{"logs", running()}, {"proxy", running()}, {"setup", exited(0)}};
  EXPECT_EQ(sidecarsToStop(p, facts), (std::vector<std::string>{"proxy", "logs"}));
  facts["proxy"] = exited(143);
  EXPECT_EQ(sidecarsToStop(p, facts), (std::vector<std::string>{"logs"}));
  facts["logs"] = exited(143);
  facts["logs"].starting = true;  // a restart under way: stopped once it runs
  EXPECT_EQ(sidecarsToStop(p, facts), (std::vector<std::string>{"logs"}));
  facts["logs"].starting = false;
  EXPECT_TRUE(sidecarsToStop(p, facts).empty());
}

TEST(SidecarRules, DeletionStopsTheRegularContainersFirstThenSidecarsInReverse) {
  specs::PodSpec p = pod();
  StopOrder order = stopOrder(p, {"app", "logs", "job", "proxy", "migrate"});
  EXPECT_EQ(order.first, (std::vector<std::string>{"app", "job", "migrate"}));
  EXPECT_EQ(order.sidecars, (std::vector<std::string>{"proxy", "logs"}));
  EXPECT_TRUE(stopOrder(p, {"app"}).sidecars.empty());
}

TEST(SidecarRules, SidecarsAreLongRunningAndCountedInReady) {
  specs::PodSpec p = pod();
  std::vector<std::string> names;
  for (const auto* c : longRunningContainers(p)) names.push_back(c->name);
  EXPECT_EQ(names, (std::vector<std::string>{"logs", "proxy", "app", "job"}));
  EXPECT_TRUE(isSidecar(p, "logs"));
  EXPECT_FALSE(isSidecar(p, "setup"));
  EXPECT_FALSE(isSidecar(p, "app"));
}

specs::Resources limits(int64_t mib) {
  specs::Resources r;
  r.ephemeralLimitBytes = mib << 20;
  r.memoryLimitBytes = mib << 20;
  r.cpuLimitMilli = mib;
  return r;
}

TEST(SidecarRules, PodLimitsAddTheSidecarsToTheContainers) {
  specs::PodSpec p;
  p.name = "p";
  p.initContainers = {container("setup"), container("logs", true)};
  p.containers = {container("app")};
  p.initContainers[0].resources = limits(20);
  p.initContainers[1].resources = limits(10);
  p.containers[0].resources = limits(50);
  reconcilers::CgroupLimits l = podLimits(p, 0);
  EXPECT_EQ(l.memoryBytes, int64_t{60} << 20) << "app + sidecar; a regular init container not";
  EXPECT_EQ(l.cpuLimitMilli, 60);
  StorageUsage u;
  u.emptyDirs = {{"cache", (int64_t{60} << 20) + 1}};
  auto e = judgeStorage(p, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "Pod ephemeral local storage usage exceeds the total limit of containers 60Mi.");
  // A regular init container runs beside the sidecars declared before it only.
  p.initContainers = {container("logs", true), container("setup")};
  p.initContainers[0].resources = limits(10);
  p.initContainers[1].resources = limits(100);
  e = judgeStorage(p, u, 0);
  EXPECT_FALSE(e) << "the bound is setup + logs = 110Mi: " << (e ? e->message : "");
  u.emptyDirs["cache"] = (int64_t{110} << 20) + 1;
  e = judgeStorage(p, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message,
            "Pod ephemeral local storage usage exceeds the total limit of containers 110Mi.");
}

}  // namespace
}  // namespace boxd::agent
