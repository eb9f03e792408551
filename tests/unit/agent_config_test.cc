// Config into containers: $(VAR) expansion, env from ConfigMaps / Secrets / the downward API,
// the files of config volumes, and their atomic layout on disk.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config_refs.h"
#include "agent/config_volumes.h"
#include "agent/env_expand.h"
#include "agent/pod_plan.h"
#include "common/util.h"
#include "specs/parse.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using Lines = std::vector<std::string>;

std::string expand(std::string_view in) {
  return expandVars(in, [](const std::string& n) -> std::optional<std::string> {
    if (n == "A") return "apple";
    if (n == "EMPTY") return "";
    return std::nullopt;
  });
}

TEST(EnvExpand, KubernetesRules) {
  EXPECT_EQ(expand("$(A)"), "apple");
  EXPECT_EQ(expand("x$(A)y$(A)"), "xappleyapple");
  EXPECT_EQ(expand("$(MISSING)"), "$(MISSING)") << "unknown references stay as written";
  EXPECT_EQ(expand("$$(A)"), "$(A)") << "$$ escapes";
  EXPECT_EQ(expand("$$$(A)"), "$apple");
  EXPECT_EQ(expand("$$"), "$");
  EXPECT_EQ(expand("$A $x"), "$A $x");
  EXPECT_EQ(expand("$(A"), "$(A") << "unterminated";
  EXPECT_EQ(expand("$($(A))"), "$($(A))") << "the name is everything up to the first ')'";
  EXPECT_EQ(expand("$()"), "$()");
  EXPECT_EQ(expand("$(EMPTY)|"), "|");
  EXPECT_EQ(expand("end$"), "end$");
}

specs::PodSpec podOf(const std::string& yaml) {
  specs::ParseResult r = specs::parseSpecFile("p.yaml", yaml);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r.pods.empty() ? specs::PodSpec{} : r.pods[0].spec;
}

struct Objects {
  std::map<std::string, specs::ConfigMap> configMaps;
  std::map<std::string, specs::Secret> secrets;
  ConfigContext ctx() const {
    ConfigContext c;
    c.configMaps = &configMaps;
    c.secrets = &secrets;
    c.uid = "0f1e2d3c-aaaa-bbbb-cccc-000000000001";
    c.podIp = "10.88.0.7";
    c.hostIp = "192.0.2.1";
    c.nodeName = "node-a";
    c.nodeCpuMilli = 2000;
    c.nodeMemoryBytes = int64_t{4} << 30;
    return c;
  }
};

Objects sample() {
  Objects o;
  specs::ConfigMap cm;
  cm.name = "game";
  cm.data = {{"lives", "3"}, {"game.properties", "a=b\n"}, {"1bad", "x"}};
  cm.binaryData = {{"logo", std::string("\0\xff", 2)}};
  o.configMaps["game"] = cm;
  specs::Secret s;
  s.name = "db";
  s.data = {{"password", "hunter2"}, {"user", "admin"}};
  o.secrets["db"] = s;
  return o;
}

const char* kPod = R"Y(apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web, tier: "front"}, annotations: {note: "say \"hi\""}}
spec:
  containers:
  - name: c
    image: busybox
    resources: {limits: {cpu: 250m, memory: 64Mi}}
    command: [sh, -c, "echo $(GREETING) $(LIVES) $$(HOME) $(NOPE)"]
    args: ["$(GAME_lives)"]
    envFrom:
    - configMapRef: {name: game}
      prefix: GAME_
    env:
    - {name: GREETING, value: "hi-$(GAME_lives)-$(LATER)"}
    - name: LIVES
      valueFrom: {configMapKeyRef: {name: game, key: lives}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    - name: OPT
      valueFrom: {secretKeyRef: {name: absent, key: x, optional: true}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: UID
      valueFrom: {fieldRef: {fieldPath: metadata.uid}}
    - name: CPU_M
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
    - name: MEM_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: CPU_REQ
      valueFrom: {resourceFieldRef: {resource: requests.cpu}}
    - {name: LATER, value: late}
)Y";

TEST(ContainerConfig, EnvInKubernetesOrderWithExpansion) {
  Objects o = sample();
  specs::PodSpec pod = podOf(kPod);
  auto cfg = containerConfig(pod, pod.containers[0], o.ctx());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->env,
            (Lines{"HOSTNAME=web", "GAME_1bad=x", "GAME_lives=3", "GREETING=hi-3-$(LATER)",
                   "LIVES=3", "PASSWORD=hunter2", "APP=web", "POD_IP=10.88.0.7", "NODE=node-a",
                   "UID=0f1e2d3c-aaaa-bbbb-cccc-000000000001", "CPU_M=250", "MEM_MI=64",
                   "CPU_REQ=1", "LATER=late"}))
      << "GAME_game.properties is not a C identifier: skipped";
  EXPECT_EQ(cfg->skippedKeys, (Lines{"GAME_game.properties"}));
  EXPECT_EQ(cfg->argv, (Lines{"sh", "-c", "echo hi-3-$(LATER) 3 $(HOME) $(NOPE)", "3"}));
}

TEST(ContainerConfig, MissingObjectsAndKeysNameThemNeverValues) {
  Objects o = sample();
  specs::PodSpec pod = podOf(kPod);
  o.secrets["db"].data.erase("password");
  auto cfg = containerConfig(pod, pod.containers[0], o.ctx());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message, "couldn't find key password in Secret default/db (env PASSWORD)");
  o.configMaps.clear();
  cfg = containerConfig(pod, pod.containers[0], o.ctx());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message, "configmap \"game\" not found (envFrom)");
}

// env reads a ConfigMap's data only (as kubelet): a key under binaryData is missing, and the
// message says where it is. The same words as `boxctl validate` (missingKeyMessage).
TEST(ContainerConfig, AKeyUnderBinaryDataIsMissingForEnv) {
  Objects o = sample();
  specs::PodSpec pod = podOf(R"(apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
  - name: c
    image: busybox
    env: [{name: LOGO, valueFrom: {configMapKeyRef: {name: game, key: logo}}}]
)");
  ConfigContext ctx = o.ctx();
  ctx.namespaceName = "team-a";
  std::map<std::string, specs::ConfigMap> inTeamA;
  for (auto& [key, cm] : o.configMaps) inTeamA[specs::objectKey("team-a", key)] = cm;
  ctx.configMaps = &inTeamA;
  auto cfg = containerConfig(pod, pod.containers[0], ctx);
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().message,
            "couldn't find key logo in ConfigMap team-a/game; it is under binaryData, which env "
            "does not read (env LOGO)");
  EXPECT_EQ(missingKeyMessage(true, "", "db", "password"),
            "couldn't find key password in Secret default/db");
}

TEST(ConfigVolumeFiles, EachSourceAsKubernetesWritesIt) {
  Objects o = sample();
  specs::PodSpec pod = podOf(R"(apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web, tier: front}, annotations: {note: "say \"hi\""}}
spec:
  containers:
  - {name: c, image: busybox, resources: {limits: {memory: 64Mi}}}
  volumes:
  - name: cm
    configMap: {name: game, items: [{key: lives, path: conf/lives, mode: 0400}]}
  - name: all
    configMap: {name: game}
  - name: sec
    secret: {secretName: db}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
  - name: proj
    projected:
      sources:
      - secret: {name: db, items: [{key: user, path: u}]}
      - configMap: {name: missing, optional: true}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  - name: broken
    configMap: {name: game, items: [{key: nope, path: x}]}
)");
  ConfigContext ctx = o.ctx();
  auto files = [&](size_t i) { return configVolumeFiles(pod, pod.volumes.at(i), ctx); };
  EXPECT_EQ(files(0).value(), (VolumeFiles{{"conf/lives", {"3", 0400}}}));
  EXPECT_EQ(files(1).value(), (VolumeFiles{{"1bad", {"x", 0644}},
                                           {"game.properties", {"a=b\n", 0644}},
                                           {"lives", {"3", 0644}},
                                           {"logo", {std::string("\0\xff", 2), 0644}}}));
  EXPECT_EQ(files(2).value(),
            (VolumeFiles{{"password", {"hunter2", 0600}}, {"user", {"admin", 0600}}}));
  EXPECT_EQ(files(3).value(), (VolumeFiles{{"annotations", {"note=\"say \\\"hi\\\"\"", 0644}},
                                           {"labels", {"app=\"web\"\ntier=\"front\"", 0644}},
                                           {"mem", {"64", 0644}}}));
  EXPECT_EQ(files(4).value(), (VolumeFiles{{"name", {"web", 0644}}, {"u", {"admin", 0644}}}));
  ASSERT_FALSE(files(5).ok());
  EXPECT_EQ(files(5).error().message,
            "couldn't find key nope in ConfigMap default/game (volume broken, items)");
}

std::string readText(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? *r : "<" + r.error().message + ">";
}

std::string linkOf(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

TEST(ConfigVolumeWriter, AtomicLayoutAndUpdatesInPlace) {
  testing::TempDir dir("cfgvol");
  const uid_t me = ::getuid();
  VolumeFiles v1{{"app.conf", {"one", 0644}}, {"conf/a.yaml", {"a: 1", 0400}}};
  auto wrote = writeConfigVolume(dir.path(), v1, me);
  ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  EXPECT_TRUE(*wrote);
  std::string first = linkOf(dir / "..data");
  EXPECT_TRUE(startsWith(first, "..2")) << first;
  EXPECT_EQ(linkOf(dir / "app.conf"), "..data/app.conf");
  EXPECT_EQ(linkOf(dir / "conf"), "..data/conf");
  EXPECT_EQ(readText(dir / "conf/a.yaml"), "a: 1");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "conf/a.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u);

  auto again = writeConfigVolume(dir.path(), v1, me);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again) << "the same files: nothing written";
  EXPECT_EQ(linkOf(dir / "..data"), first);

  VolumeFiles v2{{"app.conf", {"two", 0644}}, {"new", {"n", 0644}}};
  ASSERT_TRUE(writeConfigVolume(dir.path(), v2, me).value());
  EXPECT_NE(linkOf(dir / "..data"), first);
  EXPECT_EQ(readText(dir / "app.conf"), "two");
  EXPECT_EQ(readText(dir / "new"), "n");
  EXPECT_NE(::access((dir / "conf").c_str(), F_OK), 0) << "a name no longer there is unlinked";
  EXPECT_NE(::access((dir / first).c_str(), F_OK), 0) << "the old version is removed";
}

TEST(ConfigVolumeWriter, RefusesToReplaceWhatItDidNotMake) {
  testing::TempDir dir("cfgvol");
  ASSERT_TRUE(writeFileAtomic(dir / "app.conf", "mine", 0644).ok());
  auto r = writeConfigVolume(dir.path(), {{"app.conf", {"x", 0644}}}, ::getuid());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(readText(dir / "app.conf"), "mine");
}

TEST(ConfigVolumePlan, SecretsOnATmpfsAndEveryConfigVolumeReadOnly) {
  specs::PodSpec pod = podOf(R"(apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec, readOnly: false}
  volumes:
  - {name: cm, configMap: {name: game}}
  - {name: sec, projected: {sources: [{secret: {name: db}}, {configMap: {name: game}}]}}
)");
  reconcilers::Paths paths;
  paths.stateDir = "/var/lib/boxd";
  PodPaths pp = podPaths(paths, "web", "0123456789abcdef");
  PlannedStep cm = volumeStep(pp, pod, pod.volumes[0]);
  EXPECT_EQ(cm.kind, "emptydir");
  EXPECT_EQ(cm.params["memory"], false);
  PlannedStep sec = volumeStep(pp, pod, pod.volumes[1]);
  EXPECT_EQ(sec.params["memory"], true) << "Secret data never goes to disk";
  EXPECT_EQ(sec.params["sizeBytes"], 5 << 20);
  auto mounts = containerMounts(pp, pod, pod.containers[0], false);
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_TRUE(mounts[0].readOnly);
  EXPECT_TRUE(mounts[1].readOnly) << "readOnly: false does not make a config volume writable";
  EXPECT_EQ(mounts[1].source, pp.dir + "/volumes/sec");
}

}  // namespace
}  // namespace boxd::agent
