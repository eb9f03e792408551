// ephemeral-storage by project quota (agent/project_quotas.h, reconcilers/quota/): detection from
// mountinfo lines and a Q_GETQUOTA probe, project ID allocation and re-adoption from the journal,
// the plan's projquota steps, golden call sequences of apply and undo on a recording fake, and
// usage read from the quota with kubelet's eviction at the hard limit. Unit tests only: the
// kernel of the test host has no project quotas (tests/privileged/quota_test.cc runs what it
// has).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "agent/config.h"
#include "agent/project_quotas.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/host.h"
#include "reconcilers/quota/quota_step.h"
#include "specs/parse.h"
#include "tests/fakes/fake_cgroup_fs.h"
#include "tests/fakes/fake_mounter.h"
#include "tests/fakes/fake_project_quota.h"
#include "tests/support/pod_spec.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::FakeProjectQuota;
using boxd::testing::parsePod;
using boxd::testing::TempDir;
using reconcilers::MountEntry;
using reconcilers::QuotaSupport;

// ---- detection ------------------------------------------------------------------------------

constexpr const char* kMountinfo =
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "30 22 8:16 / /var/lib/boxd rw,relatime shared:5 - xfs /dev/sdb rw,attr2,inode64,prjquota\n"
    "31 22 8:32 / /srv/a\\040b rw - ext4 /dev/sdc rw,prjquota\n"
    "32 22 0:40 / /run rw - tmpfs tmpfs rw,size=100k\n";

TEST(ProjectQuotaDetect, FindsTheMountOfThePodsDirByDeviceAndLongestParent) {
  auto m = reconcilers::mountOf(kMountinfo, 8, 16, "/var/lib/boxd/pods");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mountPoint, "/var/lib/boxd");
  EXPECT_EQ(m->fsType, "xfs");
  EXPECT_EQ(m->source, "/dev/sdb");
  EXPECT_EQ(m->superOptions, "rw,attr2,inode64,prjquota");
  auto escaped = reconcilers::mountOf(kMountinfo, 8, 32, "/srv/a b/pods");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->mountPoint, "/srv/a b");
  EXPECT_FALSE(reconcilers::mountOf(kMountinfo, 8, 16, "/var/lib/other"));
  EXPECT_FALSE(reconcilers::mountOf(kMountinfo, 9, 9, "/var/lib/boxd"));
}

TEST(ProjectQuotaDetect, SuperOptionsThatEnforceProjectQuotas) {
  EXPECT_TRUE(reconcilers::superOptionsEnforceProjectQuota("ext4", "rw,prjquota"));
  EXPECT_FALSE(reconcilers::superOptionsEnforceProjectQuota("ext4", "rw,usrquota,grpquota"));
  EXPECT_FALSE(reconcilers::superOptionsEnforceProjectQuota("ext4", "rw,noprjquota"));
  EXPECT_TRUE(reconcilers::superOptionsEnforceProjectQuota("xfs", "rw,attr2,prjquota"));
  EXPECT_TRUE(reconcilers::superOptionsEnforceProjectQuota("xfs", "rw,pquota"));
  EXPECT_FALSE(reconcilers::superOptionsEnforceProjectQuota("xfs", "rw,pqnoenforce"))
      << "accounting without enforcement is no hard limit";
  EXPECT_FALSE(reconcilers::superOptionsEnforceProjectQuota("tmpfs", "rw,prjquota"));
}

MountEntry mountLine(const std::string& line, unsigned major, unsigned minor) {
  auto m = reconcilers::mountOf(line, major, minor, "/var/lib/boxd/pods");
  EXPECT_TRUE(m) << line;
  return m.value_or(MountEntry{});
}

TEST(ProjectQuotaDetect, EnabledOnlyWithTheOptionAndAWorkingProbe) {
  FakeProjectQuota q;
  QuotaSupport s = reconcilers::detectProjectQuota(
      mountLine("30 22 8:16 / /var/lib/boxd rw - xfs /dev/sdb rw,prjquota\n", 8, 16), &q);
  EXPECT_TRUE(s.enabled);
  EXPECT_EQ(s.detail, "xfs prjquota on /dev/sdb (/var/lib/boxd)");
  EXPECT_EQ(q.calls, (std::vector<std::string>{"getquota 0"}));

  q.calls.clear();
  s = reconcilers::detectProjectQuota(
      mountLine("30 22 8:16 / /var/lib/boxd rw - ext4 /dev/sdb rw,relatime\n", 8, 16), &q);
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.detail, "ext4 on /dev/sdb (/var/lib/boxd) is not mounted with prjquota");
  EXPECT_TRUE(q.calls.empty()) << "no probe without the option";

  s = reconcilers::detectProjectQuota(
      mountLine("30 22 0:40 / /var/lib/boxd rw - tmpfs tmpfs rw\n", 0, 40), &q);
  EXPECT_FALSE(s.enabled);
  EXPECT_NE(s.detail.find("ext4 or xfs only"), std::string::npos) << s.detail;
  EXPECT_FALSE(reconcilers::detectProjectQuota(std::nullopt, &q).enabled);
}

TEST(ProjectQuotaDetect, ProbeFailuresKeepTheMeasuredPath) {
  const MountEntry m =
      mountLine("30 22 8:16 / /var/lib/boxd rw - ext4 /dev/sdb rw,prjquota\n", 8, 16);
  const std::pair<int, const char*> cases[] = {
      {ESRCH, "project quotas are off (ESRCH)"},
      {ENOSYS, "the kernel has no quotactl (ENOSYS)"},
      {EINVAL, "the kernel refuses project quotas there (EINVAL)"},
      {EIO, "Input/output error"}};
  for (const auto& [err, why] : cases) {
    FakeProjectQuota q;
    q.failOp("getquota", err);
    QuotaSupport s = reconcilers::detectProjectQuota(m, &q);
    EXPECT_FALSE(s.enabled) << why;
    EXPECT_NE(s.detail.find(why), std::string::npos) << s.detail;
    EXPECT_NE(s.detail.find("mounted with prjquota, but Q_GETQUOTA fails"), std::string::npos);
  }
  FakeProjectQuota noDquot;  // xfs answers ENOENT for a project it has no record of yet
  noDquot.failOp("getquota", ENOENT);
  EXPECT_TRUE(reconcilers::detectProjectQuota(m, &noDquot).enabled);
}

TEST(ProjectQuotaDetect, ThisHostsTmpDirFromTheRealMountinfo) {
  TempDir t("quota-detect");
  FakeProjectQuota q;
  QuotaSupport s = reconcilers::detectProjectQuotaAt(t.path(), &q);
  EXPECT_FALSE(s.detail.empty());
  if (!s.enabled) {
    EXPECT_TRUE(q.calls.empty() || q.calls == std::vector<std::string>{"getquota 0"});
  }
}

// ---- allocation -----------------------------------------------------------------------------

TEST(ProjectIdAllocator, LowestFreeOutsideJournaledAndHeld) {
  ProjectIdAllocator ids({100, 109});
  auto a = ids.reserve("uid-a", 2, {100, 102});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (std::vector<uint32_t>{101, 103}));
  auto b = ids.reserve("uid-b", 1, {100, 102});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (std::vector<uint32_t>{104})) << "IDs held for a plan not yet journaled";
  ids.release("uid-a");
  EXPECT_EQ(ids.heldCount(), 1u);
  auto c = ids.reserve("uid-c", 1, {100, 102});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (std::vector<uint32_t>{101}));
}

TEST(ProjectIdAllocator, ExhaustedRangeIsAnErrorNamingTheConfigKey) {
  ProjectIdAllocator ids({7, 8});
  auto r = ids.reserve("u", 2, {8});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ENOSPC);
  EXPECT_NE(r.error().message.find("7-8"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("projectQuotaIds"), std::string::npos);
  EXPECT_EQ(ids.heldCount(), 0u) << "a failed reservation holds nothing";
  auto last = ids.reserve("u", 1, {4294967295u});
  ASSERT_TRUE(last.ok());
  ProjectIdAllocator top({4294967294u, 4294967294u});
  EXPECT_TRUE(top.reserve("u", 1, {}).ok()) << "the loop ends at the top of the range";
}

constexpr const char* kPod = R"(  volumes:
  - {name: scratch, emptyDir: {sizeLimit: 4Mi}}
  - {name: cache, emptyDir: {}}
  - {name: shm, emptyDir: {medium: Memory, sizeLimit: 1Mi}}
  initContainers:
  - {name: init, image: busybox}
  containers:
  - name: a
    image: busybox
    resources: {limits: {ephemeral-storage: 10Mi}}
  - {name: b, image: busybox}
)";

state::JournalRow row(const std::string& uid, const PlannedStep& s,
                      state::StepState st = state::StepState::Done) {
  state::JournalRow r;
  r.pod = "p";
  r.podUid = uid;
  r.kind = s.kind;
  r.params = s.params;
  r.state = st;
  return r;
}

std::vector<std::string> kinds(const std::vector<PlannedStep>& plan) {
  std::vector<std::string> out;
  for (const auto& s : plan) {
    std::string k = s.kind;
    if (s.kind == "projquota") k += " " + s.params.value("owner", "");
    if (s.kind == "rootfs") k += " " + s.params.value("container", "");
    out.push_back(k);
  }
  return out;
}

TEST(ProjectQuotaPlan, StepsBeforeEachRootfsAndAfterTheEmptyDirWithASizeLimit) {
  specs::PodSpec pod = parsePod(kPod);
  reconcilers::Paths paths;
  paths.stateDir = "/s";
  FakeProjectQuota q;
  ProjectQuotas quotas(std::make_unique<FakeProjectQuota>(), {true, "test"}, {500, 599});
  std::vector<PlannedStep> plan = {{"poddir", {{"path", "/s/pods/u1"}}},
                                   {"emptydir", {{"path", "/s/pods/u1/volumes/scratch"}}},
                                   {"emptydir", {{"path", "/s/pods/u1/volumes/cache"}}},
                                   {"emptydir", {{"path", "/s/pods/u1/volumes/shm"}}},
                                   {"rootfs", {{"container", "init"}}},
                                   {"rootfs", {{"container", "a"}}},
                                   {"rootfs", {{"container", "b"}}},
                                   {"shim", {}}};
  // Default 1Gi: every container is bounded; the memory emptyDir and the one without a
  // sizeLimit are not.
  const int64_t def = int64_t{1} << 30;
  EXPECT_EQ(countQuotaSteps(pod, def), 4u);
  EXPECT_EQ(countQuotaSteps(pod, 0), 2u);
  std::vector<state::JournalRow> journal;  // another pod holds 500
  journal.push_back(row("other", {"projquota", {{"projectId", 500}, {"owner", "container x"}}}));
  ASSERT_TRUE(quotas.plan(plan, paths, pod, "u1", def, journal).ok());
  EXPECT_EQ(kinds(plan),
            (std::vector<std::string>{"poddir", "emptydir", "projquota emptyDir scratch",
                                      "emptydir", "emptydir", "projquota container init",
                                      "rootfs init", "projquota container a", "rootfs a",
                                      "projquota container b", "rootfs b", "shim"}));
  EXPECT_EQ(plan[5].params,
            (nlohmann::json{{"podDir", "/s/pods/u1"},
                            {"projectId", 501},
                            {"limitBytes", def},
                            {"owner", "container init"},
                            {"dirs",
                             {{{"path", "containers/init/upper"}, {"mode", 0755}},
                              {{"path", "containers/init/work"}, {"mode", 0700}}}}}));
  EXPECT_EQ(plan[7].params["projectId"], 502);
  EXPECT_EQ(plan[7].params["limitBytes"], 10 << 20);
  EXPECT_EQ(plan[2].params["projectId"], 504);
  EXPECT_EQ(plan[2].params["limitBytes"], 4 << 20);
  EXPECT_EQ(plan[2].params["dirs"][0]["path"], "volumes/scratch");
}

TEST(ProjectQuotaPlan, NothingWithoutQuotasAndAJournalErrorFailsOnlyWhenIdsAreNeeded) {
  specs::PodSpec pod = parsePod(kPod);
  reconcilers::Paths paths;
  ProjectQuotas off(std::make_unique<FakeProjectQuota>(), {false, "no"}, {});
  std::vector<PlannedStep> plan = {{"rootfs", {{"container", "a"}}}};
  ASSERT_TRUE(off.plan(plan, paths, pod, "u", 0, std::vector<state::JournalRow>{}).ok());
  EXPECT_EQ(plan.size(), 1u);
  ProjectQuotas on(std::make_unique<FakeProjectQuota>(), {true, "yes"}, {});
  Result<std::vector<state::JournalRow>> broken = makeError("database is locked");
  Status st = on.plan(plan, paths, pod, "u", 0, broken);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("database is locked"), std::string::npos);
  specs::PodSpec unbounded = parsePod("  containers:\n  - {name: a, image: busybox}\n");
  EXPECT_TRUE(on.plan(plan, paths, unbounded, "u", 0, broken).ok());
}

TEST(ProjectQuotaPlan, ARestartReadoptsJournaledIdsAndAfterACrashBeforeJournalingTheyAreFree) {
  specs::PodSpec pod = parsePod("  containers:\n  - {name: a, image: busybox}\n");
  reconcilers::Paths paths;
  std::vector<state::JournalRow> journal;
  {
    ProjectQuotas first(std::make_unique<FakeProjectQuota>(), {true, "x"}, {10, 20});
    std::vector<PlannedStep> plan = {{"rootfs", {{"container", "a"}}}};
    ASSERT_TRUE(first.plan(plan, paths, pod, "u1", 1 << 20, journal).ok());
    journal.push_back(row("u1", plan[0], state::StepState::Intent));  // then boxd is killed
    std::vector<PlannedStep> plan2 = {{"rootfs", {{"container", "a"}}}};
    ASSERT_TRUE(first.plan(plan2, paths, pod, "u2", 1 << 20, journal).ok());
    EXPECT_EQ(plan2[0].params["projectId"], 11);  // held, never journaled: dies with boxd
  }
  ProjectQuotas restarted(std::make_unique<FakeProjectQuota>(), {true, "x"}, {10, 20});
  std::vector<PlannedStep> plan = {{"rootfs", {{"container", "a"}}}};
  ASSERT_TRUE(restarted.plan(plan, paths, pod, "u3", 1 << 20, journal).ok());
  EXPECT_EQ(plan[0].params["projectId"], 11)
      << "10 is re-adopted from its intent row (undone at start, then freed); 11 was never used";
  EXPECT_EQ(projectIdOfRow("projquota", journal[0].params), 10u);
  EXPECT_EQ(projectIdOfRow("rootfs", journal[0].params), 0u);
}

// ---- the step: golden call sequences ----------------------------------------------------------

struct StepFixture {
  TempDir root{"quota-step"};
  FakeProjectQuota q{root.path()};
  std::string podDir = root / "pods/u1";
  reconcilers::ProjectQuotaParams params() {
    return {podDir,
            1500000000,
            10 << 20,
            "container app",
            {{"containers/app/upper", 0755}, {"containers/app/work", 0700}}};
  }
  StepFixture() { EXPECT_TRUE(mkdirAll(podDir, 0700).ok()); }
};

int modeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

TEST(ProjectQuotaStep, ApplyTagsEachDirThenSetsTheLimitAndIsIdempotent) {
  StepFixture f;
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  ASSERT_TRUE(step.apply().ok());
  EXPECT_EQ(f.q.calls, (std::vector<std::string>{
                           "getxattr pods/u1/containers/app/upper",
                           "setxattr pods/u1/containers/app/upper project=1500000000 inherit",
                           "getxattr pods/u1/containers/app/work",
                           "setxattr pods/u1/containers/app/work project=1500000000 inherit",
                           "setquota 1500000000 hard=10485760"}));
  EXPECT_EQ(modeOf(f.podDir + "/containers/app/upper"), 0755);
  EXPECT_EQ(modeOf(f.podDir + "/containers/app/work"), 0700);
  auto present = step.observe();
  ASSERT_TRUE(present.ok());
  EXPECT_TRUE(*present);

  f.q.calls.clear();
  ASSERT_TRUE(step.apply().ok());
  EXPECT_EQ(f.q.calls, (std::vector<std::string>{"getxattr pods/u1/containers/app/upper",
                                                 "getxattr pods/u1/containers/app/work",
                                                 "setquota 1500000000 hard=10485760"}))
      << "already tagged: only the limit is set again";
}

TEST(ProjectQuotaStep, UndoClearsTheLimitThenRemovesTheDirsAndIsIdempotent) {
  StepFixture f;
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  ASSERT_TRUE(step.apply().ok());
  std::ofstream(f.podDir + "/containers/app/upper/file") << "data";
  f.q.calls.clear();
  ASSERT_TRUE(step.undo().ok());
  EXPECT_EQ(f.q.calls, (std::vector<std::string>{"setquota 1500000000 hard=0"}));
  EXPECT_EQ(f.q.limits[1500000000], 0);
  EXPECT_EQ(modeOf(f.podDir + "/containers/app/upper"), -1) << "no inode keeps the ID";
  EXPECT_EQ(modeOf(f.podDir + "/containers/app/work"), -1);
  EXPECT_EQ(modeOf(f.podDir), 0700) << "the pod dir is the poddir step's";
  ASSERT_TRUE(step.undo().ok()) << "undo of what is gone";
  auto present = step.observe();
  ASSERT_TRUE(present.ok());
  EXPECT_FALSE(*present);
}

TEST(ProjectQuotaStep, UndoAfterQuotasWentAwayStillRemovesTheDirs) {
  for (int err : {ESRCH, ENOSYS, EINVAL}) {
    StepFixture f;
    reconcilers::ProjectQuotaStep step(f.q, f.params());
    ASSERT_TRUE(step.apply().ok());
    f.q.failOp("setquota", err);
    ASSERT_TRUE(step.undo().ok()) << err;
    EXPECT_EQ(modeOf(f.podDir + "/containers/app/upper"), -1);
  }
  StepFixture f;  // any other error keeps the row (and the ID) to retry
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  ASSERT_TRUE(step.apply().ok());
  f.q.failOp("setquota", EIO);
  Status st = step.undo();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("clear project quota 1500000000 of container app"),
            std::string::npos)
      << st.error().message;
  EXPECT_EQ(modeOf(f.podDir + "/containers/app/upper"), 0755) << "kept until the limit is gone";
}

TEST(ProjectQuotaStep, ApplyFailuresNameTheProjectAndTheDir) {
  StepFixture f;
  f.q.failOp("setxattr", EOPNOTSUPP);
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  Status st = step.apply();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("project quota 1500000000 of container app on " + f.podDir +
                                    "/containers/app/upper"),
            std::string::npos)
      << st.error().message;
  EXPECT_EQ(f.q.calls.back(), "setxattr pods/u1/containers/app/upper project=1500000000 inherit")
      << "no limit without the tag";
}

TEST(ProjectQuotaStep, NeverFollowsASymlinkBeneathThePodDir) {
  StepFixture f;
  TempDir outside("quota-outside");
  ASSERT_TRUE(mkdirAll(f.podDir + "/containers/app", 0755).ok());
  ASSERT_EQ(::symlink(outside.path().c_str(), (f.podDir + "/containers/app/upper").c_str()), 0);
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  Status st = step.apply();
  ASSERT_FALSE(st.ok());
  for (const auto& c : f.q.calls) EXPECT_EQ(c.find("setxattr"), std::string::npos) << c;
  EXPECT_EQ(modeOf(outside.path()), 0700) << "the target is untouched";
}

TEST(ProjectQuotaStep, RebuiltFromItsJournalRow) {
  StepFixture f;
  reconcilers::ProjectQuotaStep step(f.q, f.params());
  nlohmann::json params = step.params();
  boxd::testing::FakeMounter mounter;
  auto cg =
      reconcilers::makeCgroupsV2(f.root / "cg", std::make_shared<boxd::testing::FakeCgroupFs>());
  reconcilers::Host host{{}, mounter, *cg, nullptr, &f.q};
  auto rebuilt = reconcilers::stepFromJournal("projquota", params, host);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  EXPECT_EQ((*rebuilt)->params(), params);
  EXPECT_EQ((*rebuilt)->resource(), "project 1500000000 (container app)");
  params["projectId"] = 0;
  EXPECT_FALSE(reconcilers::stepFromJournal("projquota", params, host).ok());
  host.projectQuota = nullptr;
  EXPECT_FALSE(reconcilers::stepFromJournal("projquota", step.params(), host).ok());
}

// ---- usage from the quota, eviction ---------------------------------------------------------

TEST(ProjectQuotaUsage, ReadFromTheQuotaAndReachingTheHardLimitEvicts) {
  TempDir t("quota-usage");
  specs::PodSpec pod = parsePod(kPod);
  reconcilers::Paths paths;
  paths.stateDir = t.path();
  StorageTargets targets = storageTargets(paths, pod, "u1");
  ASSERT_TRUE(mkdirAll(t / "pods/u1/logs", 0755).ok());
  std::ofstream(t / "pods/u1/logs/a.log") << std::string(8192, 'x');
  std::vector<state::JournalRow> rows;
  rows.push_back(row("u1", {"projquota", {{"projectId", 7}, {"owner", "container a"}}}));
  rows.push_back(row("u1", {"projquota", {{"projectId", 8}, {"owner", "emptyDir scratch"}}}));
  rows.push_back(row("u1", {"projquota", {{"projectId", 9}, {"owner", "container b"}}},
                     state::StepState::Intent));
  applyProjectIds(targets, rows);
  EXPECT_EQ(targets.containerProjects, (std::map<std::string, uint32_t>{{"a", 7}}));
  EXPECT_EQ(targets.emptyDirProjects, (std::map<std::string, uint32_t>{{"scratch", 8}}));

  FakeProjectQuota q;
  q.limits = {{7, 10 << 20}, {8, 4 << 20}};
  q.usage = {{7, 3 << 20}, {8, 1 << 20}};
  StorageUsage u = measureStorage(targets, 1000, &q);
  EXPECT_EQ(q.calls, (std::vector<std::string>{"getquota 7", "getquota 8"}));
  EXPECT_GE(u.containers["a"], (3 << 20) + 8192) << "the quota's bytes plus its logs";
  EXPECT_EQ(u.emptyDirs["scratch"], 1 << 20);
  EXPECT_TRUE(u.atQuota.empty());
  EXPECT_FALSE(judgeStorage(pod, u, 0));

  q.usage[7] = (10 << 20) - 4096;  // one block left: not yet
  u = measureStorage(targets, 1000, &q);
  EXPECT_TRUE(u.atQuota.empty());
  q.usage[7] = 10 << 20;  // the hard limit: the next write fails with EDQUOT
  q.usage[8] = 4 << 20;
  u = measureStorage(targets, 1000, &q);
  EXPECT_EQ(u.atQuota, (std::set<std::string>{"container a", "emptyDir scratch"}));
  auto e = judgeStorage(pod, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"4Mi\".");
  q.usage[8] = 0;
  u = measureStorage(targets, 1000, &q);
  e = judgeStorage(pod, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Container a exceeded its local ephemeral storage limit \"10Mi\".");
  EXPECT_EQ(e->container, "a");
}

TEST(ProjectQuotaUsage, AFailedQuotaReadIsWalkedInsteadAndSaysSo) {
  TempDir t("quota-walk");
  specs::PodSpec pod = parsePod(kPod);
  reconcilers::Paths paths;
  paths.stateDir = t.path();
  StorageTargets targets = storageTargets(paths, pod, "u1");
  targets.emptyDirProjects["scratch"] = 8;
  ASSERT_TRUE(mkdirAll(t / "pods/u1/volumes/scratch", 0777).ok());
  std::ofstream(t / "pods/u1/volumes/scratch/f") << std::string(5 << 20, 'x');
  FakeProjectQuota q;
  q.failOp("getquota", ESRCH);
  StorageUsage u = measureStorage(targets, 1000, &q);
  EXPECT_GE(u.emptyDirs["scratch"], 5 << 20);
  EXPECT_NE(u.error.find("emptyDir scratch, walked instead"), std::string::npos) << u.error;
  auto e = judgeStorage(pod, u, 0);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "Usage of EmptyDir volume \"scratch\" exceeds the limit \"4Mi\".");
}

TEST(ProjectQuotaDescribe, SaysWhichPathAPodIsOn) {
  EXPECT_EQ(ephemeralStorageMode({}), "measured every resync");
  std::vector<state::JournalRow> rows;
  rows.push_back(row("u", {"rootfs", {}}));
  rows.push_back(row("u", {"projquota", {{"projectId", 5}, {"owner", "container a"}}}));
  rows.push_back(row("u", {"projquota", {{"projectId", 6}, {"owner", "emptyDir s"}}}));
  EXPECT_EQ(ephemeralStorageMode(rows),
            "enforced by project quota (project 5, 6; logs measured every resync)");
}

// ---- config ----------------------------------------------------------------------------------

TEST(ProjectQuotaConfig, RangeAndSwitch) {
  TempDir t("quota-config");
  auto load = [&](const std::string& yaml, Config& cfg) {
    std::ofstream(t / "boxd.yaml") << yaml;
    return loadConfigFile(t / "boxd.yaml", cfg);
  };
  Config cfg;
  EXPECT_TRUE(cfg.projectQuota);
  EXPECT_EQ(cfg.projectQuotaIdMin, 1500000000u);
  ASSERT_TRUE(load("projectQuota: false\nprojectQuotaIds: 2000-2999\n", cfg).ok());
  EXPECT_FALSE(cfg.projectQuota);
  EXPECT_EQ(cfg.projectQuotaIdMin, 2000u);
  EXPECT_EQ(cfg.projectQuotaIdMax, 2999u);
  for (const char* bad : {"0-10", "10-5", "x-9", "5", "1-4294967295", "-5"}) {
    Config c;
    Status st = load(std::string("projectQuotaIds: \"") + bad + "\"\n", c);
    EXPECT_FALSE(st.ok()) << bad;
    if (!st.ok()) {
      EXPECT_NE(st.error().message.find("projectQuotaIds"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace boxd::agent
