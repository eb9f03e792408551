// volumes and volumeMounts: the model, and every bad definition reported with its position.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

TEST(SpecsVolumes, EmptyDirAndHostPathWithMounts) {
  ParseResult r = parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes:
  - name: cache
    emptyDir: {}
  - name: shm
    emptyDir: {medium: Memory, sizeLimit: 16Mi}
  - name: logs
    hostPath: {path: /var/log/app, type: DirectoryOrCreate}
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - {name: cache, mountPath: /cache}
    - {name: shm, mountPath: /dev/shm/}
    - {name: logs, mountPath: /logs, readOnly: true, subPath: c}
)");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  const PodSpec& p = r.pods[0].spec;
  ASSERT_EQ(p.volumes.size(), 3u);
  EXPECT_TRUE(p.volumes[0].emptyDir && !p.volumes[0].emptyDir->memory);
  EXPECT_TRUE(p.volumes[1].emptyDir->memory);
  EXPECT_EQ(p.volumes[1].emptyDir->sizeLimitBytes, 16 << 20);
  EXPECT_EQ(p.volumes[2].hostPath->path, "/var/log/app");
  EXPECT_EQ(p.volumes[2].hostPath->type, "DirectoryOrCreate");
  const auto& m = p.containers[0].volumeMounts;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].mountPath, "/dev/shm") << "a trailing slash is dropped";
  EXPECT_TRUE(m[2].readOnly);
  EXPECT_EQ(m[2].subPath, "c");
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(SpecsVolumes, BadDefinitionsAreReportedWithPositionAndPath) {
  auto e = errorsOf(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes:
  - name: a
    emptyDir: {medium: Disk}
  - name: a
    emptyDir: {}
  - name: b
  - name: c
    hostPath: {path: relative/path, type: Folder}
  containers:
  - name: x
    image: busybox
    volumeMounts:
    - {name: missing, mountPath: /m}
    - {name: b, mountPath: /same}
    - {name: c, mountPath: /same}
    - {name: c, mountPath: /up/../etc}
    - {name: c, mountPath: /s, subPath: ../../etc}
)");
  std::vector<std::string> want = {
      "f.yaml:7:24: spec.volumes[0].emptyDir.medium: unknown medium \"Disk\"; use \"\" (disk) or "
      "\"Memory\"",
      "f.yaml:8:11: spec.volumes[1].name: duplicate volume name \"a\" (also spec.volumes[0])",
      "f.yaml:10:5: spec.volumes[2]: must set exactly one volume source: emptyDir, hostPath, "
      "configMap, secret, downwardAPI, projected, iscsi or rbd",
      "f.yaml:12:22: spec.volumes[3].hostPath.path: must be an absolute path without . or .. "
      "components, got "
      "\"relative/path\"",
      "f.yaml:12:43: spec.volumes[3].hostPath.type: unknown hostPath type \"Folder\"; one of "
      "Directory, "
      "DirectoryOrCreate, File, FileOrCreate, Socket, CharDevice, BlockDevice (or empty)",
      "f.yaml:17:14: spec.containers[0].volumeMounts[0].name: volume \"missing\" is not declared "
      "in spec.volumes",
      "f.yaml:19:28: spec.containers[0].volumeMounts[2].mountPath: duplicate mount path \"/same\" "
      "(also "
      "spec.containers[0].volumeMounts[1])",
      "f.yaml:20:28: spec.containers[0].volumeMounts[3].mountPath: must be an absolute path "
      "without . or .. "
      "components, got \"/up/../etc\"",
      "f.yaml:21:41: spec.containers[0].volumeMounts[4].subPath: must be a relative path inside "
      "the volume "
      "without . or .. components, got \"../../etc\""};
  EXPECT_EQ(e, want);
}

TEST(SpecsVolumes, OtherVolumeKindsAreNamedAsNotSupportedYet) {
  auto e = errorsOf(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  volumes:
  - name: a
    nfs: {server: nfs.example, path: /export}
  containers:
  - {name: x, image: busybox}
)");
  EXPECT_EQ(e, (std::vector<std::string>{"f.yaml:7:5: spec.volumes[0].nfs: volume type nfs is "
                                         "not supported by boxd"}))
      << "one error, not a second \"must set exactly one volume source\"";
}

}  // namespace
}  // namespace boxd::specs
