// Real manifests run unchanged: every file of tests/data/manifests (equivalents of Kubernetes
// documentation tasks, see its README) dropped into a specs dir. Each document runs and does what
// it is for, or is reported skipped or unsupported with its file:line. Then a ConfigMap is
// changed (the volume follows in place, the pod is not recreated), and a pod waits for a
// ConfigMap that appears later.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

const std::string kDir = std::string(BOXD_TEST_SOURCE_DIR) + "/tests/data/manifests";

class ManifestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  // As a user would: a file holding a Secret is chmod 600.
  void copyAll() {
    DIR* d = ::opendir(kDir.c_str());
    ASSERT_NE(d, nullptr);
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (!endsWith(name, ".yaml")) continue;
      auto text = readFile(kDir + "/" + name);
      ASSERT_TRUE(text.ok()) << name;
      bool secret = text->find("kind: Secret") != std::string::npos;
      ASSERT_TRUE(writeFileAtomic(b_.specs() + "/" + name, *text, secret ? 0600 : 0644).ok());
    }
    ::closedir(d);
  }
  std::string logs(const std::string& pod) { return b_.boxctl({"logs", pod}).out; }
  bool logsHave(const std::string& pod, const std::string& text, int ms = 20000) {
    return waitFor([&] { return logs(pod).find(text) != std::string::npos; }, ms);
  }
  std::string exec(const std::string& pod, const std::string& cmd) {
    return b_.boxctl({"exec", pod, "--", "sh", "-c", cmd}).out;
  }
  Boxd b_;
};

TEST_F(ManifestsTest, EveryDocumentRunsOrIsReported) {
  copyAll();
  for (const char* pod :
       {"cm-volume", "secret-env", "downward", "projected", "envfrom", "web-single"}) {
    EXPECT_TRUE(b_.waitPhase(pod, "Running", 30000)) << pod << "\n" << b_.status().dump(2);
  }
  EXPECT_TRUE(logsHave("cm-volume", "3\ndifficulty=hard\nenemies=bats,ghosts\n"))
      << logs("cm-volume");
  EXPECT_TRUE(logsHave("secret-env", "user=shop\npass-length=12\n")) << logs("secret-env");
  EXPECT_TRUE(logsHave("downward",
                       "tier=\"web\"\nzone=\"north\"\nowner=\"team-a\"\n32\n"
                       "name=downward ns=default cpu=250\n"))
      << logs("downward");
  EXPECT_TRUE(logsHave("projected", "blue\nprojected\napi-key\n")) << logs("projected");
  EXPECT_TRUE(logsHave("envfrom",
                       "summary=production/4/$(UNDEFINED)/$(APP_MODE)\n"
                       "arg=production\n"))
      << logs("envfrom");
  EXPECT_TRUE(logsHave("web-single", "serving\n"));

  // Config volumes are read-only, Secret files 0600 on a tmpfs.
  EXPECT_NE(exec("cm-volume", "touch /etc/game/x 2>&1").find("Read-only"), std::string::npos);
  EXPECT_EQ(exec("secret-env", "stat -L -c %a /creds/password; cat /creds/username"), "600\nshop");
  EXPECT_NE(exec("secret-env", "grep ' /creds ' /proc/mounts").find("tmpfs"), std::string::npos);
  EXPECT_EQ(exec("projected", "stat -L -c %a /all/creds/api-key"), "644\n")
      << "a projected volume keeps Kubernetes' 0644";

  nlohmann::json st = b_.status();
  std::string skipped;
  for (const auto& d : st["skipped"]) skipped += d["text"].get<std::string>() + "\n";
  EXPECT_EQ(skipped,
            "with-service.yaml:16:1: kind Service (v1) \"web\" is not run by boxd; skipped\n");
  int deploymentPods = 0;  // the Deployment runs (docs/workloads.md)
  for (const auto& p : st["pods"]) deploymentPods += p.value("owner", "") == "Deployment/web";
  EXPECT_EQ(deploymentPods, 2) << st.dump(2);
  std::string errors;
  for (const auto& f : st["specErrors"])
    for (const auto& d : f["errors"]) errors += d["text"].get<std::string>() + "\n";
  EXPECT_EQ(errors,
            "unsupported.yaml:13:5: spec.volumes[0].persistentVolumeClaim: volume type "
            "persistentVolumeClaim is not supported by boxd; boxd has no PersistentVolumeClaims: "
            "use an iscsi or rbd volume (or hostPath) in the pod itself\n");
  EXPECT_TRUE(b_.pod("on-claim").is_null());
  // No value of a Secret in boxd's log or in any event.
  EXPECT_EQ(b_.log().find("s3cr3t-value"), std::string::npos);
  EXPECT_EQ(b_.boxctl({"describe", "secret-env"}).out.find("s3cr3t"), std::string::npos);
}

TEST_F(ManifestsTest, ConfigMapChangesReachTheVolumeInPlace) {
  auto text = readFile(kDir + "/configmap-volume.yaml");
  ASSERT_TRUE(text.ok());
  b_.writeSpec("cm.yaml", *text);
  ASSERT_TRUE(b_.waitContainersRunning("cm-volume", 30000)) << b_.status().dump(2);
  std::string uid = b_.pod("cm-volume")["uid"];
  EXPECT_EQ(exec("cm-volume", "cat /etc/game/lives"), "3");
  std::string changed = *text;
  changed.replace(changed.find("lives: \"3\""), 10, "lives: \"9\"");
  b_.writeSpec("cm.yaml", changed);
  EXPECT_TRUE(waitFor([&] { return exec("cm-volume", "cat /etc/game/lives") == "9"; }, 30000))
      << exec("cm-volume", "ls -la /etc/game; cat /etc/game/lives");
  EXPECT_EQ(b_.pod("cm-volume")["uid"], uid) << "the pod is not recreated";
  EXPECT_EQ(b_.pod("cm-volume")["restarts"], 0);
}

TEST_F(ManifestsTest, AMissingConfigMapIsWaitedFor) {
  b_.writeSpec("late.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo got=$(COLOR); exec sleep 1000']
    env:
    - name: COLOR
      valueFrom: {configMapKeyRef: {name: colors, key: main}}
)");
  ASSERT_TRUE(waitFor(
      [&] { return b_.pod("late").value("reason", "") == "CreateContainerConfigError"; }, 20000))
      << b_.status().dump(2);
  EXPECT_EQ(b_.pod("late")["message"], "configmap \"colors\" not found (env COLOR)");
  b_.writeSpec("colors.yaml",
               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: colors}\ndata: {main: teal}\n");
  EXPECT_TRUE(b_.waitPhase("late", "Running", 30000)) << b_.status().dump(2);
  EXPECT_TRUE(logsHave("late", "got=teal\n")) << logs("late");

  // The last pod gone, boxd's cgroup parent goes too (in every hierarchy, v1 or v2).
  b_.removeSpec("late.yaml");
  ASSERT_TRUE(b_.waitGone("late", 20000));
  for (const std::string root :
       {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/pids"}) {
    std::string dir = root + "/" + b_.cgroupParent();
    EXPECT_TRUE(waitFor([&] { return ::access(dir.c_str(), F_OK) != 0; }, 5000)) << dir;
  }
}

}  // namespace
}  // namespace boxd::testing
