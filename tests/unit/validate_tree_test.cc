// boxctl validate: boxd's own per-file checks, the checks across files, and what the command
// prints and returns (the real boxctl binary, no boxd, no root).
#include "agent/validate_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "common/util.h"
#include "tests/integration/harness.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

std::string pod(const std::string& name, const std::string& extraContainer = "",
                const std::string& volumes = "") {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  containers:\n  - name: c\n    image: busybox\n" + extraContainer + volumes;
}

std::string secret(const std::string& name) {
  return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
         "\ntype: kubernetes.io/iscsi-chap\nstringData:\n  node.session.auth.username: u\n"
         "  node.session.auth.password: p\n";
}

std::string iscsiVolume(int lun, bool readOnly, const std::string& secretRef = "") {
  return "  volumes:\n  - name: d\n    iscsi:\n      targetPortal: 127.0.0.1:3260\n"
         "      iqn: iqn.2024-01.io.boxd:t\n      lun: " +
         std::to_string(lun) + "\n      readOnly: " + (readOnly ? "true" : "false") + "\n" +
         (secretRef.empty()
              ? ""
              : "      chapAuthSession: true\n      secretRef: {name: " + secretRef + "}\n");
}

std::string hostPort(int port) {
  return "    ports: [{containerPort: 80, hostPort: " + std::to_string(port) + "}]\n";
}

void write(const std::string& path, const std::string& content, mode_t mode = 0644) {
  ASSERT_TRUE(writeFileAtomic(path, content, mode).ok()) << path;
}

std::vector<std::string> texts(const ValidateReport& r) {
  std::vector<std::string> out;
  for (const auto& d : r.problems) out.push_back(d.str());
  return out;
}

TEST(ValidateTree, CleanDirectoryHasNoProblem) {
  TempDir t("val");
  write(t / "a.yaml", pod("a", hostPort(8080)));
  write(t / "b.yaml", pod("b", hostPort(8081)));
  write(t / "s.yaml", secret("chap"), 0600);
  write(t / "c.yaml", pod("c", "", iscsiVolume(1, false, "chap")));
  write(t / "README.md", "not a spec\n");  // not a spec name, and not a leftover of one
  ValidateReport r = validatePaths({t.path()});
  EXPECT_TRUE(r.problems.empty()) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.files, 4);
  EXPECT_EQ(r.pods, 3);
  EXPECT_EQ(r.secrets, 1);
}

TEST(ValidateTree, ParseErrorsCarryFileLineColumnAndField) {
  TempDir t("val");
  write(t / "a.yaml", pod("a", "    imagex: busybox\n"));
  ValidateReport r = validatePaths({t / "a.yaml"});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(
      r.problems[0].str(),
      t / "a.yaml" + ":9:5: spec.containers[0].imagex: unknown field; did you mean \"image\"?");
}

TEST(ValidateTree, DuplicatePodNamesAcrossFilesAreReportedAtEachDeclaration) {
  TempDir t("val");
  write(t / "a.yaml", pod("web"));
  write(t / "b.yaml", pod("other") + "---\n" + pod("web"));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 2u) << ::testing::PrintToString(texts(r));
  // At the field (the name's value); the other declaration by the line its document starts on.
  EXPECT_EQ(r.problems[0].str(), t / "a.yaml" +
                                     ":4:9: metadata.name: pod \"web\" is also declared at " +
                                     t / "b.yaml" + ":10; boxd applies neither");
  EXPECT_EQ(r.problems[1].file, t / "b.yaml");
  EXPECT_EQ(r.problems[1].line, 13);
}

TEST(ValidateTree, SecretRefNamingNoSecret) {
  TempDir t("val");
  write(t / "a.yaml", pod("a", "", iscsiVolume(1, false, "chap")));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 1u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].field, "spec.volumes[0].iscsi.secretRef");
  EXPECT_EQ(r.problems[0].message, "pod \"a\": no file declares Secret \"chap\"");
  // Declared in another path given on the same command line: resolved.
  TempDir s("val");
  write(s / "chap.yaml", secret("chap"), 0600);
  EXPECT_TRUE(validatePaths({t.path(), s.path()}).problems.empty());
}

TEST(ValidateTree, ImagePullSecretNamingNoSecret) {
  TempDir t("val");
  write(t / "a.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  imagePullSecrets:\n"
        "  - name: regcred\n  containers:\n  - name: c\n    image: busybox\n");
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 1u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].field, "spec.imagePullSecrets[0].name");
  EXPECT_EQ(r.problems[0].message, "pod \"a\": no file declares Secret \"regcred\"");
}

std::string configMap(const std::string& name, const std::string& ns = "") {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
         (ns.empty() ? "" : "\n  namespace: " + ns) + "\ndata:\n  k: v\n";
}

// Each place a pod names a ConfigMap, reported at the name's value unless optional: true
// (boxd would hold the pod in CreateContainerConfigError).
TEST(ValidateTree, ConfigMapReferencesNamingNoConfigMap) {
  TempDir t("val");
  write(
      t / "a.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n"
      "  containers:\n  - name: c\n    image: busybox\n"
      "    env:\n"
      "    - name: A\n      valueFrom: {configMapKeyRef: {name: env-cm, key: k}}\n"  // 11
      "    - name: B\n      valueFrom: {configMapKeyRef: {name: opt-cm, key: k, optional: true}}\n"
      "    envFrom:\n"
      "    - configMapRef: {name: from-cm}\n"  // 15
      "    - configMapRef: {name: opt-from-cm, optional: true}\n"
      "  volumes:\n"
      "  - name: v\n    configMap: {name: vol-cm}\n"  // 19
      "  - name: p\n    projected:\n      sources:\n"
      "      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}\n"
      "      - configMap: {name: proj-cm}\n"  // 24
      "      - configMap: {name: opt-proj-cm, optional: true}\n"
      "  - name: o\n    configMap: {name: opt-vol-cm, optional: true}\n");
  ValidateReport r = validatePaths({t.path()});
  const std::string f = t / "a.yaml";
  EXPECT_EQ(texts(r),
            (std::vector<std::string>{
                f + ":11:43: spec.containers[0].env[0].valueFrom.configMapKeyRef.name: pod \"a\": "
                    "no file declares ConfigMap \"env-cm\"",
                f + ":15:28: spec.containers[0].envFrom[0].configMapRef.name: pod \"a\": no file "
                    "declares ConfigMap \"from-cm\"",
                f + ":19:23: spec.volumes[0].configMap.name: pod \"a\": no file declares "
                    "ConfigMap \"vol-cm\"",
                f + ":24:27: spec.volumes[1].projected.sources[1].configMap.name: pod \"a\": no "
                    "file declares ConfigMap \"proj-cm\""}));
  // Declared in another path given on the same command line: resolved.
  TempDir c("val");
  write(c / "cms.yaml", configMap("env-cm") + "---\n" + configMap("from-cm") + "---\n" +
                            configMap("vol-cm") + "---\n" + configMap("proj-cm"));
  ValidateReport ok = validatePaths({t.path(), c.path()});
  EXPECT_TRUE(ok.problems.empty()) << ::testing::PrintToString(texts(ok));
  EXPECT_EQ(ok.pods, 1);
}

// Secrets and ConfigMaps serve the pods of their own namespace only, as in boxd; objects of one
// name in two namespaces are two objects, not a duplicate.
TEST(ValidateTree, ReferencesResolveInThePodsNamespaceOnly) {
  TempDir t("val");
  const std::string podA =
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: team-a\nspec:\n"
      "  imagePullSecrets:\n  - name: regcred\n"
      "  containers:\n  - name: c\n    image: busybox\n"
      "    envFrom:\n    - configMapRef: {name: settings}\n";
  write(t / "a.yaml", podA);
  write(t / "default.yaml", secret("regcred") + "---\n" + configMap("settings"), 0600);
  ValidateReport r = validatePaths({t.path()});
  EXPECT_EQ(
      texts(r),
      (std::vector<std::string>{
          t / "a.yaml" + ":8:11: spec.imagePullSecrets[0].name: pod \"team-a/web\": no file "
                         "declares Secret \"regcred\" in namespace \"team-a\"",
          t / "a.yaml" + ":13:28: spec.containers[0].envFrom[0].configMapRef.name: pod "
                         "\"team-a/web\": no file declares ConfigMap \"settings\" in namespace "
                         "\"team-a\""}));
  // The same names in team-a: resolved, and no duplicate with the default namespace's, nor
  // between the pods named web in two namespaces.
  std::string ownSecret = secret("regcred");
  ownSecret.replace(ownSecret.find("\ntype:"), 0, "\n  namespace: team-a");
  write(t / "team-a.yaml", ownSecret + "---\n" + configMap("settings", "team-a"), 0600);
  write(t / "b.yaml", pod("web"));
  ValidateReport ok = validatePaths({t.path()});
  EXPECT_TRUE(ok.problems.empty()) << ::testing::PrintToString(texts(ok));
  EXPECT_EQ(ok.pods, 2);
  EXPECT_EQ(ok.secrets, 2);
}

// Secrets a container or volume reads are checked as ConfigMaps are.
TEST(ValidateTree, SecretEnvAndVolumeReferencesNamingNoSecret) {
  TempDir t("val");
  write(t / "a.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n"
        "  containers:\n  - name: c\n    image: busybox\n"
        "    env:\n    - name: A\n      valueFrom: {secretKeyRef: {name: env-s, key: k}}\n"
        "    envFrom:\n    - secretRef: {name: opt-s, optional: true}\n"
        "  volumes:\n  - name: v\n    secret: {secretName: vol-s}\n");
  ValidateReport r = validatePaths({t.path()});
  const std::string f = t / "a.yaml";
  EXPECT_EQ(texts(r), (std::vector<std::string>{
                          f + ":11:40: spec.containers[0].env[0].valueFrom.secretKeyRef.name: pod "
                              "\"a\": no file declares Secret \"env-s\"",
                          f + ":16:26: spec.volumes[0].secret.secretName: pod \"a\": no file "
                              "declares Secret \"vol-s\""}));
}

// The ConfigMap and Secret the key tests read: keys in data, binaryData and stringData.
const char* kKeyObjects =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
    "data: {k: v}\nbinaryData: {bin: AP8=}\n---\n"
    "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
    "data: {d: c2VjcmV0}\nstringData: {sd: hunter2}\n";

// A key that a reference names and its object lacks is reported at the key, in the words boxd
// says at run time; optional references, and keys in binaryData (volumes) or stringData, pass.
TEST(ValidateTree, MissingKeysAreReportedAtTheKey) {
  TempDir t("val");
  write(t / "objects.yaml", kKeyObjects, 0600);
  write(
      t / "a.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n"
      "  containers:\n  - name: c\n    image: busybox\n    env:\n"
      "    - name: A\n      valueFrom: {configMapKeyRef: {name: cm, key: k}}\n"  // 11
      "    - name: B\n      valueFrom: {configMapKeyRef: {name: cm, key: nope}}\n"
      "    - name: C\n      valueFrom: {configMapKeyRef: {name: cm, key: bin}}\n"  // 15
      "    - name: D\n      valueFrom: {secretKeyRef: {name: s, key: d}}\n"
      "    - name: E\n      valueFrom: {secretKeyRef: {name: s, key: sd}}\n"  // 19
      "    - name: F\n      valueFrom: {secretKeyRef: {name: s, key: gone}}\n"
      "    - name: G\n      valueFrom: {secretKeyRef: {name: s, key: x, optional: true}}\n"
      "  volumes:\n"  // 24
      "  - name: v\n    configMap:\n      name: cm\n"
      "      items: [{key: k, path: k}, {key: bin, path: b}, {key: nope, path: nn}]\n"  // 28
      "  - name: w\n    secret:\n      secretName: s\n"
      "      items: [{key: sd, path: a}, {key: gone, path: b}]\n"  // 32
      "  - name: o\n    configMap: {name: cm, optional: true, items: [{key: x, path: x}]}\n"
      "  - name: p\n    projected:\n      sources:\n"
      "      - configMap: {name: cm, items: [{key: bin, path: b}, {key: nope, path: nn}]}\n"  // 38
      "      - secret: {name: s, items: [{key: gone, path: g}]}\n"
      "      - secret: {name: s, optional: true, items: [{key: x, path: x}]}\n");
  ValidateReport r = validatePaths({t.path()});
  const std::string f = t / "a.yaml";
  EXPECT_EQ(texts(r),
            (std::vector<std::string>{
                f + ":13:52: spec.containers[0].env[1].valueFrom.configMapKeyRef.key: pod \"a\": "
                    "couldn't find key nope in ConfigMap default/cm",
                f + ":15:52: spec.containers[0].env[2].valueFrom.configMapKeyRef.key: pod \"a\": "
                    "couldn't find key bin in ConfigMap default/cm; it is under binaryData, "
                    "which env does not read",
                f + ":21:48: spec.containers[0].env[5].valueFrom.secretKeyRef.key: pod \"a\": "
                    "couldn't find key gone in Secret default/s",
                f + ":28:61: spec.volumes[0].configMap.items[2].key: pod \"a\": couldn't find "
                    "key nope in ConfigMap default/cm",
                f + ":32:41: spec.volumes[1].secret.items[1].key: pod \"a\": couldn't find key "
                    "gone in Secret default/s",
                f + ":38:66: spec.volumes[3].projected.sources[0].configMap.items[1].key: pod "
                    "\"a\": couldn't find key nope in ConfigMap default/cm",
                f + ":39:41: spec.volumes[3].projected.sources[1].secret.items[0].key: pod \"a\": "
                    "couldn't find key gone in Secret default/s"}));
  for (const auto& d : r.problems) {
    EXPECT_EQ(d.message.find("c2VjcmV0"), std::string::npos) << d.str();
    EXPECT_EQ(d.message.find("hunter2"), std::string::npos) << d.str();
  }
}

// The keys of Job, CronJob and workload templates are checked where their other references are,
// in the template's namespace.
TEST(ValidateTree, MissingKeysOfTemplates) {
  TempDir t("val");
  write(t / "objects.yaml", kKeyObjects, 0600);
  const std::string env =
      "        env: [{name: A, valueFrom: {configMapKeyRef: {name: cm, key: nope}}}]\n";
  write(t / "job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: backup}\nspec:\n  template:\n"
        "    spec:\n      restartPolicy: Never\n"
        "      containers:\n      - name: c\n        image: busybox\n" +
            env);  // 11
  write(t / "cron.yaml",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec:\n"
        "  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          restartPolicy: Never\n"
        "          volumes: [{name: v, secret: {secretName: s, items: [{key: gone, path: g}]}}]\n"
        "          containers: [{name: c, image: busybox}]\n");  // 11
  write(t / "d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n"
        "      containers:\n      - name: c\n        image: busybox\n" +
            env);  // 13
  // In another namespace the same names are other objects: not found there, so no key problem.
  write(t / "ns.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team-a}\nspec:\n"
        "  containers:\n  - name: c\n    image: busybox\n"
        "    env: [{name: A, valueFrom: {configMapKeyRef: {name: cm, key: k}}}]\n");
  ValidateReport r = validatePaths({t.path()});
  EXPECT_EQ(
      texts(r),
      (std::vector<std::string>{
          t / "cron.yaml" +
              ":11:69: spec.jobTemplate.spec.template.spec.volumes[0].secret.items[0].key: "
              "cronjob \"nightly\": couldn't find key gone in Secret default/s",
          t / "d.yaml" +
              ":13:70: spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key: "
              "deployment \"web\": couldn't find key nope in ConfigMap default/cm",
          t / "job.yaml" +
              ":11:70: spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key: "
              "job \"backup\": couldn't find key nope in ConfigMap default/cm",
          t / "ns.yaml" +
              ":8:57: spec.containers[0].env[0].valueFrom.configMapKeyRef.name: pod "
              "\"team-a/p\": no file declares ConfigMap \"cm\" in namespace \"team-a\""}));
}

// A ConfigMap declared twice in one namespace: boxd uses neither.
TEST(ValidateTree, DuplicateConfigMapInOneNamespace) {
  TempDir t("val");
  write(t / "a.yaml", configMap("settings", "team-a"));
  write(t / "b.yaml", configMap("settings", "team-a"));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 2u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].message, "configmap \"team-a/settings\" is also declared at " +
                                       t / "b.yaml" + ":1; boxd applies neither");
}

TEST(ValidateTree, WorldReadableSecretIsRefusedAsBoxdDoes) {
  TempDir t("val");
  write(t / "s.yaml", secret("chap"), 0644);
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].str(),
            t / "s.yaml" + ": holds a Secret but is world-readable (mode 0644); chmod 600 it");
}

TEST(ValidateTree, HostPortClashBetweenPods) {
  TempDir t("val");
  write(t / "a.yaml", pod("a", hostPort(8080)));
  write(t / "b.yaml", pod("b", hostPort(8080)));
  write(t / "c.yaml",
        pod("c", "    ports: [{containerPort: 80, hostPort: 8080, protocol: UDP}]\n"));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 2u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].str(),
            t / "a.yaml" +
                ":9:43: spec.containers[0].ports[0].hostPort: pod \"a\" publishes "
                "host port TCP/8080, which pod \"b\" (" +
                t / "b.yaml" + ":1) publishes too");
  EXPECT_EQ(r.problems[1].file, t / "b.yaml");
}

TEST(ValidateTree, BlockVolumeSharedReadWriteIsAClashButReadOnlySharingIsNot) {
  TempDir t("val");
  write(t / "a.yaml", pod("a", "", iscsiVolume(1, true)));
  write(t / "b.yaml", pod("b", "", iscsiVolume(1, true)));
  write(t / "c.yaml", pod("c", "", iscsiVolume(2, false)));
  EXPECT_TRUE(validatePaths({t.path()}).problems.empty());
  write(t / "d.yaml", pod("d", "", iscsiVolume(2, false)));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 2u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].field, "spec.volumes[0].iscsi");
  EXPECT_NE(r.problems[0].message.find("iSCSI iqn.2024-01.io.boxd:t LUN 2 read-write"),
            std::string::npos)
      << r.problems[0].message;
}

TEST(ValidateTree, RbdImageSharedReadWrite) {
  TempDir t("val");
  std::string vol =
      "  volumes:\n  - name: d\n    rbd: {monitors: ['127.0.0.1:6789'], pool: p, image: i}\n";
  write(t / "a.yaml", pod("a", "", vol));
  write(t / "b.yaml", pod("b", "", vol));
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 2u) << ::testing::PrintToString(texts(r));
  EXPECT_NE(r.problems[0].message.find("RBD image p/i"), std::string::npos);
}

TEST(ValidateTree, LeftoversBoxdWouldSkipAreReported) {
  TempDir t("val");
  write(t / "a.yaml", pod("a"));
  for (const char* leftover :
       {"a.yaml~", ".a.yaml.swp", "a.yaml.dpkg-new", "b.json.orig", ".c.yml"})
    write(t / leftover, pod("x"));
  write(t / ".gitignore", "*.tmp\n");
  ValidateReport r = validatePaths({t.path()});
  std::vector<std::string> files;
  for (const auto& d : r.problems) files.push_back(d.file.substr(t.path().size() + 1));
  EXPECT_EQ(files, (std::vector<std::string>{".a.yaml.swp", ".c.yml", "a.yaml.dpkg-new", "a.yaml~",
                                             "b.json.orig"}));
  EXPECT_EQ(r.files, 1);
  // Named on the command line, a skipped file is reported too, and not parsed.
  ValidateReport one = validatePaths({t / "a.yaml~"});
  ASSERT_EQ(one.problems.size(), 1u);
  EXPECT_EQ(one.files, 0);
}

std::string job(const std::string& name, const std::string& templateSpec) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + name +
         "\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n" + templateSpec +
         "      containers:\n      - name: c\n        image: busybox\n"
         "        ports: [{containerPort: 80, hostPort: 8080}]\n";
}

// A CronJob's pod template is checked as a Job's, at the template's field.
TEST(ValidateTree, CronJobTemplatesAreCheckedAcrossFiles) {
  TempDir t("val");
  write(t / "cron.yaml",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n"
        "  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          restartPolicy: Never\n"
        "          imagePullSecrets: [{name: regcred}]\n"
        "          containers:\n          - name: c\n            image: busybox\n");
  ValidateReport r = validatePaths({t.path()});
  EXPECT_EQ(texts(r), (std::vector<std::string>{
                          t / "cron.yaml" +
                          ":12:37: spec.jobTemplate.spec.template.spec.imagePullSecrets[0].name: "
                          "cronjob \"nightly\": no file declares Secret \"regcred\""}));
  const std::string plain =
      "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n"
      "  schedule: \"@daily\"\n  jobTemplate:\n    spec:\n      template:\n"
      "        spec:\n          restartPolicy: Never\n"
      "          containers:\n          - name: c\n            image: busybox\n";
  write(t / "cron2.yaml", plain);
  write(t / "cron3.yaml", plain);
  r = validatePaths({t / "cron2.yaml", t / "cron3.yaml"});
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_NE(r.problems[0].str().find("cronjob \"nightly\" is also declared"), std::string::npos)
      << r.problems[0].str();
}

// A Job's pod template goes through the checks across files as a Pod does; its problems point
// at the template's field.
TEST(ValidateTree, JobTemplatesAreCheckedAcrossFiles) {
  TempDir t("val");
  write(t / "job.yaml", job("backup",
                            "      imagePullSecrets: [{name: regcred}]\n"
                            "      volumes:\n      - name: d\n        iscsi:\n"
                            "          targetPortal: 127.0.0.1:3260\n"
                            "          iqn: iqn.2024-01.io.boxd:t\n          lun: 1\n"));
  write(t / "web.yaml", pod("web", hostPort(8080), iscsiVolume(1, true)));
  ValidateReport r = validatePaths({t.path()});
  EXPECT_EQ(
      texts(r),
      (std::vector<std::string>{
          t / "job.yaml" + ":9:33: spec.template.spec.imagePullSecrets[0].name: job \"backup\": no "
                           "file declares Secret \"regcred\"",
          t / "job.yaml" +
              ":13:11: spec.template.spec.volumes[0].iscsi: job \"backup\" uses iSCSI "
              "iqn.2024-01.io.boxd:t LUN 1 read-write, and pod \"web\" (" +
              t / "web.yaml" +
              ":1) uses it read-only; a block volume mounted read-write must have one "
              "user",
          t / "job.yaml" +
              ":19:47: spec.template.spec.containers[0].ports[0].hostPort: job "
              "\"backup\" publishes host port TCP/8080, which pod \"web\" (" +
              t / "web.yaml" + ":1) publishes too",
          t / "web.yaml" +
              ":9:43: spec.containers[0].ports[0].hostPort: pod \"web\" publishes host "
              "port TCP/8080, which job \"backup\" (" +
              t / "job.yaml" + ":1) publishes too",
          t / "web.yaml" +
              ":13:7: spec.volumes[0].iscsi: pod \"web\" uses iSCSI "
              "iqn.2024-01.io.boxd:t LUN 1 read-only, and job \"backup\" (" +
              t / "job.yaml" +
              ":1) uses it read-write; a block volume mounted read-write must have one "
              "user"}));
  // A Job declared twice is applied by neither declaration, as a Pod.
  write(t / "job2.yaml", job("backup", ""));
  r = validatePaths({t / "job.yaml", t / "job2.yaml"});
  ASSERT_FALSE(r.problems.empty());
  EXPECT_EQ(r.problems.back().str(), t / "job2.yaml" +
                                         ":4:9: metadata.name: job \"backup\" is also declared "
                                         "at " +
                                         t / "job.yaml" + ":1; boxd applies neither");
}

// A workload's replicas share its template: a problem of the template is said once, at its field.
TEST(ValidateTree, WorkloadTemplateProblemsAreSaidOnceAtTheTemplate) {
  TempDir t("val");
  write(t / "d.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n"
        "      imagePullSecrets: [{name: regcred}]\n"
        "      containers: [{name: c, image: busybox}]\n");
  ValidateReport r = validatePaths({t.path()});
  EXPECT_EQ(texts(r),
            std::vector<std::string>{
                t / "d.yaml" + ":11:33: spec.template.spec.imagePullSecrets[0].name: deployment "
                               "\"web\": no file declares Secret \"regcred\""});
}

// Names and Secret references are per namespace, as boxd keys them.
TEST(ValidateTree, NamesAndSecretsArePerNamespace) {
  TempDir t("val");
  auto inNs = [](const std::string& doc, const std::string& ns) {
    std::string out = doc;
    out.insert(out.find("metadata:\n") + 10, "  namespace: " + ns + "\n");
    return out;
  };
  write(t / "a.yaml", pod("web", "", iscsiVolume(1, true, "chap")));
  write(t / "b.yaml", inNs(pod("web", "", iscsiVolume(1, true, "chap")), "prod"));
  write(t / "s.yaml", inNs(secret("chap"), "prod"), 0600);
  ValidateReport r = validatePaths({t.path()});
  ASSERT_EQ(r.problems.size(), 1u) << ::testing::PrintToString(texts(r));
  EXPECT_EQ(r.problems[0].file, t / "a.yaml");
  EXPECT_EQ(r.problems[0].message, "pod \"web\": no file declares Secret \"chap\"");
}

TEST(ValidateTree, MissingPathIsAProblem) {
  ValidateReport r = validatePaths({"/nonexistent/boxd-validate"});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].str(),
            "/nonexistent/boxd-validate: cannot read: No such file or directory");
}

// The command: exit 0 when clean, 1 with one line per problem, -o json for CI annotations.
TEST(BoxctlValidate, ExitCodesAndOutputs) {
  TempDir t("val");
  const std::string boxctl = std::string(BOXD_TEST_BUILD_DIR) + "/bin/boxctl";
  write(t / "a.yaml", pod("a"));
  auto clean = boxd::testing::run({boxctl, "validate", t.path()});
  EXPECT_EQ(clean.code, 0) << clean.out;
  EXPECT_EQ(clean.out, "1 file(s), 1 pod(s), 0 secret(s): 0 problem(s)\n");

  write(t / "b.yaml", pod("a"));
  auto dup = boxd::testing::run({boxctl, "validate", t / "a.yaml", t / "b.yaml"});
  EXPECT_EQ(dup.code, 1);
  EXPECT_NE(dup.out.find(t / "a.yaml" + ":4:9: metadata.name: pod \"a\" is also declared at " +
                         t / "b.yaml" + ":1; boxd applies neither\n"),
            std::string::npos)
      << dup.out;

  auto js = boxd::testing::run({boxctl, "validate", "-o", "json", t.path()});
  EXPECT_EQ(js.code, 1);
  auto j = nlohmann::json::parse(js.out.substr(0, js.out.rfind('}') + 1), nullptr, false);
  ASSERT_TRUE(j.is_object()) << js.out;
  EXPECT_EQ(j["valid"], false);
  ASSERT_EQ(j["problems"].size(), 2u);
  EXPECT_EQ(j["problems"][0]["file"], t / "a.yaml");
  EXPECT_EQ(j["problems"][0]["line"], 4);
  EXPECT_EQ(j["problems"][0]["column"], 9);
  EXPECT_EQ(j["problems"][0]["field"], "metadata.name");

  EXPECT_EQ(boxd::testing::run({boxctl, "validate"}).code, 1);
  EXPECT_EQ(boxd::testing::run({boxctl, "validate", "-o", "yaml", t.path()}).code, 1);
}

}  // namespace
}  // namespace boxd::agent
