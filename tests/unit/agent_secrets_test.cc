// Secrets in the agent's desired state: the last-good rules, conflicts across files, and the
// refusal of a world-readable file that holds a Secret.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/desired.h"
#include "agent/spec_source.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

std::string secretYaml(const std::string& name, const std::string& value) {
  return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
         "}\ntype: kubernetes.io/rbd\nstringData: {key: " + value + "}\n";
}

const char* kRbdPod = R"(apiVersion: v1
kind: Pod
metadata: {name: db}
spec:
  containers: [{name: c, image: busybox}]
  volumes:
  - name: data
    rbd: {monitors: ["127.0.0.1:6789"], image: db, secretRef: {name: ceph}}
)";

FileResult file(const std::string& name, const std::string& content) {
  return {name, specs::parseSpecFile(name, content)};
}

TEST(DesiredSecrets, ValidFilesGiveTheirSecrets) {
  LastGood lg;
  Desired d = resolveDesired({file("db.yaml", secretYaml("ceph", "one") + "---\n" + kRbdPod),
                              file("x.yaml", secretYaml("x", "x"))},
                             lg, {});
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.secrets.size(), 2u);
  EXPECT_EQ(d.secrets.at("ceph").sourceFile, "db.yaml");
  EXPECT_EQ(d.secrets.at("ceph").secret.data.at("key"), "one");
  EXPECT_EQ(d.secrets.at("x").sourceFile, "x.yaml");
  EXPECT_EQ(d.pods.count("db"), 1u);
}

TEST(DesiredSecrets, AMissingSecretIsNoSpecError) {
  LastGood lg;
  Desired d = resolveDesired({file("db.yaml", kRbdPod)}, lg, {});
  EXPECT_TRUE(d.errors.empty()) << "reported when the volume is attached, not here";
  EXPECT_EQ(d.pods.count("db"), 1u);
  EXPECT_TRUE(d.secrets.empty());
}

TEST(DesiredSecrets, BrokenFileKeepsItsLastGoodSecrets) {
  LastGood lg;
  (void)resolveDesired({file("s.yaml", secretYaml("ceph", "one"))}, lg, {});
  Desired d = resolveDesired(
      {file("s.yaml", secretYaml("ceph", "two") + "---\nkind: Secret\napiVersion: v1\n")}, lg, {});
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors[0].file, "s.yaml");
  ASSERT_EQ(d.secrets.count("ceph"), 1u);
  EXPECT_EQ(d.secrets.at("ceph").secret.data.at("key"), "one") << "the last good value stays";
  d = resolveDesired({file("s.yaml", secretYaml("ceph", "two"))}, lg, {});
  EXPECT_EQ(d.secrets.at("ceph").secret.data.at("key"), "two") << "a valid edit applies";
}

TEST(DesiredSecrets, RemovedFileRemovesItsSecrets) {
  LastGood lg;
  (void)resolveDesired({file("s.yaml", secretYaml("ceph", "one"))}, lg, {});
  Desired d = resolveDesired({}, lg, {});
  EXPECT_TRUE(d.secrets.empty());
  EXPECT_TRUE(lg.empty());
}

TEST(DesiredSecrets, DuplicateNameAcrossFilesReportsBothAndUsesNeither) {
  LastGood lg;
  Desired d = resolveDesired(
      {file("a.yaml", secretYaml("ceph", "value-a")), file("b.yaml", secretYaml("ceph", "value-b")),
       file("c.yaml", secretYaml("other", "c"))},
      lg, {});
  EXPECT_EQ(d.secrets.count("ceph"), 0u);
  EXPECT_EQ(d.secrets.count("other"), 1u);
  ASSERT_EQ(d.errors.size(), 2u);
  EXPECT_EQ(d.errors[0].file, "a.yaml");
  EXPECT_EQ(d.errors[0].errors.at(0).str(),
            "a.yaml: metadata.name: secret \"ceph\" is also declared in b.yaml; neither "
            "declaration is used");
  EXPECT_EQ(d.errors[1].errors.at(0).str(),
            "b.yaml: metadata.name: secret \"ceph\" is also declared in a.yaml; neither "
            "declaration is used");
  for (const SpecError& e : d.errors) {
    for (const specs::Diagnostic& diag : e.errors) {
      EXPECT_EQ(diag.str().find("value-"), std::string::npos) << diag.str();
    }
  }
}

// The file as the agent sees it: read from the snapshot, parsed, refused when exposed.
FileResult readAndParse(const SpecSnapshot& snap, const std::string& name) {
  for (const SpecFile& f : snap.files) {
    if (f.name != name) continue;
    specs::ParseResult parsed = specs::parseSpecFile(f.name, f.content);
    refuseExposedSecrets(f, parsed);
    return {f.name, std::move(parsed)};
  }
  ADD_FAILURE() << name << " not in the snapshot";
  return {name, {}};
}

TEST(SpecSourceSecrets, WorldReadableSecretFileIsRefusedAndKeepsItsLastGood) {
  TempDir t("secrets");
  ASSERT_TRUE(
      writeFileAtomic(t / "db.yaml", secretYaml("ceph", "one") + "---\n" + kRbdPod, 0600).ok());
  ASSERT_TRUE(writeFileAtomic(t / "pod.yaml", kRbdPod, 0644).ok()) << "no Secret: 0644 is fine";
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  LastGood lg;
  Desired d = resolveDesired({readAndParse(*snap, "db.yaml")}, lg, {});
  ASSERT_TRUE(d.errors.empty()) << d.errors[0].errors[0].str();
  ASSERT_EQ(d.secrets.count("ceph"), 1u);
  FileResult pod = readAndParse(*snap, "pod.yaml");
  EXPECT_TRUE(pod.parsed.ok());

  // The file is rewritten world-readable with a new value: refused, the last good stays.
  ASSERT_TRUE(
      writeFileAtomic(t / "db.yaml", secretYaml("ceph", "two") + "---\n" + kRbdPod, 0644).ok());
  snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok());
  FileResult exposed = readAndParse(*snap, "db.yaml");
  ASSERT_EQ(exposed.parsed.errors.size(), 1u);
  EXPECT_EQ(exposed.parsed.errors[0].str(),
            "db.yaml: holds a Secret but is world-readable (mode 0644); chmod 600 it");
  EXPECT_TRUE(exposed.parsed.pods.empty() && exposed.parsed.secrets.empty());
  d = resolveDesired({exposed}, lg, {});
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.secrets.at("ceph").secret.data.at("key"), "one");
  EXPECT_EQ(d.pods.count("db"), 1u) << "its pods stay as they were too";

  // chmod alone (same content) lifts the refusal; group-readable is accepted.
  ASSERT_EQ(::chmod((t / "db.yaml").c_str(), 0640), 0);
  snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok());
  d = resolveDesired({readAndParse(*snap, "db.yaml")}, lg, {});
  EXPECT_TRUE(d.errors.empty());
  EXPECT_EQ(d.secrets.at("ceph").secret.data.at("key"), "two");
}

TEST(SpecSourceSecrets, TheModeIsTheOneOfTheFileReadThroughLinks) {
  // ConfigMap layout: web.yaml -> ..data/web.yaml, ..data -> ..<timestamp>. The links are 0777;
  // the file read is what counts.
  TempDir t("secrets");
  ASSERT_TRUE(mkdirAll(t / "..2026_11_21_10_00_00.1").ok());
  ASSERT_TRUE(
      writeFileAtomic(t / "..2026_11_21_10_00_00.1/s.yaml", secretYaml("ceph", "one"), 0600).ok());
  ASSERT_EQ(::symlink("..2026_11_21_10_00_00.1", (t / "..data").c_str()), 0);
  ASSERT_EQ(::symlink("..data/s.yaml", (t / "s.yaml").c_str()), 0);
  auto snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->files.size(), 1u);
  EXPECT_EQ(snap->files[0].mode, 0600u);
  EXPECT_TRUE(readAndParse(*snap, "s.yaml").parsed.ok());

  ASSERT_EQ(::chmod((t / "..2026_11_21_10_00_00.1/s.yaml").c_str(), 0604), 0);
  snap = readSpecSnapshot(t.path());
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->files[0].mode, 0604u);
  EXPECT_FALSE(readAndParse(*snap, "s.yaml").parsed.ok());
}

TEST(SpecSourceSecrets, ABrokenSecretDocumentStillCounts) {
  SpecFile f{"s.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: Bad}\n", "", 0644};
  specs::ParseResult parsed = specs::parseSpecFile(f.name, f.content);
  refuseExposedSecrets(f, parsed);
  ASSERT_EQ(parsed.errors.size(), 1u);
  EXPECT_EQ(parsed.errors[0].message,
            "holds a Secret but is world-readable (mode 0644); chmod 600 it");
}

}  // namespace
}  // namespace boxd::agent
