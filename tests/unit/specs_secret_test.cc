// Secret documents: parsing, the Kubernetes rules for data and stringData, diagnostics that never
// show a value, the helpers that read CHAP and cephx keys, and Kubernetes' RBD example pair.
#include <gtest/gtest.h>

#include "common/util.h"
#include "specs/parse.h"
#include "specs/secret.h"
#include "tests/unit/specs_test_util.h"

namespace boxd::specs {
namespace {

using Lines = std::vector<std::string>;

Secret secretOf(std::string_view content) {
  ParseResult r = parseSpecFile("s.yaml", content);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].str());
  EXPECT_TRUE(r.holdsSecret);
  if (r.secrets.size() != 1) {
    ADD_FAILURE() << "expected one secret";
    return {};
  }
  return r.secrets[0].secret;
}

TEST(SpecsSecret, DataIsDecodedAndStringDataWins) {
  Secret s = secretOf(R"(apiVersion: v1
kind: Secret
metadata:
  name: chap-store
  labels: {app: store}
  annotations: {note: "rotated monthly"}
type: kubernetes.io/iscsi-chap
immutable: true
data:
  node.session.auth.username: Ym94ZA==
  node.session.auth.password: b2xkLXBhc3N3b3Jk
  multi-line: |
    aGVsbG8g
    d29ybGQ=
  empty:
  binary: AP8=
stringData:
  node.session.auth.password: new-password
  discovery.sendtargets.auth.username: "disc"
)");
  EXPECT_EQ(s.name, "chap-store");
  EXPECT_EQ(s.type, "kubernetes.io/iscsi-chap");
  EXPECT_TRUE(s.immutable);
  EXPECT_EQ(s.data.at("node.session.auth.username"), "boxd");
  EXPECT_EQ(s.data.at("node.session.auth.password"), "new-password") << "stringData wins";
  EXPECT_EQ(s.data.at("discovery.sendtargets.auth.username"), "disc");
  EXPECT_EQ(s.data.at("multi-line"), "hello world") << "line breaks are ignored, as Kubernetes";
  EXPECT_EQ(s.data.at("empty"), "");
  EXPECT_EQ(s.data.at("binary"), std::string("\0\xff", 2)) << "data holds raw bytes";
  EXPECT_EQ(s.data.size(), 6u);
}

TEST(SpecsSecret, TypeDefaultsToOpaque) {
  Secret s = secretOf("apiVersion: v1\nkind: Secret\nmetadata: {name: a.b-c}\n");
  EXPECT_EQ(s.name, "a.b-c") << "a DNS-1123 subdomain";
  EXPECT_EQ(s.type, "Opaque");
  EXPECT_FALSE(s.immutable);
  EXPECT_TRUE(s.data.empty());
  EXPECT_EQ(secretOf("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ntype: ''\n").type,
            "Opaque");
  EXPECT_EQ(secretOf("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ntype: my/own\n").type,
            "my/own")
      << "any type is accepted";
}

TEST(SpecsSecret, PodsAndSecretsShareAFileInAnyOrder) {
  ParseResult r = parseSpecFile("web.yaml", R"(apiVersion: v1
kind: Secret
metadata: {name: web}
stringData: {key: one}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: c, image: busybox}]
---
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "two"}, "data": {"k": "dHdv"}}
)");
  ASSERT_TRUE(r.ok()) << r.errors[0].str();
  ASSERT_EQ(r.pods.size(), 1u);
  ASSERT_EQ(r.secrets.size(), 2u);
  EXPECT_EQ(r.secrets[0].secret.name, "web") << "a pod and a secret may share a name";
  EXPECT_EQ(r.secrets[0].line, 1);
  EXPECT_EQ(r.pods[0].line, 6);
  EXPECT_EQ(r.secrets[1].secret.data.at("k"), "two");
  EXPECT_EQ(r.secrets[1].line, 12);
  EXPECT_TRUE(r.holdsSecret);
  EXPECT_FALSE(
      parseSpecFile("p.yaml", podWith("  containers: [{name: c, image: i}]\n")).holdsSecret);
}

TEST(SpecsSecret, DuplicateNamesInAFileAndOtherKinds) {
  ParseResult r = parseSpecFile("f.yaml", R"(apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: s}
)");
  EXPECT_EQ(errorLines(r),
            (Lines{"f.yaml:7:18: metadata.name: duplicate secret name \"s\" (first defined at line "
                   "3)"}))
      << "a ConfigMap may share a Secret's name";
  ASSERT_EQ(r.configMaps.size(), 1u);
  EXPECT_EQ(r.secrets.size(), 1u) << "the first definition stays";
  EXPECT_TRUE(r.holdsSecret) << "a file with a broken Secret still holds one";
}

// Every kind of problem a Secret can have, in one file: the diagnostics name fields and keys,
// and no part of any value ever appears in them.
TEST(SpecsSecret, DiagnosticsNeverShowAValue) {
  const std::string marker = "zq7Xv3KpW9";  // not valid base64 (10 characters)
  const std::string number = "4815162342";  // read by YAML as a number
  std::string doc = R"(apiVersion: v2
kind: Secret
metadata:
  name: Bad_Name
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: NUMBER
    "bad key!": MARKER
  uid: MARKER
type: NUMBER
immutable: MARKER
data:
  a: MARKER
  b: NUMBER
  c: yes
  "bad key!": MARKER
  d: !!binary MARKER
  e: [MARKER]
  f: MARKER=
  ..g: MARKER
stringData:
  h: NUMBER
  i: {x: MARKER}
  j: MARKER
  j: MARKER
  k: 0x4815162342
dta: {x: MARKER}
)";
  for (auto [from, to] : {std::pair{std::string("MARKER"), marker}, {"NUMBER", number}}) {
    for (size_t at; (at = doc.find(from)) != std::string::npos;) doc.replace(at, from.size(), to);
  }
  ParseResult r = parseSpecFile("s.yaml", doc);
  Lines want = {
      "s.yaml:1:13: apiVersion: must be \"v1\", got \"v2\"",
      "s.yaml:4:9: metadata.name: must be a DNS name (lowercase letters, digits, '-' and '.', at "
      "most 253 characters), got \"Bad_Name\"",
      "s.yaml:6:55: metadata.annotations[\"kubectl.kubernetes.io/last-applied-configuration\"]: "
      "must be a string, got a number; quote it",
      "s.yaml:7:5: metadata.annotations[\"bad key!\"]: key \"bad key!\": name must be 1-63 "
      "characters of [A-Za-z0-9-_.], starting and ending with a letter or digit, with an optional "
      "DNS subdomain prefix and '/'",
      "s.yaml:8:3: metadata.uid: field is not supported by boxd yet",
      "s.yaml:9:7: type: must be a string, got a number; quote it",
      "s.yaml:10:12: immutable: must be true or false, got a string",
      "s.yaml:12:6: data.a: is not valid base64 (standard alphabet, padded with '='); write plain "
      "text under stringData instead",
      "s.yaml:13:6: data.b: must be a string, got a number; quote it",
      "s.yaml:14:6: data.c: must be a string, got a boolean; quote it",
      "s.yaml:15:3: data[\"bad key!\"]: key \"bad key!\" must be 1-253 of [-._a-zA-Z0-9], not "
      "\".\" and not starting with \"..\"",
      "s.yaml:16:6: data.d: unsupported YAML tag tag:yaml.org,2002:binary",
      "s.yaml:17:6: data.e: must be a string, got a list",
      "s.yaml:18:6: data.f: is not valid base64 (standard alphabet, padded with '='); write plain "
      "text under stringData instead",
      "s.yaml:19:3: data[\"..g\"]: key \"..g\" must be 1-253 of [-._a-zA-Z0-9], not \".\" and not "
      "starting with \"..\"",
      "s.yaml:21:6: stringData.h: must be a string, got a number; quote it",
      "s.yaml:22:6: stringData.i: must be a string, got a mapping",
      "s.yaml:24:3: stringData.j: duplicate key (first at line 23)",
      "s.yaml:25:6: stringData.k: must be a string, got a number; quote it",
      "s.yaml:26:1: dta: unknown field; did you mean \"data\"?",
  };
  EXPECT_EQ(errorLines(r), want);
  for (const Diagnostic& d : r.errors) {
    for (const std::string& secret : {marker, number, marker.substr(0, 5), marker.substr(5),
                                      number.substr(0, 5), number.substr(5)}) {
      EXPECT_EQ(d.str().find(secret), std::string::npos) << d.str();
    }
  }
  EXPECT_TRUE(r.secrets.empty());
  EXPECT_TRUE(r.holdsSecret);
}

TEST(SpecsSecret, SyntaxErrorsDoNotQuoteTheText) {
  ParseResult r = parseSpecFile("s.yaml",
                                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                                "stringData: {password: \"pa\\qss\"}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].str(), "s.yaml:4:29: YAML syntax error: unknown escape character");
  r = parseSpecFile("s.yaml", "stringData: {password: \"\\UDFFFDFFF\"}\n");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "YAML syntax error: invalid unicode");
}

TEST(SpecsSecret, DataOverOneMebibyteIsRefused) {
  std::string big(1024 * 1024, 'x');
  Lines e = errorsOf("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  a: " + big +
                     "\n");
  EXPECT_EQ(e, (Lines{"f.yaml:5:3: data: the Secret holds 1048577 bytes of keys and values; at "
                      "most 1048576 (1 MiB) are allowed"}));
}

TEST(SpecsSecret, Base64AsKubernetesReadsIt) {
  EXPECT_EQ(decodeBase64(""), "");
  EXPECT_EQ(decodeBase64("YQ=="), "a");
  EXPECT_EQ(decodeBase64("YWI="), "ab");
  EXPECT_EQ(decodeBase64("YWJj"), "abc");
  EXPECT_EQ(decodeBase64("YW\nJj\r\n"), "abc");
  EXPECT_EQ(decodeBase64("+/+/"), "\xfb\xff\xbf");
  for (const char* bad :
       {"YQ", "YQ=", "Y===", "====", "YQ==YQ==", "YW=j", "-_-_", "YWJj ", "YW Jj", "YWJ\x01"}) {
    EXPECT_FALSE(decodeBase64(bad)) << bad;
  }
}

TEST(SpecsSecret, CephKeyIsTrimmedAndChecked) {
  Secret s;
  s.name = "ceph";
  s.data["key"] = "AQBOQm9gAAAAABAAt3aXkV8hR1fNq0p7aZ3gRw==\n";
  Result<std::string> k = cephKey(s);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(*k, "AQBOQm9gAAAAABAAt3aXkV8hR1fNq0p7aZ3gRw==");
  s.data["key"] = "not a key";
  k = cephKey(s);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.error().message,
            "secret \"ceph\": data key \"key\" is not a cephx key (base64, as `ceph auth get-key` "
            "prints it)");
  s.data["key"] = " \n";
  EXPECT_EQ(cephKey(s).error().message, "secret \"ceph\": data key \"key\" is empty");
  s.data.clear();
  s.data["Key"] = "AQBOQm9gAAAAABAAt3aXkV8hR1fNq0p7aZ3gRw==";
  EXPECT_EQ(cephKey(s).error().message,
            "secret \"ceph\": has no data key \"key\" (the cephx key of an rbd volume)");
}

TEST(SpecsSecret, ChapCredentials) {
  Secret s;
  s.name = "chap";
  s.data = {{kChapSessionUser, "u"},       {kChapSessionPassword, "p"},
            {kChapSessionUserIn, "tu"},    {kChapSessionPasswordIn, "tp"},
            {kChapDiscoveryUser, "du"},    {kChapDiscoveryPassword, "dp"},
            {kChapDiscoveryUserIn, "dtu"}, {kChapDiscoveryPasswordIn, "dtp"}};
  Result<ChapCredentials> c = chapCredentials(s, {true, true});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->sessionUser, "u");
  EXPECT_EQ(c->sessionPassword, "p");
  EXPECT_EQ(c->sessionUserIn, "tu");
  EXPECT_EQ(c->sessionPasswordIn, "tp");
  EXPECT_EQ(c->discoveryUser, "du");
  EXPECT_EQ(c->discoveryPassword, "dp");
  EXPECT_EQ(c->discoveryUserIn, "dtu");
  EXPECT_EQ(c->discoveryPasswordIn, "dtp");

  auto errorOf = [](const Secret& x, ChapNeeds needs) {
    Result<ChapCredentials> r = chapCredentials(x, needs);
    return r.ok() ? std::string("ok") : r.error().message;
  };
  Secret session;
  session.name = "chap";
  session.data = {{kChapSessionUser, "u"}, {kChapSessionPassword, "secret-value\n"}};
  EXPECT_EQ(errorOf(session, {false, true}),
            "secret \"chap\": data key \"node.session.auth.password\" holds a control character "
            "(a newline from `echo` without -n?)");
  session.data[kChapSessionPassword] = "p";
  EXPECT_EQ(errorOf(session, {false, true}), "ok");
  EXPECT_EQ(errorOf(session, {true, true}),
            "secret \"chap\": has no \"discovery.sendtargets.auth.username\" and "
            "\"discovery.sendtargets.auth.password\", which chapAuthDiscovery needs");
  session.data.erase(kChapSessionPassword);
  EXPECT_EQ(errorOf(session, {}),
            "secret \"chap\": has \"node.session.auth.username\" but no "
            "\"node.session.auth.password\"");
  Secret mutual;
  mutual.name = "chap";
  mutual.data = {{kChapSessionUserIn, "tu"}, {kChapSessionPasswordIn, "tp"}};
  EXPECT_EQ(errorOf(mutual, {}),
            "secret \"chap\": mutual CHAP (node.session.auth.username_in) needs "
            "node.session.auth.username too");
}

TEST(SpecsSecret, DescribeShowsKeysAndSizesOnly) {
  Secret s;
  s.name = "chap";
  s.type = "kubernetes.io/iscsi-chap";
  s.immutable = true;
  s.data = {{kChapSessionUser, "user-zq7Xv3"}, {kChapSessionPassword, "pw-zq7Xv3"}};
  EXPECT_EQ(
      describeSecret(s),
      "secret \"chap\" (type kubernetes.io/iscsi-chap, immutable): node.session.auth.password "
      "(9 bytes), node.session.auth.username (11 bytes)");
  EXPECT_EQ(describeSecret(Secret{"e", "Opaque", {}, false}),
            "secret \"e\" (type Opaque): no data");
}

// Kubernetes' classic RBD example: a Pod in JSON naming a Secret in YAML whose key was stored
// with `echo KEY | base64`.
TEST(SpecsSecret, KubernetesRbdExamplePair) {
  std::string dir = std::string(BOXD_TEST_SOURCE_DIR) + "/tests/data/rbd/";
  Result<std::string> podFile = readFile(dir + "rbd-with-secret.json");
  Result<std::string> secretFile = readFile(dir + "ceph-secret.yaml");
  ASSERT_TRUE(podFile.ok() && secretFile.ok());

  ParseResult pods = parseSpecFile("rbd-with-secret.json", *podFile);
  ASSERT_TRUE(pods.ok()) << pods.errors[0].str();
  ASSERT_EQ(pods.pods.size(), 1u);
  const PodSpec& p = pods.pods[0].spec;
  EXPECT_EQ(p.name, "rbd2");
  ASSERT_EQ(p.containers.size(), 1u);
  EXPECT_EQ(p.containers[0].image, "kubernetes/pause");
  EXPECT_EQ(p.containers[0].volumeMounts.at(0).mountPath, "/mnt/rbd");
  ASSERT_EQ(p.volumes.size(), 1u);
  ASSERT_TRUE(p.volumes[0].rbd);
  const RbdVolume& v = *p.volumes[0].rbd;
  EXPECT_EQ(v.monitors, (Lines{"10.16.154.78:6789", "10.16.154.82:6789", "10.16.154.83:6789"}));
  EXPECT_EQ(v.pool, "kube");
  EXPECT_EQ(v.image, "foo");
  EXPECT_EQ(v.user, "admin");
  EXPECT_EQ(v.secretRef, "ceph-secret");
  EXPECT_EQ(v.fsType, "ext4");
  EXPECT_TRUE(v.readOnly);

  ParseResult secrets = parseSpecFile("ceph-secret.yaml", *secretFile);
  ASSERT_TRUE(secrets.ok()) << secrets.errors[0].str();
  ASSERT_EQ(secrets.secrets.size(), 1u);
  const Secret& s = secrets.secrets[0].secret;
  EXPECT_EQ(s.name, v.secretRef);
  EXPECT_EQ(s.type, "kubernetes.io/rbd");
  EXPECT_EQ(s.data.at("key").back(), '\n') << "stored as `echo KEY | base64` makes it";
  Result<std::string> key = cephKey(s);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(*key, "AQAAAAAAAAAAABAAQUJDREVGR0hJSktMTU5PUA==");
}

}  // namespace
}  // namespace boxd::specs
