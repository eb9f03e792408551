// fsGroup in the agent: which volumes the planner walks (emptyDirs and read-write block
// filesystems; config volumes get the group when written; hostPath never), and the config
// volume writer's groups and modes (kubelet: files gain owner and group read).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config_volumes.h"
#include "agent/pod_plan.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "specs/parse.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

specs::PodSpec podOf(const std::string& context) {
  specs::ParseResult r = specs::parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  securityContext: )" + context + R"(
  containers:
  - name: c
    image: busybox
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory}}
  - {name: host, hostPath: {path: /srv}}
  - {name: cm, configMap: {name: game}}
  - {name: rw, iscsi: {targetPortal: 127.0.0.1, iqn: "iqn.2026-12.io.boxd:t", lun: 1}}
  - {name: ro, iscsi: {targetPortal: 127.0.0.1, iqn: "iqn.2026-12.io.boxd:t", lun: 2,
                       readOnly: true}}
)");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.errors[0].str());
  return r.ok() ? r.pods[0].spec : specs::PodSpec{};
}

std::vector<std::string> fsGroupSteps(const std::vector<PlannedStep>& plan) {
  std::vector<std::string> out;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].kind != "fsgroup") continue;
    const auto& p = plan[i].params;
    out.push_back(plan[i - 1].kind + " " + p["volume"].get<std::string>() + " " +
                  std::to_string(p["gid"].get<int64_t>()) + " " + p["policy"].get<std::string>());
  }
  return out;
}

TEST(FsGroupPlan, EmptyDirsAndReadWriteBlockVolumesAreWalkedAfterTheirSetUp) {
  reconcilers::Paths paths;
  auto cgroups = reconcilers::makeCgroupsV1("/nonexistent");
  const std::string uid = "0123456789abcdef0123456789abcdef";
  auto plan = planPod(paths, *cgroups, podOf("{fsGroup: 2000}"), uid, {"/lower"});
  EXPECT_EQ(fsGroupSteps(plan),
            (std::vector<std::string>{"emptydir scratch 2000 Always", "emptydir mem 2000 Always",
                                      "blockfs rw 2000 Always"}));
  for (const auto& s : plan) {
    if (s.kind == "fsgroup" && s.params["volume"] == "scratch") {
      EXPECT_EQ(s.params["path"], paths.podDir(uid) + "/volumes/scratch");
    }
    if (s.kind == "fsgroup" && s.params["volume"] == "rw") {
      auto fs = std::find_if(plan.begin(), plan.end(), [](const PlannedStep& p) {
        return p.kind == "blockfs" && p.params["volume"]["lun"] == 1;
      });
      ASSERT_NE(fs, plan.end());
      EXPECT_EQ(s.params["path"], fs->params["mountPath"]) << "the host-side block mount";
    }
  }
  auto onRoot = planPod(paths, *cgroups, podOf("{fsGroup: 0, fsGroupChangePolicy: OnRootMismatch}"),
                        uid, {"/l"});
  EXPECT_EQ(fsGroupSteps(onRoot).front(), "emptydir scratch 0 OnRootMismatch");
  for (const char* none : {"{}", "{fsGroupChangePolicy: OnRootMismatch}"}) {
    auto plain = planPod(paths, *cgroups, podOf(none), uid, {"/l"});
    EXPECT_TRUE(fsGroupSteps(plain).empty()) << none;
  }
}

struct stat statOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st;
}

TEST(FsGroupConfigVolume, FilesGetTheGroupAndGroupRead) {
  testing::TempDir dir("cfgvol");
  const uid_t me = ::getuid();
  const gid_t group = ::geteuid() == 0 ? 54321 : ::getegid();
  VolumeFiles files{{"app.conf", {"one", 0644}}, {"conf/key", {"k", 0600}}, {"x", {"x", 0400}}};
  auto wrote = writeConfigVolume(dir.path(), files, me, group);
  ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  EXPECT_TRUE(*wrote);
  EXPECT_EQ(statOf(dir / "app.conf").st_mode & 07777, 0644u);
  EXPECT_EQ(statOf(dir / "conf/key").st_mode & 07777, 0640u) << "defaultMode | 0440";
  EXPECT_EQ(statOf(dir / "x").st_mode & 07777, 0440u);
  for (const char* p : {"app.conf", "conf/key", "x", "conf", "..data", "."}) {
    EXPECT_EQ(statOf(dir / p).st_gid, group) << p;
    EXPECT_EQ(statOf(dir / p).st_uid, me) << p;
  }
  EXPECT_EQ(statOf(dir / "conf").st_mode & 07777, 02755u);
  EXPECT_EQ(statOf(dir / "..data").st_mode & 07777, 02755u);
  EXPECT_EQ(statOf(dir.path()).st_mode & 07777, 02755u);
  auto again = writeConfigVolume(dir.path(), files, me, group);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "already as wanted: nothing written";
}

}  // namespace
}  // namespace boxd::agent
