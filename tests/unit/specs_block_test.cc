// iscsi and rbd volumes: every Kubernetes field with its default, the checks with their
// positions, the provisioning annotation, and the canonical JSON that the spec hash covers.
#include <gtest/gtest.h>

#include "specs/parse.h"
#include "specs/validate.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

// A pod whose volumes are the given YAML list items (indented four spaces, first line "- name:"),
// with one container mounting nothing.
std::string podWithVolumes(std::string_view volumes) {
  return podWith("  containers:\n  - {name: c, image: busybox}\n  volumes:\n" +
                 std::string(volumes));
}

PodSpec parseOk(std::string_view content) {
  ParseResult r = parseSpecFile("f.yaml", content);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  if (r.pods.size() != 1) {
    ADD_FAILURE() << "expected one pod";
    return {};
  }
  return r.pods[0].spec;
}

TEST(SpecsBlock, IscsiWithEveryField) {
  PodSpec p = parseOk(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    volumeMounts:
    - {name: data, mountPath: /data, subPath: www}
  volumes:
  - name: data
    iscsi:
      targetPortal: 127.0.0.1
      portals: ["127.0.0.1:3261", "[::1]", "store.example:3262"]
      iqn: iqn.2026-11.io.boxd:store
      lun: 16383
      iscsiInterface: iface0
      fsType: xfs
      readOnly: true
      chapAuthDiscovery: true
      chapAuthSession: true
      secretRef: {name: chap-store}
      initiatorName: iqn.2026-11.io.boxd:node1
)");
  ASSERT_EQ(p.volumes.size(), 1u);
  ASSERT_TRUE(p.volumes[0].iscsi);
  EXPECT_TRUE(p.volumes[0].isBlock());
  const IscsiVolume& v = *p.volumes[0].iscsi;
  EXPECT_EQ(v.targetPortal, "127.0.0.1:3260") << "the default port is written out";
  EXPECT_EQ(v.portals, (Lines{"127.0.0.1:3261", "[::1]:3260", "store.example:3262"}));
  EXPECT_EQ(v.iqn, "iqn.2026-11.io.boxd:store");
  EXPECT_EQ(v.lun, 16383);
  EXPECT_EQ(v.iscsiInterface, "iface0");
  EXPECT_EQ(v.fsType, "xfs");
  EXPECT_TRUE(v.readOnly);
  EXPECT_TRUE(v.chapAuthDiscovery);
  EXPECT_TRUE(v.chapAuthSession);
  EXPECT_EQ(v.secretRef, "chap-store");
  EXPECT_EQ(v.initiatorName, "iqn.2026-11.io.boxd:node1");
  EXPECT_EQ(p.containers[0].volumeMounts[0].subPath, "www") << "subPath into a block volume";
}

TEST(SpecsBlock, IscsiDefaultsAreKubernetes) {
  PodSpec p = parseOk(podWithVolumes(R"(  - name: data
    iscsi: {targetPortal: "192.0.2.10:3260", iqn: "eui.0123456789ABCDEF", fsType: "",
            iscsiInterface: "", initiatorName: ""}
)"));
  const IscsiVolume& v = *p.volumes.at(0).iscsi;
  EXPECT_EQ(v.lun, 0);
  EXPECT_EQ(v.iscsiInterface, "default");
  EXPECT_EQ(v.fsType, "ext4") << "an empty value is the default, as in Kubernetes";
  EXPECT_FALSE(v.readOnly || v.chapAuthDiscovery || v.chapAuthSession);
  EXPECT_EQ(v.secretRef, "");
  EXPECT_EQ(v.initiatorName, "");
  EXPECT_TRUE(v.portals.empty());
}

TEST(SpecsBlock, IscsiProblemsAreReportedWithPositionAndPath) {
  Lines e = errorsOf(podWithVolumes(R"(  - name: a
    iscsi:
      targetPortal: "10.0.0.1:99999"
      portals: ["fd00::1", "10.0.0.2", "10.0.0.2:3260", "300.1.1.1"]
      iqn: iqn.2026-13.io.boxd
      lun: 16384
      fsType: btrfs
      iscsiInterface: "../x"
      chapAuthSession: true
      initiatorName: node1
  - name: b
    iscsi: {targetPortal: "h", iqn: "naa.123", lun: -1}
  - name: c
    iscsi: {iqn: iqn.2026-11.io.boxd, chapAuthDiscovery: yes, secretRef: {name: Bad_Name}}
)"));
  Lines want = {
      "f.yaml:10:21: spec.volumes[0].iscsi.targetPortal: invalid portal \"10.0.0.1:99999\": port "
      "99999 is not in 1..65535",
      "f.yaml:11:17: spec.volumes[0].iscsi.portals[0]: invalid portal \"fd00::1\": an IPv6 "
      "address must be written in brackets, e.g. [2001:db8::1]:3260",
      "f.yaml:11:40: spec.volumes[0].iscsi.portals[2]: portal \"10.0.0.2:3260\" is listed twice "
      "(also spec.volumes[0].iscsi.portals[1])",
      "f.yaml:11:57: spec.volumes[0].iscsi.portals[3]: invalid portal \"300.1.1.1\": host "
      "\"300.1.1.1\" is not a valid IPv4 address",
      "f.yaml:12:12: spec.volumes[0].iscsi.iqn: invalid iSCSI name \"iqn.2026-13.io.boxd\": month "
      "13 is not 01..12",
      "f.yaml:13:12: spec.volumes[0].iscsi.lun: must be a LUN number in 0..16383, got 16384",
      "f.yaml:14:15: spec.volumes[0].iscsi.fsType: unsupported fsType \"btrfs\": boxd formats and "
      "mounts ext4, ext3, ext2 or xfs",
      "f.yaml:15:23: spec.volumes[0].iscsi.iscsiInterface: must be an iscsiadm interface name "
      "(1-64 of [A-Za-z0-9._:-]), got \"../x\"",
      "f.yaml:16:24: spec.volumes[0].iscsi.secretRef: required when chapAuthSession is true: the "
      "name of the Secret with the CHAP credentials (type kubernetes.io/iscsi-chap)",
      "f.yaml:17:22: spec.volumes[0].iscsi.initiatorName: invalid iSCSI name \"node1\": must start "
      "with iqn., eui. or naa. (e.g. iqn.2026-11.io.boxd:store)",
      "f.yaml:19:37: spec.volumes[1].iscsi.iqn: invalid iSCSI name \"naa.123\": naa. must be "
      "followed by 16 or 32 hex digits",
      "f.yaml:19:53: spec.volumes[1].iscsi.lun: must be a LUN number in 0..16383, got -1",
      "f.yaml:21:12: spec.volumes[2].iscsi.targetPortal: required field is missing",
      "f.yaml:21:81: spec.volumes[2].iscsi.secretRef.name: must be a DNS name (lowercase letters, "
      "digits, '-' and '.', at most 253 characters), got \"Bad_Name\"",
  };
  EXPECT_EQ(e, want);
}

TEST(SpecsBlock, RbdWithEveryFieldAndItsDefaults) {
  PodSpec p = parseOk(podWithVolumes(R"(  - name: data
    rbd:
      monitors: ["127.0.0.1:6789", "v1:10.0.0.1:6789", "v2:10.0.0.1:3300", "[::1]:3300",
                 "v2:[fd00::2]:3300", "mon.example", "mon-b.example:6789", "10.0.0.3"]
      pool: kube
      image: web-data
      user: boxd
      keyring: /etc/ceph/ceph.client.boxd.keyring
      secretRef: {name: ceph-boxd}
      fsType: ext3
      readOnly: true
  - name: defaults
    rbd: {monitors: ["127.0.0.1"], image: other, pool: "", user: ""}
)"));
  ASSERT_EQ(p.volumes.size(), 2u);
  const RbdVolume& v = *p.volumes[0].rbd;
  EXPECT_EQ(v.monitors.size(), 8u);
  EXPECT_EQ(v.monitors[1], "v1:10.0.0.1:6789") << "monitors are kept as written";
  EXPECT_EQ(v.pool, "kube");
  EXPECT_EQ(v.image, "web-data");
  EXPECT_EQ(v.user, "boxd");
  EXPECT_EQ(v.keyring, "/etc/ceph/ceph.client.boxd.keyring");
  EXPECT_EQ(v.secretRef, "ceph-boxd");
  EXPECT_EQ(v.fsType, "ext3");
  EXPECT_TRUE(v.readOnly);
  EXPECT_FALSE(v.provision);
  const RbdVolume& d = *p.volumes[1].rbd;
  EXPECT_EQ(d.pool, "rbd");
  EXPECT_EQ(d.user, "admin");
  EXPECT_EQ(d.keyring, "/etc/ceph/keyring");
  EXPECT_EQ(d.secretRef, "");
  EXPECT_EQ(d.fsType, "ext4");
  EXPECT_FALSE(d.readOnly);
}

TEST(SpecsBlock, RbdProblemsAreReportedWithPositionAndPath) {
  Lines e = errorsOf(podWithVolumes(R"(  - name: a
    rbd:
      monitors: ["10.0.0.1:6789,10.0.0.2:6789", "v3:10.0.0.1", "[10.0.0.1]:6789", "m:0"]
      image: pool/image
      pool: "rbd@snap"
      user: client.admin
      keyring: etc/keyring
      fsType: ntfs
  - name: b
    rbd: {monitors: [], image: ""}
  - name: c
    rbd: {image: x}
)"));
  Lines want = {
      "f.yaml:10:18: spec.volumes[0].rbd.monitors[0]: invalid monitor "
      "\"10.0.0.1:6789,10.0.0.2:6789\": one address per entry, without spaces or commas "
      "(accepted: ip:port, host:port, [ipv6]:port or a bare host, optionally after v1: or v2:)",
      "f.yaml:10:49: spec.volumes[0].rbd.monitors[1]: invalid monitor \"v3:10.0.0.1\": port "
      "\"10.0.0.1\" is not a number (accepted: ip:port, host:port, [ipv6]:port or a bare host, "
      "optionally after v1: or v2:)",
      "f.yaml:10:64: spec.volumes[0].rbd.monitors[2]: invalid monitor \"[10.0.0.1]:6789\": host "
      "[10.0.0.1] is not an IPv6 address (accepted: ip:port, host:port, [ipv6]:port or a bare "
      "host, optionally after v1: or v2:)",
      "f.yaml:10:83: spec.volumes[0].rbd.monitors[3]: invalid monitor \"m:0\": port 0 is not in "
      "1..65535 (accepted: ip:port, host:port, [ipv6]:port or a bare host, optionally after v1: "
      "or v2:)",
      "f.yaml:11:14: spec.volumes[0].rbd.image: must not contain '/', '@', spaces or control "
      "characters, got \"pool/image\"",
      "f.yaml:12:13: spec.volumes[0].rbd.pool: must not contain '/', '@', spaces or control "
      "characters, got \"rbd@snap\"",
      "f.yaml:13:13: spec.volumes[0].rbd.user: is the cephx id without its \"client.\" prefix: "
      "write \"admin\"",
      "f.yaml:14:16: spec.volumes[0].rbd.keyring: must be an absolute path without . or .. "
      "components, got \"etc/keyring\"",
      "f.yaml:15:15: spec.volumes[0].rbd.fsType: unsupported fsType \"ntfs\": boxd formats and "
      "mounts ext4, ext3, ext2 or xfs",
      "f.yaml:17:21: spec.volumes[1].rbd.monitors: must list at least one monitor",
      "f.yaml:17:32: spec.volumes[1].rbd.image: must not be empty",
      "f.yaml:19:10: spec.volumes[2].rbd.monitors: required field is missing",
  };
  EXPECT_EQ(e, want);
}

TEST(SpecsBlock, ExactlyOneSourcePerVolume) {
  EXPECT_EQ(errorsOf(podWithVolumes(R"(  - name: a
    rbd: {monitors: [m], image: i}
    iscsi: {targetPortal: t, iqn: "eui.0123456789abcdef"}
)")),
            (Lines{"f.yaml:8:5: spec.volumes[0]: must set exactly one volume source: emptyDir, "
                   "hostPath, configMap, secret, downwardAPI, projected, iscsi or rbd"}));
}

TEST(SpecsBlock, OneLunOrImageBacksOneVolume) {
  Lines e = errorsOf(podWithVolumes(R"(  - name: a
    iscsi: {targetPortal: "t1", portals: ["t2:3260"], iqn: iqn.2026-11.io.boxd:s, lun: 1}
  - name: b
    iscsi: {targetPortal: "t3", portals: ["T2"], iqn: IQN.2026-11.io.boxd:s, lun: 1}
  - name: c
    iscsi: {targetPortal: "t1", iqn: iqn.2026-11.io.boxd:s, lun: 2}
  - name: d
    rbd: {monitors: [m], image: i}
  - name: e
    rbd: {monitors: [other], image: i, pool: rbd}
  - name: f
    rbd: {monitors: [m], image: i, pool: kube}
)"));
  // b's IQN starts with "IQN." and is refused as a name; the LUN check compares valid volumes.
  ASSERT_EQ(e.size(), 2u) << e[0];
  EXPECT_EQ(e[1],
            "f.yaml:16:5: spec.volumes[4].rbd: image rbd/i is also volume \"d\" (spec.volumes[3]); "
            "one device backs at most one volume of a pod");
  e = errorsOf(podWithVolumes(R"(  - name: a
    iscsi: {targetPortal: "t1", portals: ["t2:3260"], iqn: iqn.2026-11.io.boxd:s, lun: 1}
  - name: b
    iscsi: {targetPortal: "t3", portals: ["T2"], iqn: iqn.2026-11.IO.boxd:s, lun: 1}
)"));
  EXPECT_EQ(e, (Lines{"f.yaml:10:5: spec.volumes[1].iscsi: LUN 1 of iqn.2026-11.IO.boxd:s is also "
                      "volume \"a\" (spec.volumes[0]); one device backs at most one volume of a "
                      "pod"}));
}

TEST(SpecsBlock, ProvisionAnnotationGivesSizeAndFeatures) {
  PodSpec p = parseOk(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    provision.rbd.boxd.io/data: '{"size": "1Gi", "features": ["object-map", "layering", "exclusive-lock"]}'
    provision.rbd.boxd.io/logs: '{"size": 1048576}'
spec:
  containers:
  - {name: c, image: busybox}
  volumes:
  - name: data
    rbd: {monitors: ["127.0.0.1:6789"], image: web-data}
  - name: logs
    rbd: {monitors: ["127.0.0.1:6789"], image: web-logs}
  - name: plain
    rbd: {monitors: ["127.0.0.1:6789"], image: web-plain}
)");
  ASSERT_EQ(p.volumes.size(), 3u);
  ASSERT_TRUE(p.volumes[0].rbd->provision);
  EXPECT_EQ(p.volumes[0].rbd->provision->sizeBytes, int64_t{1} << 30);
  EXPECT_EQ(p.volumes[0].rbd->provision->features,
            (Lines{"layering", "exclusive-lock", "object-map"}))
      << "features in librbd's bit order, whatever order they were written in";
  ASSERT_TRUE(p.volumes[1].rbd->provision);
  EXPECT_EQ(p.volumes[1].rbd->provision->sizeBytes, 1 << 20);
  EXPECT_EQ(p.volumes[1].rbd->provision->features, (Lines{"layering", "exclusive-lock"}))
      << "the default features";
  EXPECT_FALSE(p.volumes[2].rbd->provision) << "no annotation: boxd never creates the image";
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
}

TEST(SpecsBlock, ProvisionAnnotationProblemsPointIntoItsJson) {
  Lines e = errorsOf(R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    provision.rbd.boxd.io/data: '{"size": "1.5G", "features": ["fast-diff", "layering", "layering", "sparse", "data-pool"], "pool": "x"}'
    provision.rbd.boxd.io/nope: '{"size": "1Gi"}'
    provision.rbd.boxd.io/scratch: '{"size": "1Gi"}'
    provision.rbd.boxd.io/ro: '{"size": "1Gi"}'
    provision.rbd.boxd.io/text: 'one gigabyte'
    provision.rbd.boxd.io/small: '{"size": "100", "features": ["journaling"]}'
spec:
  containers:
  - {name: c, image: busybox}
  volumes:
  - name: data
    rbd: {monitors: ["127.0.0.1:6789"], image: a}
  - name: scratch
    emptyDir: {}
  - name: ro
    rbd: {monitors: ["127.0.0.1:6789"], image: b, readOnly: true}
  - name: text
    rbd: {monitors: ["127.0.0.1:6789"], image: c}
  - name: small
    rbd: {monitors: ["127.0.0.1:6789"], image: d}
)");
  // Problems inside one annotation share its position, in the order found in its JSON.
  const std::string a = "f.yaml:6:33: metadata.annotations[\"provision.rbd.boxd.io/data\"]";
  const std::string small = "f.yaml:11:34: metadata.annotations[\"provision.rbd.boxd.io/small\"]";
  Lines want = {
      a + ".size: must be a positive whole number of 512-byte sectors (e.g. \"1Gi\"), got "
          "1500000000 bytes (in the annotation's JSON, column 10)",
      a + ".features[2]: feature \"layering\" is listed twice (in the annotation's JSON, column "
          "56)",
      a + ".features[3]: unknown RBD feature \"sparse\"; librbd knows layering, striping, "
          "exclusive-lock, object-map, fast-diff, deep-flatten, journaling (in the annotation's "
          "JSON, column 68)",
      a + ".features[4]: data-pool is set by librbd itself on images with a separate data pool, "
          "which boxd does not create (in the annotation's JSON, column 78)",
      a + ".features: fast-diff needs object-map too (in the annotation's JSON, column 30)",
      a + ".pool: unknown field (in the annotation's JSON, column 92)",
      "f.yaml:7:33: metadata.annotations[\"provision.rbd.boxd.io/nope\"]: names no rbd volume of "
      "the pod: spec.volumes has no volume \"nope\"",
      "f.yaml:8:36: metadata.annotations[\"provision.rbd.boxd.io/scratch\"]: names no rbd volume "
      "of the pod: volume \"scratch\" is not rbd",
      "f.yaml:9:31: metadata.annotations[\"provision.rbd.boxd.io/ro\"]: volume \"ro\" is readOnly: "
      "a new image would be blank, and boxd never formats a read-only volume",
      "f.yaml:10:33: metadata.annotations[\"provision.rbd.boxd.io/text\"]: must be a JSON object "
      "such as {\"size\": \"1Gi\"}, got a string",
      small +
          ".size: must be a positive whole number of 512-byte sectors (e.g. \"1Gi\"), got 100 "
          "bytes (in the annotation's JSON, column 10)",
      small +
          ".features: journaling needs exclusive-lock too (in the annotation's JSON, column "
          "29)",
  };
  EXPECT_EQ(e, want);
}

TEST(SpecsBlock, CanonicalJsonCoversBlockVolumes) {
  std::string iscsi = podWithVolumes(R"(  - name: data
    iscsi: {targetPortal: "10.0.0.1", iqn: "iqn.2026-11.io.boxd:store", lun: 1,
            secretRef: {name: chap}, chapAuthSession: true}
  - name: ceph
    rbd: {monitors: ["10.0.0.1:6789"], image: img, secretRef: {name: ceph}}
)");
  PodSpec p = parseOk(iscsi);
  auto back = fromJson(toJson(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
  EXPECT_EQ(specHash(*back), specHash(p));
  EXPECT_EQ(toJson(p)["volumes"][0]["iscsi"]["targetPortal"], "10.0.0.1:3260");
  EXPECT_EQ(toJson(p)["volumes"][1]["rbd"]["pool"], "rbd") << "defaults are written out";

  // The same pod spelt differently hashes the same; a changed field changes the hash.
  std::string explicitDefaults = podWithVolumes(R"(  - name: data
    iscsi: {iqn: "iqn.2026-11.io.boxd:store", targetPortal: "10.0.0.1:3260", lun: 1,
            iscsiInterface: default, fsType: ext4, chapAuthSession: true, secretRef: {name: chap}}
  - name: ceph
    rbd: {image: img, monitors: ["10.0.0.1:6789"], pool: rbd, user: admin, secretRef: {name: ceph}}
)");
  EXPECT_EQ(specHash(parseOk(explicitDefaults)), specHash(p));
  for (auto [from, to] : {std::pair{"lun: 1", "lun: 2"}, std::pair{"name: chap}", "name: chap2}"},
                          std::pair{"image: img", "image: img2"}}) {
    std::string changed = iscsi;
    changed.replace(changed.find(from), std::string_view(from).size(), to);
    EXPECT_NE(specHash(parseOk(changed)), specHash(p)) << to;
  }
}

TEST(SpecsBlock, FromJsonRejectsWrongTypes) {
  nlohmann::json j =
      toJson(parseOk(podWithVolumes("  - name: d\n    rbd: {monitors: [m], image: i}\n")));
  j["volumes"][0]["rbd"]["readOnly"] = "yes";
  EXPECT_FALSE(fromJson(j).ok());
  j["volumes"][0]["rbd"] = "x";
  EXPECT_FALSE(fromJson(j).ok());
}

TEST(SpecsBlockValues, Portals) {
  std::string n;
  for (auto [in, out] : {std::pair{"10.0.0.1", "10.0.0.1:3260"},
                         {"10.0.0.1:860", "10.0.0.1:860"},
                         {"[fd00::1]", "[fd00::1]:3260"},
                         {"[fd00::1]:3261", "[fd00::1]:3261"},
                         {"san-1.example", "san-1.example:3260"},
                         {"localhost:3260", "localhost:3260"}}) {
    EXPECT_EQ(checkIscsiPortal(in, n), "") << in;
    EXPECT_EQ(n, out);
  }
  for (const char* bad : {"", ":3260", "10.0.0.1:", "10.0.0.1:x", "10.0.0.1:0", "[fd00::1",
                          "[fd00::1]x", "[nothex]:1", "fd00::1", "-host", "a..b", "h o", "1.2.3"}) {
    EXPECT_NE(checkIscsiPortal(bad, n), "") << bad;
  }
}

TEST(SpecsBlockValues, IscsiNames) {
  for (const char* ok :
       {"iqn.2026-11.io.boxd", "iqn.2026-11.io.boxd:store", "iqn.1992-01.com.example:sn.1234-5:x",
        "iqn.2003-01.org.linux-iscsi.host:sn.e8e6b6d5e6f4", "eui.02004567A425678D",
        "naa.52004567BA64678D", "naa.62004567BA64678D0123456789ABCDEF"}) {
    EXPECT_EQ(checkIscsiName(ok), "") << ok;
  }
  for (const char* bad :
       {"", "iqn.", "iqn.2026-1.io.boxd", "iqn.26-11.io.boxd", "iqn.2026-00.io.boxd", "iqn.2026-11",
        "iqn.2026-11.", "iqn.2026-11..io", "iqn.2026-11.io_boxd",
        "iqn.2026-11.io.boxd:", "iqn.2026-11.io.boxd:a b", "iqn.2026-11.io.boxd:a;b", "eui.0123",
        "eui.0123456789abcdeg", "naa.0123456789abcdef01", "IQN.2026-11.io.boxd", "target"}) {
    EXPECT_NE(checkIscsiName(bad), "") << bad;
  }
  EXPECT_NE(checkIscsiName("iqn.2026-11.io.boxd:" + std::string(210, 'x')), "") << "223 bytes";
}

TEST(SpecsBlockValues, MonitorsUsersAndNames) {
  for (const char* ok : {"10.0.0.1", "10.0.0.1:6789", "v1:10.0.0.1:6789", "v2:10.0.0.1:3300",
                         "[::1]:3300", "v2:[::1]:3300", "[::1]", "mon-a", "mon.example:6789"}) {
    EXPECT_EQ(checkCephMonitor(ok), "") << ok;
  }
  for (const char* bad : {"", "v2:", "::1", "10.0.0.1:6789/0", "a,b", "[v2:10.0.0.1:3300]",
                          "10.0.0.1:65536", " 10.0.0.1"}) {
    EXPECT_NE(checkCephMonitor(bad), "") << bad;
  }
  EXPECT_EQ(checkCephUser("admin"), "");
  EXPECT_EQ(checkCephUser("boxd-rbd_1"), "");
  EXPECT_NE(checkCephUser(""), "");
  EXPECT_NE(checkCephUser("a b"), "");
  EXPECT_EQ(checkRbdName("web.data-1"), "");
  for (const char* bad : {"", "a/b", "a@s", "a b", "a\tb"}) EXPECT_NE(checkRbdName(bad), "") << bad;
}

}  // namespace
}  // namespace boxd::specs
