// ConfigMap documents, documents of other kinds, the configMap / secret / downwardAPI /
// projected volumes, env valueFrom and envFrom, and the volume types boxd refuses as such.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

ParseResult parsed(std::string_view content) {
  ParseResult r = parseSpecFile("f.yaml", content);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  return r;
}

PodSpec podOf(std::string_view spec) {
  ParseResult r = parsed(podWith(spec));
  if (r.pods.size() != 1) {
    ADD_FAILURE() << "expected one pod";
    return {};
  }
  return r.pods[0].spec;
}

constexpr std::string_view kBox = "  containers: [{name: c, image: busybox}]\n";

TEST(SpecsConfig, ConfigMapDocument) {
  ParseResult r = parsed(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: game-config, labels: {app: game}}
immutable: true
data:
  player_initial_lives: "3"
  game.properties: |
    enemy.types=aliens,monsters
binaryData:
  logo.bin: AP8=
)");
  ASSERT_EQ(r.configMaps.size(), 1u);
  const ConfigMap& cm = r.configMaps[0].configMap;
  EXPECT_EQ(cm.name, "game-config");
  EXPECT_TRUE(cm.immutable);
  EXPECT_EQ(cm.data.at("player_initial_lives"), "3");
  EXPECT_EQ(cm.data.at("game.properties"), "enemy.types=aliens,monsters\n");
  EXPECT_EQ(cm.binaryData.at("logo.bin"), std::string("\0\xff", 2));
  EXPECT_FALSE(r.holdsSecret);
}

TEST(SpecsConfig, ConfigMapErrors) {
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: 1}\n"),
            Lines({"f.yaml:4:11: data.x: must be a string, got a number; quote it: \"1\""}));
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: a}\n"
                     "binaryData: {x: AA==}\n"),
            Lines({"f.yaml:4:7: binaryData.x: key \"x\" is also in data"}));
  // The walk ConfigMaps share with Secrets (specs/data_schema.cc), in a ConfigMap's words.
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: [x]\n"
                     "binaryData:\n  ok: AA==\n  bad: not*base64\n  a b: AA==\n"),
            Lines({"f.yaml:4:7: data: must be a mapping of strings, got a list",
                   "f.yaml:7:8: binaryData.bad: is not valid base64 (standard alphabet)",
                   "f.yaml:8:3: binaryData[\"a b\"]: key \"a b\" must be 1-253 of [-._a-zA-Z0-9], "
                   "not \".\" and not starting with \"..\""}));
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"),
            Lines({"f.yaml:7:18: metadata.name: duplicate configmap name \"a\" (first defined "
                   "at line 3)"}));
}

TEST(SpecsConfig, OtherKindsAreSkippedAndTheRestApplies) {
  ParseResult r = parsed(R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {minReplicas: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: c, image: busybox}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
)");
  ASSERT_EQ(r.pods.size(), 1u);
  std::vector<std::string> notes;
  for (const auto& d : r.skipped) notes.push_back(d.str());
  EXPECT_EQ(notes, Lines({"f.yaml:1:1: kind Service (v1) \"web\" is not run by boxd; skipped",
                          "f.yaml:6:1: kind HorizontalPodAutoscaler (autoscaling/v2) \"web\" is "
                          "not run by boxd; skipped",
                          "f.yaml:17:1: kind Ingress (networking.k8s.io/v1) \"web\" is not run by "
                          "boxd; skipped"}));
}

TEST(SpecsConfig, MisspeltKindIsAnError) {
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: pod\nmetadata: {name: a}\n"),
            Lines({"f.yaml:2:7: kind: boxd runs only Pods (and reads the Secrets and ConfigMaps "
                   "they name): kind must be \"Pod\", \"Secret\" or \"ConfigMap\", got \"pod\""}));
}

TEST(SpecsConfig, ConfigVolumes) {
  PodSpec p = podOf(std::string(kBox) + R"(  volumes:
  - name: cfg
    configMap:
      name: game-config
      defaultMode: 0440
      items: [{key: game.properties, path: conf/game.properties, mode: 0400}]
  - name: creds
    secret: {secretName: db-pass, optional: true}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: mem, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      defaultMode: 420
      sources:
      - configMap: {name: game-config}
      - secret: {name: db-pass, items: [{key: password, path: pw}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
)");
  ASSERT_EQ(p.volumes.size(), 4u);
  const ConfigVolume& cfg = *p.volumes[0].config;
  EXPECT_EQ(cfg.type, "configMap");
  EXPECT_EQ(cfg.defaultMode, 0440);
  ASSERT_EQ(cfg.sources.size(), 1u);
  EXPECT_EQ(cfg.sources[0].name, "game-config");
  EXPECT_EQ(cfg.sources[0].items[0].path, "conf/game.properties");
  EXPECT_EQ(cfg.sources[0].items[0].mode, 0400);
  const ConfigVolume& creds = *p.volumes[1].config;
  EXPECT_TRUE(creds.holdsSecret());
  EXPECT_TRUE(creds.sources[0].optional);
  EXPECT_EQ(creds.defaultMode, 0600) << "boxd's default for secret volumes";
  const ConfigVolume& info = *p.volumes[2].config;
  EXPECT_EQ(info.sources[0].fields[0].fieldPath, "metadata.labels");
  EXPECT_EQ(info.sources[0].fields[1].resource->divisor, 1 << 20);
  const ConfigVolume& all = *p.volumes[3].config;
  EXPECT_EQ(all.defaultMode, 0644);
  EXPECT_EQ(all.sources.size(), 3u);
  EXPECT_EQ(fromJson(toJson(p)).value(), p) << "the canonical JSON keeps every field";
}

TEST(SpecsConfig, ConfigVolumeErrors) {
  EXPECT_EQ(errorsOf(podWith(std::string(kBox) +
                             "  volumes:\n  - name: v\n    configMap:\n      name: x\n"
                             "      items: [{key: a, path: ../a}]\n")),
            Lines({"f.yaml:10:30: spec.volumes[0].configMap.items[0].path: must not start with "
                   "\"..\", got \"../a\""}));
  EXPECT_EQ(errorsOf(podWith(std::string(kBox) +
                             "  volumes:\n  - name: v\n    secret: {secretName: s, defaultMode: "
                             "01000}\n")),
            Lines({"f.yaml:8:42: spec.volumes[0].secret.defaultMode: must be a file mode between "
                   "0 and 0777, got \"01000\""}));
  EXPECT_EQ(errorsOf(podWith(std::string(kBox) +
                             "  volumes:\n  - name: v\n    projected:\n      sources:\n"
                             "      - serviceAccountToken: {path: token}\n")),
            Lines({"f.yaml:10:9: spec.volumes[0].projected.sources[0].serviceAccountToken: "
                   "service account tokens are not supported by boxd (there is no API server to "
                   "issue them)"}));
  EXPECT_EQ(
      errorsOf(podWith(std::string(kBox) +
                       "  volumes:\n  - name: v\n    downwardAPI:\n      items:\n"
                       "      - {path: x, resourceFieldRef: {containerName: nope, resource: "
                       "limits.cpu}}\n")),
      Lines({"f.yaml:10:53: spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName: "
             "container \"nope\" is not in the pod"}));
}

TEST(SpecsConfig, UnsupportedVolumeTypesGiveOneError) {
  for (std::string type : {"persistentVolumeClaim", "nfs", "gcePersistentDisk",
                           "awsElasticBlockStore", "cinder", "csi", "azureDisk", "glusterfs",
                           "cephfs", "fc", "flexVolume", "portworxVolume", "ephemeral"}) {
    Lines errs = errorsOf(
        podWith(std::string(kBox) + "  volumes:\n  - name: v\n    " + type + ": {server: x}\n"));
    ASSERT_EQ(errs.size(), 1u) << type;
    EXPECT_NE(errs[0].find("spec.volumes[0]." + type + ": volume type " + type +
                           " is not supported by boxd"),
              std::string::npos)
        << errs[0];
  }
}

TEST(SpecsConfig, EnvSources) {
  PodSpec p = podOf(R"Y(  containers:
  - name: c
    image: busybox
    resources: {limits: {cpu: 500m}}
    command: [sh, -c, "echo $(GREETING) $$(HOME)"]
    envFrom:
    - configMapRef: {name: game-config}
      prefix: GAME_
    - secretRef: {name: db-pass, optional: true}
    env:
    - {name: GREETING, value: hello}
    - name: LIVES
      valueFrom: {configMapKeyRef: {name: game-config, key: player_initial_lives}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db-pass, key: password, optional: true}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
    - name: IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}
)Y");
  const Container& c = p.containers[0];
  ASSERT_EQ(c.envFrom.size(), 2u);
  EXPECT_EQ(c.envFrom[0].prefix, "GAME_");
  EXPECT_TRUE(c.envFrom[1].secret);
  ASSERT_EQ(c.env.size(), 6u);
  EXPECT_FALSE(c.env[0].valueFrom);
  EXPECT_EQ(c.env[1].valueFrom->kind, EnvVarSource::Kind::ConfigMapKey);
  EXPECT_TRUE(c.env[2].valueFrom->optional);
  EXPECT_EQ(c.env[3].valueFrom->fieldPath, "metadata.labels['app']");
  EXPECT_EQ(c.env[5].valueFrom->resource.divisor, 1);
  EXPECT_EQ(fromJson(toJson(p)).value(), p);
}

TEST(SpecsConfig, EnvSourceErrors) {
  auto env = [](std::string_view item) {
    return podWith("  containers:\n  - name: c\n    image: busybox\n    env:\n    - " +
                   std::string(item) + "\n");
  };
  EXPECT_EQ(errorsOf(env("{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}")),
            Lines({"f.yaml:9:14: spec.containers[0].env[0].valueFrom: must not be set when value "
                   "is not empty"}));
  EXPECT_EQ(errorsOf(env("{name: A, valueFrom: {fieldRef: {fieldPath: spec.hostPID}}}")),
            Lines({"f.yaml:9:51: spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: field "
                   "\"spec.hostPID\" is not supported by boxd's downward API environment"}));
  EXPECT_EQ(errorsOf(env("{name: A, valueFrom: {}}")),
            Lines({"f.yaml:9:28: spec.containers[0].env[0].valueFrom: must set exactly one of "
                   "configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef"}));
}

TEST(SpecsConfig, AppArmorAnnotationsAreRefusedNotIgnored) {
  EXPECT_EQ(errorsOf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
                     "    container.apparmor.security.beta.kubernetes.io/c: runtime/default\n"
                     "spec:\n  containers: [{name: c, image: busybox}]\n"),
            Lines({"f.yaml:4:9: metadata.annotations.container.apparmor.security.beta.kubernetes."
                   "io/c: boxd does not apply AppArmor profiles, so it cannot run this container "
                   "confined by \"runtime/default\"; remove the annotation (or set it to "
                   "\"unconfined\")"}));
  parsed(
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
      "    container.apparmor.security.beta.kubernetes.io/c: unconfined\n"
      "spec:\n  containers: [{name: c, image: busybox}]\n");
}

}  // namespace
}  // namespace boxd::specs
