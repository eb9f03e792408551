// The agent's pure logic: desired-state rules, spec snapshots, the create plan, boxctl output.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "agent/boxctl_format.h"
#include "agent/config.h"
#include "agent/desired.h"
#include "agent/pod_plan.h"
#include "agent/spec_source.h"
#include "common/hash.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

const char* kWeb = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: a
    image: busybox
    command: ["sleep", "3600"]
    resources:
      limits: {memory: 64Mi, cpu: 500m}
  - name: b
    image: busybox
    resources:
      limits: {memory: 32Mi, cpu: 250m}
)";

FileResult file(const std::string& name, const std::string& content) {
  return {name, specs::parseSpecFile(name, content)};
}

std::string podYaml(const std::string& name, const std::string& image = "busybox") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  containers:\n  - name: c\n    image: " + image + "\n";
}

TEST(Desired, ValidFilesGiveTheirPods) {
  LastGood lg;
  auto d = resolveDesired({file("web.yaml", kWeb), file("x.yaml", podYaml("x"))}, lg, {});
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.pods.size(), 2u);
  EXPECT_EQ(d.pods.at("web").sourceFile, "web.yaml");
  EXPECT_EQ(d.pods.at("web").spec.containers.size(), 2u);
}

TEST(Desired, BrokenFileKeepsItsLastGoodPods) {
  LastGood lg;
  auto first = resolveDesired({file("web.yaml", kWeb)}, lg, {});
  auto second = resolveDesired(
      {file("web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n")}, lg, {});
  ASSERT_EQ(second.errors.size(), 1u);
  EXPECT_EQ(second.errors[0].file, "web.yaml");
  ASSERT_EQ(second.pods.count("web"), 1u);
  EXPECT_EQ(second.pods.at("web").hash, first.pods.at("web").hash);
}

TEST(Desired, BrokenFileAfterRestartKeepsRecordedPods) {
  LastGood lg;
  std::map<std::string, DesiredPod> recorded;
  auto parsed = specs::parseSpecFile("web.yaml", kWeb);
  recorded["web"] = {parsed.pods[0].spec, specs::specHash(parsed.pods[0].spec), "web.yaml"};
  recorded["other"] = {parsed.pods[0].spec, "h", "other.yaml"};
  auto d = resolveDesired({file("web.yaml", "{{{")}, lg, recorded);
  EXPECT_EQ(d.pods.count("web"), 1u);
  EXPECT_EQ(d.pods.count("other"), 0u) << "other.yaml is gone: its pod goes";
}

TEST(Desired, RemovedFileRemovesItsPods) {
  LastGood lg;
  resolveDesired({file("web.yaml", kWeb)}, lg, {});
  auto d = resolveDesired({}, lg, {});
  EXPECT_TRUE(d.pods.empty());
  EXPECT_TRUE(lg.empty());
}

TEST(Desired, DuplicateNameReportsBothFilesAndKeepsTheRunningPod) {
  LastGood lg;
  std::map<std::string, DesiredPod> recorded;
  auto a = specs::parseSpecFile("a.yaml", podYaml("dup"));
  recorded["dup"] = {a.pods[0].spec, specs::specHash(a.pods[0].spec), "a.yaml"};
  auto d = resolveDesired({file("a.yaml", podYaml("dup")), file("b.yaml", podYaml("dup", "other"))},
                          lg, recorded);
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_NE(d.errors[0].errors[0].message.find("also declared in b.yaml"), std::string::npos);
  EXPECT_NE(d.errors[1].errors[0].message.find("also declared in a.yaml"), std::string::npos);
  ASSERT_EQ(d.pods.count("dup"), 1u);
  EXPECT_EQ(d.pods.at("dup").hash, recorded["dup"].hash);
}

TEST(Desired, DuplicateNameWithoutRunningPodCreatesNothing) {
  LastGood lg;
  auto d = resolveDesired({file("a.yaml", podYaml("dup")), file("b.yaml", podYaml("dup"))}, lg, {});
  EXPECT_EQ(d.pods.count("dup"), 0u);
  EXPECT_EQ(d.errors.size(), 2u);
}

void write(const std::string& path, const std::string& content) {
  ASSERT_TRUE(writeFileAtomic(path, content).ok());
}

TEST(SpecSource, IgnoresDotfilesAndLeftovers) {
  for (const char* n :
       {".web.yaml", "web.yaml~", "web.yaml.swp", "web.yaml.bak", "web.yaml.dpkg-old",
        "web.yaml.dpkg-new", "web.yaml.rpmnew", "README.md", "web"}) {
    EXPECT_FALSE(isSpecFileName(n)) << n;
  }
  for (const char* n : {"web.yaml", "web.yml", "web.json"}) EXPECT_TRUE(isSpecFileName(n)) << n;
}

TEST(SpecSource, ReadsPlainDirectory) {
  TempDir t;
  write(t / "web.yaml", kWeb);
  write(t / ".hidden.yaml", "x");
  write(t / "web.yaml~", "x");
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->files.size(), 1u);
  EXPECT_EQ(snap->files[0].name, "web.yaml");
  EXPECT_EQ(snap->files[0].hash, sha256Hex(kWeb));
  EXPECT_TRUE(startsWith(snap->revision, "sha256:"));
}

TEST(SpecSource, FollowsGitSyncLinkSwap) {
  TempDir t;
  ASSERT_TRUE(mkdirAll(t / ".worktrees/abc123").ok());
  ASSERT_TRUE(mkdirAll(t / ".worktrees/def456").ok());
  write(t / ".worktrees/abc123/web.yaml", podYaml("old"));
  write(t / ".worktrees/def456/web.yaml", podYaml("new"));
  ASSERT_EQ(::symlink(".worktrees/abc123", (t / "link").c_str()), 0);
  auto s1 = readSpecSnapshot(t / "link");
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->revision, "abc123");
  EXPECT_NE(s1->files.at(0).content.find("old"), std::string::npos);
  // git-sync's swap: a new link renamed over the old one.
  ASSERT_EQ(::symlink(".worktrees/def456", (t / "link.tmp").c_str()), 0);
  ASSERT_EQ(::rename((t / "link.tmp").c_str(), (t / "link").c_str()), 0);
  auto s2 = readSpecSnapshot(t / "link");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->revision, "def456");
  EXPECT_NE(s2->files.at(0).content.find("new"), std::string::npos);
}

TEST(SpecSource, FollowsConfigMapDataSwap) {
  TempDir t;
  ASSERT_TRUE(mkdirAll(t / "..2026_11_21_10_00_00.1").ok());
  write(t / "..2026_11_21_10_00_00.1/web.yaml", kWeb);
  ASSERT_EQ(::symlink("..2026_11_21_10_00_00.1", (t / "..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/web.yaml", (t / "web.yaml").c_str()), 0);
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  EXPECT_EQ(snap->revision, "..2026_11_21_10_00_00.1");
  ASSERT_EQ(snap->files.size(), 1u);
  EXPECT_EQ(snap->files[0].content, kWeb);
}

TEST(SpecSource, MissingDirIsAnError) {
  auto snap = readSpecSnapshot("/nonexistent/boxd-specs-" + randomHex(4));
  ASSERT_FALSE(snap.ok());
  EXPECT_NE(snap.error().message.find("resolve specs dir"), std::string::npos);
}

TEST(PodPlan, OrderedStepsWithEverythingUndoNeeds) {
  TempDir t;
  auto cg = reconcilers::makeCgroupsV1(t.path());
  reconcilers::Paths paths;
  paths.stateDir = "/var/lib/boxd";
  paths.runDir = "/run/boxd";
  auto parsed = specs::parseSpecFile("web.yaml", kWeb);
  ASSERT_TRUE(parsed.ok());
  auto plan = planPod(paths, *cg, parsed.pods[0].spec, "0123456789abcdef", {"/img/a", "/img/b"});
  std::vector<std::string> kinds;
  for (const auto& s : plan) kinds.push_back(s.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"poddir", "cgroup", "cgroup", "rootfs", "cgroup",
                                             "rootfs", "shim"}));
  EXPECT_EQ(plan[0].params["path"], "/var/lib/boxd/pods/0123456789abcdef");
  EXPECT_EQ(plan[1].params["rel"], "boxd/web-01234567");
  EXPECT_EQ(plan[1].params["limits"]["memoryBytes"], 96 * 1024 * 1024) << plan[1].params.dump();
  EXPECT_EQ(plan[2].params["rel"], "boxd/web-01234567/a");
  EXPECT_EQ(plan[3].params["lowers"], nlohmann::json::array({"/img/a"}));
  EXPECT_EQ(plan[3].params["container"], "a");
  EXPECT_EQ(plan[3].params["target"], "/var/lib/boxd/pods/0123456789abcdef/containers/a/rootfs");
  EXPECT_EQ(plan[6].params["socket"], "/run/boxd/shims/0123456789abcdef.sock");
  EXPECT_EQ(plan[6].params["hostname"], "web");
  EXPECT_EQ(plan[6].params["graceSeconds"], 30);
}

// Kubernetes has no pod spec field for pids: the node's podPidsLimit goes to the pod cgroup only.
TEST(PodPlan, PodPidsLimitOnThePodCgroupOnly) {
  TempDir t;
  auto cg = reconcilers::makeCgroupsV1(t.path());
  reconcilers::Paths paths;
  auto parsed = specs::parseSpecFile("web.yaml", kWeb);
  ASSERT_TRUE(parsed.ok());
  const auto& spec = parsed.pods[0].spec;
  auto plan = planPod(paths, *cg, spec, "0123456789abcdef", {"/img/a", "/img/b"}, {}, {}, 2048);
  EXPECT_EQ(plan[1].params["limits"]["pidsMax"], 2048) << plan[1].params.dump();
  EXPECT_FALSE(plan[2].params["limits"].contains("pidsMax")) << "containers share the pod's";
  auto unlimited = planPod(paths, *cg, spec, "0123456789abcdef", {"/img/a", "/img/b"});
  EXPECT_FALSE(unlimited[1].params["limits"].contains("pidsMax"));
  EXPECT_FALSE(podLimits(spec, 0).pidsMax);
  EXPECT_EQ(podLimits(spec, 100).pidsMax.value_or(0), 100);
}

TEST(PodPlan, ArgvAndEnv) {
  specs::Container c;
  EXPECT_EQ(containerArgv(c), std::vector<std::string>{"/bin/sh"});
  c.args = {"-c", "true"};
  EXPECT_EQ(containerArgv(c), (std::vector<std::string>{"-c", "true"}));
  c.command = {"sh"};
  EXPECT_EQ(containerArgv(c), (std::vector<std::string>{"sh", "-c", "true"}));
  specs::PodSpec p;
  p.name = "web";
  c.env = {{"A", "1"}};
  EXPECT_EQ(containerEnv(p, c), (std::vector<std::string>{"HOSTNAME=web", "A=1"}));
}

TEST(BoxctlFormat, StatusTableAndErrors) {
  nlohmann::json s = {{"specsDir", "/etc/boxd/specs"},
                      {"revision", "abc"},
                      {"nowMs", 100000},
                      {"pods",
                       {{{"name", "web"},
                         {"ready", "2/2"},
                         {"phase", "Running"},
                         {"reason", ""},
                         {"restarts", 1},
                         {"podIP", "10.88.0.5"},
                         {"createdAtMs", 40000},
                         {"containers", nlohmann::json::array()}},
                        {{"name", "db"},
                         {"ready", "0/1"},
                         {"phase", "Pending"},
                         {"reason", "ImageNotFound"},
                         {"restarts", 0},
                         {"createdAtMs", 99000},
                         {"containers", nlohmann::json::array()}}}},
                      {"specErrors",
                       {{{"file", "bad.yaml"},
                         {"error", "x"},
                         {"errors", {{{"text", "bad.yaml:3:5: spec: boom"}}}}}}}};
  std::string out = formatStatus(s);
  EXPECT_NE(out.find("specs: /etc/boxd/specs (revision abc)"), std::string::npos) << out;
  EXPECT_NE(out.find("NAME   READY   STATUS          RESTARTS   AGE   IP"), std::string::npos)
      << out;
  EXPECT_NE(out.find("web    2/2     Running         1          60s   10.88.0.5"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("db     0/1     ImageNotFound   0          1s    -"), std::string::npos)
      << out;
  EXPECT_NE(out.find("bad.yaml:3:5: spec: boom"), std::string::npos) << out;
}

TEST(BoxctlFormat, DescribeListsEachContainersMounts) {
  nlohmann::json p = {
      {"name", "web"},
      {"phase", "Running"},
      {"containers",
       {{{"name", "app"},
         {"state", "Running"},
         {"mounts",
          {{{"source", "/pods/u/volumes/e"},
            {"subPath", "s"},
            {"mountPath", "/d"},
            {"readOnly", true}},
           {{"source", "/pods/u/etc/hosts"}, {"subPath", ""}, {"mountPath", "/etc/hosts"}}}}}}},
      {"resources", nlohmann::json::array()},
      {"events", nlohmann::json::array()}};
  std::string out = formatDescribe(p);
  EXPECT_NE(out.find("    Mounts:    /pods/u/volumes/e/s -> /d (ro)\n"
                     "               /pods/u/etc/hosts -> /etc/hosts\n"),
            std::string::npos)
      << out;
}

TEST(BoxctlFormat, Ages) {
  EXPECT_EQ(formatAge(5000), "5s");
  EXPECT_EQ(formatAge(180000), "3m");
  EXPECT_EQ(formatAge(3 * 3600000), "3h");
  EXPECT_EQ(formatAge(5LL * 86400000), "5d");
}

TEST(Config, FileThenFlags) {
  TempDir t;
  write(t / "boxd.yaml", "specs: /srv/specs\nstateDir: /srv/state\nresyncSeconds: 5\n");
  Config cfg;
  std::string path = t / "boxd.yaml";
  const char* argv[] = {"boxd", "--config", path.c_str(), "--state-dir", "/x"};
  auto out = parseBoxdArgs(5, const_cast<char**>(argv), cfg);
  EXPECT_FALSE(out.exit) << out.message;
  EXPECT_EQ(cfg.specsDir, "/srv/specs");
  EXPECT_EQ(cfg.paths.stateDir, "/x");
  EXPECT_EQ(cfg.resyncSeconds, 5);
}

TEST(Config, RelativePathsBecomeAbsolute) {
  Config cfg;
  const char* argv[] = {"boxd", "--state-dir", "state", "--run-dir", "./run/../run2"};
  auto out = parseBoxdArgs(5, const_cast<char**>(argv), cfg);
  EXPECT_FALSE(out.exit) << out.message;
  std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(cfg.paths.stateDir, cwd + "/state");
  EXPECT_EQ(cfg.paths.runDir, cwd + "/run2");
}

TEST(Config, NetworkSection) {
  TempDir t;
  Config cfg;
  EXPECT_TRUE(cfg.network.enabled);
  EXPECT_EQ(cfg.network.bridge, "boxd0");
  write(t / "boxd.yaml",
        "network:\n  bridge: br-pods\n  subnet: 10.77.0.0/24\n  hostPorts: false\n"
        "  masquerade: false\n  nftTable: pods\n");
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.network.bridge, "br-pods");
  EXPECT_EQ(cfg.network.subnet, "10.77.0.0/24");
  EXPECT_FALSE(cfg.network.hostPorts);
  EXPECT_FALSE(cfg.network.masquerade);
  EXPECT_EQ(cfg.network.nftTable, "pods");
  write(t / "boxd.yaml", "logLevel: info\nnetwork:\n  bridg: x\n");
  Status st = loadConfigFile(t / "boxd.yaml", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            std::string(t / "boxd.yaml") + ":3:3: unknown key \"network.bridg\"");
  write(t / "boxd.yaml", "network:\n  bridge: a-very-long-bridge-name\n");
  EXPECT_FALSE(loadConfigFile(t / "boxd.yaml", cfg).ok());
}

TEST(Config, ResourceBounds) {
  TempDir t;
  Config cfg;
  EXPECT_EQ(cfg.podPidsLimit, 2048) << "podman's default";
  EXPECT_EQ(cfg.apiMaxConnections, 64);
  EXPECT_EQ(cfg.apiIdleTimeoutMs, 30000);
  EXPECT_EQ(cfg.eventsPerPod, 100);
  write(t / "boxd.yaml",
        "podPidsLimit: 500\napiMaxConnections: 8\napiIdleTimeoutSeconds: 0.5\n"
        "eventsPerPod: 20\ndeletedPodEventsSeconds: 60\neventsMaxRows: 1000\n");
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.podPidsLimit, 500);
  EXPECT_EQ(cfg.apiMaxConnections, 8);
  EXPECT_EQ(cfg.apiIdleTimeoutMs, 500);
  EXPECT_EQ(cfg.eventsPerPod, 20);
  EXPECT_EQ(cfg.deletedPodEventsMs, 60000);
  EXPECT_EQ(cfg.eventsMaxRows, 1000);
  for (const char* unlimited : {"podPidsLimit: 0\n", "podPidsLimit: -1\n"}) {
    write(t / "boxd.yaml", unlimited);
    ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
    EXPECT_EQ(cfg.podPidsLimit, 0) << unlimited;
  }
  for (const char* bad : {"podPidsLimit: -2\n", "apiMaxConnections: 0\n",
                          "apiIdleTimeoutSeconds: 0\n", "eventsPerPod: 0\n"}) {
    write(t / "boxd.yaml", bad);
    Status st = loadConfigFile(t / "boxd.yaml", cfg);
    EXPECT_FALSE(st.ok()) << bad;
  }
  write(t / "boxd.yaml", "podPidsLimit: -2\n");
  EXPECT_EQ(loadConfigFile(t / "boxd.yaml", cfg).error().message,
            std::string(t / "boxd.yaml") + ":1:1: podPidsLimit must be from -1 to 4194304");
}

TEST(Config, LogRotationSettings) {
  TempDir t;
  Config cfg;
  EXPECT_EQ(cfg.logMaxBytes, 10 << 20);
  EXPECT_EQ(cfg.logMaxFiles, 2);
  write(t / "boxd.yaml", "logMaxBytes: 1Mi\nlogMaxFiles: 3\n");
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.logMaxBytes, 1 << 20);
  EXPECT_EQ(cfg.logMaxFiles, 3);
  write(t / "boxd.yaml", "logMaxBytes: 65536\n");
  ASSERT_TRUE(loadConfigFile(t / "boxd.yaml", cfg).ok());
  EXPECT_EQ(cfg.logMaxBytes, 65536);
  for (const char* bad : {"logMaxBytes: 100\n", "logMaxBytes: lots\n", "logMaxFiles: 0\n"}) {
    write(t / "boxd.yaml", bad);
    Status st = loadConfigFile(t / "boxd.yaml", cfg);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.error().message.find("boxd.yaml:1:1: logMax"), std::string::npos)
        << st.error().message;
  }
}

TEST(Config, UnknownKeyNamesFileAndLine) {
  TempDir t;
  write(t / "boxd.yaml", "specs: /a\nbogus: 1\n");
  Config cfg;
  Status st = loadConfigFile(t / "boxd.yaml", cfg);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("boxd.yaml:2:1: unknown key \"bogus\""), std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace boxd::agent
