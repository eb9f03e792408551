// The registry client against docker-registry with the Docker token flow (a token service the
// test runs, signing ES256 JWTs with a certificate the test makes), insecureRegistries end to
// end (a TLS registry with an untrusted certificate; a plain-HTTP registry under a name), and
// the haveBlob hook.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/hash.h"
#include "common/util.h"
#include "images/registry/pull.h"
#include "images/registry/transport.h"
#include "tests/fixtures/process.h"
#include "tests/integration/registry_fixture.h"
#include "tests/integration/registry_peer.h"
#include "tests/integration/registry_quick_pull.h"
#include "tests/support/temp_dir.h"

namespace boxd::images {
namespace {

using boxd::testing::Blob;
using boxd::testing::filesUnder;
using boxd::testing::RegistryPeer;
using boxd::testing::TestImage;
using nlohmann::json;
namespace fs = std::filesystem;

PullOptions quick() { return boxd::testing::quickPullOptions(); }

class RegistryOptionsTest : public testing::RegistryPeerTest {
 protected:
  RegistryOptionsTest() : RegistryPeerTest("registry-opts") {}
  std::string layout(const std::string& name) { return tmp_.path() + "/" + name; }
};

// docker-registry with auth: token: trusting a signer certificate; a token service on
// 127.0.0.1 issuing JWTs signed with its key. Images are pushed to the plain peer, which
// shares the token registry's storage.
class TokenAuthTest : public RegistryOptionsTest {
 protected:
  void SetUp() override {
    RegistryOptionsTest::SetUp();
    if (setUpStopped()) return;
    if (::access("/usr/bin/python3", X_OK) != 0)
      GTEST_SKIP() << "python3 is not installed";  // Debian's, with python3-jwt
    auto jwtCheck =
        testing::runCommand({"/usr/bin/python3", "-c", "import jwt, cryptography"}, 30000);
    ASSERT_TRUE(jwtCheck.ok());
    if (!jwtCheck->ok()) GTEST_SKIP() << "python3-jwt is not installed: " << jwtCheck->output;

    std::string dir = tmp_.path() + "/token";
    ASSERT_TRUE(mkdirAll(dir).ok());
    auto cert = testing::runCommand(
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", dir + "/signer.key", "-out", dir + "/signer.crt", "-days", "2",
         "-subj", "/CN=boxd test token signer"},
        30000);
    ASSERT_TRUE(cert.ok());
    ASSERT_TRUE(cert->ok()) << cert->output;
    password_ = "pw-" + randomHex(8);
    ASSERT_TRUE(writeFileAtomic(dir + "/users", "puller:" + password_ + "\n", 0600).ok());
    std::string script = std::string(BOXD_TEST_SOURCE_DIR) + "/tests/integration/token_server.py";
    auto pid = testing::spawnDaemon(
        {"/usr/bin/python3", script, "--port-file", dir + "/port", "--key", dir + "/signer.key",
         "--cert", dir + "/signer.crt", "--issuer", "boxd-test-issuer", "--service",
         "boxd-test-registry", "--users", dir + "/users"},
        dir + "/token.log");
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    tokenPid_ = *pid;
    std::string port;
    for (int64_t end = monotonicMs() + 15000; monotonicMs() < end && port.empty();) {
      if (auto p = readFile(dir + "/port"); p.ok()) port = *p;
      if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(port.empty()) << tokenLog();
    RegistryPeer::Options ro;
    ro.dataDir = tmp_.path() + "/plain/data";
    ro.token = {"http://127.0.0.1:" + port + "/token", "boxd-test-registry", "boxd-test-issuer",
                dir + "/signer.crt"};
    auto reg = RegistryPeer::start(tmp_.path() + "/tokenreg", ro);
    ASSERT_TRUE(reg.ok()) << reg.error().message;
    reg_.reset(*reg);
    img_ = testing::makeImage({testing::makeLayer({{"etc/app", "app\n"}}),
                               testing::makeLayer({{"bin/run", "#!/bin/sh\n"}})});
    ASSERT_TRUE(plain_->pushImage("public/app", "v1", img_).ok());
    ASSERT_TRUE(plain_->pushImage("private/app", "v1", img_).ok());
  }
  void TearDown() override {
    reg_.reset();
    if (tokenPid_ > 0) testing::stopChild(tokenPid_, 2000);
  }
  std::string tokenLog() {
    auto log = readFile(tmp_.path() + "/token/token.log");
    return log.ok() ? *log : "";
  }
  Keyring keyring(const std::string& password, std::string* file = nullptr) {
    std::string path = tmp_.path() + "/auth-" + randomHex(4) + ".json";
    json cfg = {{"auths", {{reg_->host(), {{"username", "puller"}, {"password", password}}}}}};
    EXPECT_TRUE(writeFileAtomic(path, cfg.dump(), 0600).ok());
    if (file != nullptr) *file = path;
    return loadAuthFile(path).value();
  }

  std::string password_;
  pid_t tokenPid_ = -1;
  std::unique_ptr<RegistryPeer> reg_;
  TestImage img_;
};

TEST_F(TokenAuthTest, AnonymousPullGetsAPullScopedToken) {
  auto r =
      pullImage(parseReference(reg_->host() + "/public/app:v1").value(), layout("anon"), quick());
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << tokenLog();
  EXPECT_EQ(r->manifestDigest, img_.manifest.digest());
  EXPECT_TRUE(fs::exists(layout("anon") + "/index.json"));
  // The token service was asked anonymously for exactly the pull scope of that repository.
  std::string log = tokenLog();
  EXPECT_NE(log.find("token: 200 for anonymous scopes ['repository:public/app:pull']"),
            std::string::npos)
      << log;

  // The same registry without a token: the registry itself refuses (the flow is real).
  HttpRequest direct;
  direct.url = "http://" + reg_->host() + "/v2/public/app/manifests/v1";
  direct.deadlineMs = monotonicMs() + 10000;
  EXPECT_EQ(httpGet(direct).status, 401);

  // A private repository anonymously: the token grants nothing, the registry says 401.
  auto denied = pullImage(parseReference(reg_->host() + "/private/app:v1").value(),
                          layout("denied"), quick());
  ASSERT_FALSE(denied.ok());
  std::cout << "error: " << denied.error().message << "\n";
  EXPECT_EQ(reasonOf(denied.error()), PullReason::Unauthorized) << denied.error().message;
  EXPECT_NE(denied.error().message.find("no credentials"), std::string::npos);
  EXPECT_FALSE(fs::exists(layout("denied")));
}

TEST_F(TokenAuthTest, CredentialedPullAndAWrongPassword) {
  PullOptions o = quick();
  o.keyring = keyring(password_);
  auto r = pullImage(parseReference(reg_->host() + "/private/app:v1").value(), layout("ok"), o);
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << tokenLog();
  EXPECT_EQ(r->manifestDigest, img_.manifest.digest());
  EXPECT_NE(tokenLog().find("token: 200 for puller scopes ['repository:private/app:pull']"),
            std::string::npos)
      << tokenLog();

  const std::string wrong = "wrong-" + randomHex(8);
  std::string file;
  o.keyring = keyring(wrong, &file);
  auto bad = pullImage(parseReference(reg_->host() + "/private/app:v1").value(), layout("bad"), o);
  ASSERT_FALSE(bad.ok());
  std::cout << "error: " << bad.error().message << "\n";
  EXPECT_EQ(reasonOf(bad.error()), PullReason::Unauthorized) << bad.error().message;
  EXPECT_EQ(bad.error().message.rfind("pull " + reg_->host() + "/private/app:v1: unauthorized", 0),
            0u)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("token service 127.0.0.1:"), std::string::npos);
  EXPECT_NE(bad.error().message.find(file), std::string::npos) << bad.error().message;
  for (const std::string& secret : {wrong, base64Encode("puller:" + wrong), password_})
    EXPECT_EQ(bad.error().message.find(secret), std::string::npos) << bad.error().message;
  EXPECT_FALSE(fs::exists(layout("bad")));
  EXPECT_NE(tokenLog().find("token: 401 for user 'puller'"), std::string::npos);
}

// A TLS registry whose certificate nothing trusts: refused by default, pulled when listed.
TEST_F(RegistryOptionsTest, InsecureRegistryAcceptsAnUntrustedCertificate) {
  auto p = RegistryPeer::start(tmp_.path() + "/tls", {true, "", "", "", {}});
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::unique_ptr<RegistryPeer> tls(*p);
  TestImage img = testing::makeImage({testing::makeLayer({{"t", "tls"}})});
  ASSERT_TRUE(tls->pushImage("app", "v1", img).ok());
  Reference ref = parseReference(tls->host() + "/app:v1").value();

  auto refused = pullImage(ref, layout("refused"), quick());
  ASSERT_FALSE(refused.ok());
  std::cout << "error: " << refused.error().message << "\n";
  EXPECT_NE(refused.error().message.find("not trusted"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(fs::exists(layout("refused")));

  PullOptions o = quick();
  o.config.insecureRegistries = {tls->host()};
  auto r = pullImage(ref, layout("ok"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->manifestDigest, img.manifest.digest());
}

// A plain-HTTP registry under a name that is not a loopback address (resolved to 127.0.0.1 by
// the pull itself, no DNS): https only by default, plain http when listed.
TEST_F(RegistryOptionsTest, PlainHttpUnderANameOnlyWhenListedInsecure) {
  TestImage img = testing::makeImage({testing::makeLayer({{"n", "named"}})});
  ASSERT_TRUE(plain_->pushImage("app", "v1", img).ok());
  std::string port = plain_->host().substr(plain_->host().rfind(':') + 1);
  std::string name = "registry-" + randomHex(4) + ".boxd-test.invalid:" + port;
  Reference ref = parseReference(name + "/app:v1").value();
  ASSERT_EQ(ref.domain, name);
  PullOptions o = quick();
  o.resolve = {name + ":127.0.0.1"};

  auto refused = pullImage(ref, layout("refused"), o);
  ASSERT_FALSE(refused.ok());
  std::cout << "error: " << refused.error().message << "\n";
  EXPECT_EQ(reasonOf(refused.error()), PullReason::Unreachable) << refused.error().message;
  EXPECT_NE(refused.error().message.find(name), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("images.insecureRegistries"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(fs::exists(layout("refused")));

  o.config.insecureRegistries = {name};
  auto r = pullImage(ref, layout("ok"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->endpoint, name);
  EXPECT_EQ(r->manifestDigest, img.manifest.digest());
}

TEST_F(RegistryOptionsTest, HaveBlobSkipsLayersTheCallerHas) {
  Blob a = testing::makeLayer({{"a", "first"}});
  Blob b = testing::makeLayer({{"b", "second"}});
  Blob c = testing::makeLayer({{"c", "third"}});
  TestImage img = testing::makeImage({a, b, c, a});  // a listed twice
  ASSERT_TRUE(plain_->pushImage("app", "v1", img).ok());
  PullOptions o = quick();
  std::multiset<std::string> asked;
  o.haveBlob = [&](const std::string& digest) {
    asked.insert(digest);
    return digest == b.digest();
  };
  std::vector<std::string> skippedEvents, started;
  o.progress = [&](const PullEvent& e) {
    if (e.kind == PullEvent::Kind::BlobSkipped) skippedEvents.push_back(e.digest);
    if (e.kind == PullEvent::Kind::BlobStart) started.push_back(e.digest);
  };
  auto r = pullImage(parseReference(plain_->host() + "/app:v1").value(), layout("l"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  // Asked once per distinct layer, never for the config.
  EXPECT_EQ(asked, (std::multiset<std::string>{a.digest(), b.digest(), c.digest()}));
  EXPECT_EQ(r->skippedLayers, std::vector<std::string>{b.digest()});
  EXPECT_EQ(skippedEvents, std::vector<std::string>{b.digest()});
  EXPECT_EQ(std::count(started.begin(), started.end(), b.digest()), 0);
  EXPECT_EQ(r->layers.size(), 4u);  // the manifest still lists it
  int64_t manifestBytes = static_cast<int64_t>(img.manifest.bytes.size());
  int64_t configBytes = static_cast<int64_t>(img.config.bytes.size());
  int64_t all = manifestBytes + configBytes +
                static_cast<int64_t>(a.bytes.size() + b.bytes.size() + c.bytes.size());
  EXPECT_EQ(r->sizeBytes, all);
  EXPECT_EQ(r->fetchedBytes, all - static_cast<int64_t>(b.bytes.size()));

  std::set<std::string> want = {"index.json", "oci-layout"};
  for (const Blob* x : {&img.manifest, &img.config, &a, &c})
    want.insert("blobs/sha256/" + x->digest().substr(7));
  EXPECT_EQ(filesUnder(layout("l")), want);
  json desc = json::parse(readFile(layout("l") + "/index.json").value())["manifests"][0];
  EXPECT_EQ(desc["annotations"]["io.boxd.image.absent-blobs"], b.digest());
  json manifest = json::parse(
      readFile(layout("l") + "/blobs/sha256/" + img.manifest.digest().substr(7)).value());
  EXPECT_EQ(manifest["layers"][1]["digest"], b.digest());

  // Nothing claimed: every blob, and no absent-blobs annotation.
  o.haveBlob = [](const std::string&) { return false; };
  auto full = pullImage(parseReference(plain_->host() + "/app:v1").value(), layout("full"), o);
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_TRUE(full->skippedLayers.empty());
  EXPECT_EQ(full->fetchedBytes, full->sizeBytes);
  EXPECT_EQ(filesUnder(layout("full")).size(), 7u);  // 3 layers, config, manifest, 2 files
  json fdesc = json::parse(readFile(layout("full") + "/index.json").value())["manifests"][0];
  EXPECT_FALSE(fdesc["annotations"].contains("io.boxd.image.absent-blobs"));
}

}  // namespace
}  // namespace boxd::images
