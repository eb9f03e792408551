// The registry client against a real registry (Debian's docker-registry) started per test on
// 127.0.0.1: pulls into OCI layouts by tag and digest, platform selection from an index, TLS
// with the test's own CA and htpasswd auth, a tampered blob, a registry killed mid-pull, a
// registry that never answers, bounded parallelism and mirrors.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/fd.h"
#include "common/hash.h"
#include "common/util.h"
#include "images/registry/pull.h"
#include "tests/fixtures/process.h"
#include "tests/integration/registry_fixture.h"
#include "tests/integration/registry_peer.h"
#include "tests/integration/registry_quick_pull.h"
#include "tests/integration/throttle_proxy.h"
#include "tests/support/temp_dir.h"

namespace boxd::images {
namespace {

using boxd::testing::Blob;
using boxd::testing::filesUnder;
using boxd::testing::RegistryPeer;
using boxd::testing::TestImage;
using nlohmann::json;
namespace fs = std::filesystem;

class RegistryPullTest : public testing::RegistryPeerTest {
 protected:
  RegistryPullTest() : RegistryPeerTest("registry") {}

  static PullOptions quick() { return boxd::testing::quickPullOptions(); }
  std::string layout(const std::string& name) { return tmp_.path() + "/" + name; }

  // Every blob of the layout has the content its name says; index.json names one manifest.
  static json checkLayout(const std::string& dir) {
    auto layoutFile = readFile(dir + "/oci-layout");
    EXPECT_TRUE(layoutFile.ok());
    EXPECT_EQ(json::parse(*layoutFile)["imageLayoutVersion"], "1.0.0");
    for (const auto& f : filesUnder(dir + "/blobs/sha256")) {
      EXPECT_EQ(f.find(".tmp"), std::string::npos) << "temporary left: " << f;
      auto content = readFile(dir + "/blobs/sha256/" + f);
      EXPECT_EQ(sha256Hex(*content), f);
    }
    json index = json::parse(readFile(dir + "/index.json").value());
    EXPECT_EQ(index["manifests"].size(), 1u);
    return index;
  }
};

TEST_F(RegistryPullTest, PullsByTagAndByDigestIntoAnOciLayout) {
  TestImage img = testing::makeImage({testing::makeLayer({{"etc/base", "base\n"}}),
                                      testing::makeLayer({{"app/run", "#!/bin/sh\n"}})});
  ASSERT_TRUE(plain_->pushImage("team/app", "v1", img).ok());
  std::string ref = plain_->host() + "/team/app:v1";
  std::vector<PullEvent> events;
  PullOptions o = quick();
  o.progress = [&](const PullEvent& e) { events.push_back(e); };
  auto pulled = pullImage(parseReference(ref).value(), layout("bytag"), o);
  ASSERT_TRUE(pulled.ok()) << pulled.error().message;
  EXPECT_EQ(pulled->manifestDigest, img.manifest.digest());
  EXPECT_EQ(pulled->repoDigest, img.manifest.digest());
  EXPECT_EQ(pulled->endpoint, plain_->host());
  json index = checkLayout(layout("bytag"));
  json desc = index["manifests"][0];
  EXPECT_EQ(desc["digest"], img.manifest.digest());
  EXPECT_EQ(desc["mediaType"], kOciManifest);
  EXPECT_EQ(desc["annotations"]["org.opencontainers.image.ref.name"], "v1");
  EXPECT_EQ(desc["annotations"]["io.containerd.image.name"], ref);
  std::set<std::string> want = {"index.json", "oci-layout"};
  for (const Blob* b : {&img.manifest, &img.config, &img.layers[0], &img.layers[1]})
    want.insert("blobs/sha256/" + b->digest().substr(7));
  EXPECT_EQ(filesUnder(layout("bytag")), want);
  // Layers stay as served: the gzipped bytes.
  EXPECT_EQ(readFile(layout("bytag") + "/blobs/sha256/" + img.layers[1].digest().substr(7)).value(),
            img.layers[1].bytes);
  int done = 0;
  for (const auto& e : events) done += e.kind == PullEvent::Kind::BlobDone;
  EXPECT_EQ(done, 3);  // config and two layers

  auto byDigest =
      pullImage(parseReference(plain_->host() + "/team/app@" + img.manifest.digest()).value(),
                layout("bydigest"), quick());
  ASSERT_TRUE(byDigest.ok()) << byDigest.error().message;
  json d2 = checkLayout(layout("bydigest"))["manifests"][0];
  EXPECT_EQ(d2["digest"], img.manifest.digest());
  EXPECT_FALSE(d2["annotations"].contains("org.opencontainers.image.ref.name"));

  // A standard tool reads the layout: skopeo copies it (checking every digest) when installed.
  if (::access("/usr/bin/skopeo", X_OK) == 0) {
    auto r = testing::runCommand(
        {"skopeo", "copy", "oci:" + layout("bytag"), "dir:" + tmp_.path() + "/skopeo-out"}, 60000);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->ok()) << r->output;
  }
}

TEST_F(RegistryPullTest, UnknownTagAndRepositoryAreManifestUnknown) {
  TestImage img = testing::makeImage({testing::makeLayer({{"a", "a"}})});
  ASSERT_TRUE(plain_->pushImage("app", "v1", img).ok());
  for (const std::string ref : {"/app:v2", "/nothing:v1"}) {
    auto r = pullImage(parseReference(plain_->host() + ref).value(), layout("x"), quick());
    ASSERT_FALSE(r.ok());
    std::cout << "error: " << r.error().message << "\n";
    EXPECT_EQ(reasonOf(r.error()), PullReason::ManifestUnknown) << r.error().message;
    EXPECT_NE(r.error().message.find("pull " + plain_->host() + ref), std::string::npos)
        << r.error().message;
    EXPECT_FALSE(fs::exists(layout("x")));
  }
}

TEST_F(RegistryPullTest, MultiPlatformIndexPicksTheHostPlatform) {
  TestImage amd = testing::makeImage({testing::makeLayer({{"arch", "amd64"}})}, "amd64");
  TestImage arm = testing::makeImage({testing::makeLayer({{"arch", "arm64"}})}, "arm64");
  ASSERT_TRUE(plain_->pushImage("multi", amd.manifest.digest(), amd).ok());
  ASSERT_TRUE(plain_->pushImage("multi", arm.manifest.digest(), arm).ok());
  Blob index = testing::makeIndex({{"arm64", &arm}, {"amd64", &amd}});
  ASSERT_TRUE(plain_->pushManifest("multi", "v1", index).ok());
  Reference ref = parseReference(plain_->host() + "/multi:v1").value();

  PullOptions o = quick();
  o.platform = {"linux", "amd64", ""};
  auto r = pullImage(ref, layout("amd"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->manifestDigest, amd.manifest.digest());
  EXPECT_EQ(r->repoDigest, index.digest());
  json desc = checkLayout(layout("amd"))["manifests"][0];
  EXPECT_EQ(desc["platform"]["architecture"], "amd64");
  EXPECT_EQ(desc["annotations"]["io.boxd.image.repo-digest"], ref.name() + "@" + index.digest());
  EXPECT_TRUE(fs::exists(layout("amd") + "/blobs/sha256/" + amd.layers[0].digest().substr(7)));
  EXPECT_FALSE(fs::exists(layout("amd") + "/blobs/sha256/" + arm.layers[0].digest().substr(7)));

  o.platform = hostPlatform();
  if (o.platform.architecture == "amd64") {
    auto host = pullImage(ref, layout("host"), o);
    ASSERT_TRUE(host.ok()) << host.error().message;
    EXPECT_EQ(host->manifestDigest, amd.manifest.digest());
  }
  o.platform = {"linux", "arm64", "v8"};
  auto a = pullImage(ref, layout("arm"), o);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->manifestDigest, arm.manifest.digest());

  o.platform = {"linux", "s390x", ""};
  auto none = pullImage(ref, layout("none"), o);
  ASSERT_FALSE(none.ok());
  std::cout << "error: " << none.error().message << "\n";
  EXPECT_EQ(reasonOf(none.error()), PullReason::NoMatchingPlatform);
  EXPECT_NE(none.error().message.find("linux/arm64/v8, linux/amd64"), std::string::npos)
      << none.error().message;
  EXPECT_FALSE(fs::exists(layout("none")));
}

TEST_F(RegistryPullTest, TamperedBlobIsRefusedAndNothingKept) {
  TestImage img = testing::makeImage({testing::makeLayer({{"good", "content"}}),
                                      testing::makeLayer({{"other", std::string(4096, 'x')}})});
  ASSERT_TRUE(plain_->pushImage("app", "v1", img).ok());
  std::string data = plain_->blobDataPath(img.layers[1].digest());
  std::string bytes = readFile(data).value();
  bytes[bytes.size() / 2] ^= 0x55;  // same size, other content
  ASSERT_TRUE(writeFileAtomic(data, bytes).ok());
  ASSERT_EQ(::mkdir(layout("given").c_str(), 0755), 0);  // the caller's dir stays, empty
  auto r = pullImage(parseReference(plain_->host() + "/app:v1").value(), layout("given"), quick());
  ASSERT_FALSE(r.ok());
  std::cout << "error: " << r.error().message << "\n";
  EXPECT_EQ(reasonOf(r.error()), PullReason::DigestMismatch) << r.error().message;
  EXPECT_NE(r.error().message.find(img.layers[1].digest()), std::string::npos) << r.error().message;
  EXPECT_TRUE(fs::exists(layout("given")));
  EXPECT_TRUE(fs::is_empty(layout("given"))) << *filesUnder(layout("given")).begin();
}

// Large layers served slowly by the registry's side (a throttling proxy in front of it, so no
// more than the rate is ever in flight: a client-side limit let the kernel buffer whole blobs
// before the kill); "the registry" (the proxy) goes away once bytes flow.
TEST_F(RegistryPullTest, RegistryKilledMidPullIsUnreachableWithinTheDeadline) {
  std::vector<Blob> layers;
  for (int i = 0; i < 3; ++i)
    layers.push_back(testing::makeLayer({{"big", testing::randomBytes(3 << 20)}}));
  TestImage img = testing::makeImage(layers);
  ASSERT_TRUE(plain_->pushImage("big", "v1", img).ok());
  auto proxy = testing::ThrottleProxy::start(plain_->host(), 512 << 10);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  const std::string host = (*proxy)->host();
  PullOptions o = quick();
  std::atomic<bool> flowing{false};
  o.progress = [&](const PullEvent& e) {
    if (e.kind == PullEvent::Kind::BlobProgress && e.done > (256 << 10)) flowing = true;
  };
  std::thread killer([&] {
    for (int64_t end = monotonicMs() + 15000; !flowing && monotonicMs() < end;)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    proxy->reset();  // its listener and every connection close
  });
  int64_t start = monotonicMs();
  auto r = pullImage(parseReference(host + "/big:v1").value(), layout("l"), o);
  int64_t took = monotonicMs() - start;
  killer.join();
  ASSERT_TRUE(flowing.load());
  ASSERT_FALSE(r.ok());
  std::cout << "error: " << r.error().message << "\n";
  EXPECT_EQ(reasonOf(r.error()), PullReason::Unreachable) << r.error().message;
  EXPECT_NE(r.error().message.find(host), std::string::npos) << r.error().message;
  EXPECT_LT(took, 15000) << r.error().message;
  EXPECT_FALSE(fs::exists(layout("l")));
}

TEST_F(RegistryPullTest, ARegistryThatNeverAnswersFailsAtTheDeadline) {
  // A listening socket nobody accepts on: connects succeed, no byte ever comes back.
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s.get(), 16), 0);
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  std::string host = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  PullOptions o = quick();
  o.timeoutMs = 3000;
  o.stallTimeoutMs = 60000;    // the deadline, not the stall or connect timers, ends it
  o.connectTimeoutMs = 60000;  // (which includes the TLS handshake a loopback registry gets)
  int64_t start = monotonicMs();
  auto r = pullImage(parseReference(host + "/app:v1").value(), layout("l"), o);
  int64_t took = monotonicMs() - start;
  ASSERT_FALSE(r.ok());
  std::cout << "error: " << r.error().message << "\n";
  EXPECT_EQ(reasonOf(r.error()), PullReason::Unreachable) << r.error().message;
  EXPECT_GE(took, 2500);
  EXPECT_LT(took, 6000) << r.error().message;

  // Nothing listening at all: an error in well under a second per attempt.
  o.timeoutMs = 20000;
  start = monotonicMs();
  auto refused = pullImage(
      parseReference("127.0.0.1:" + std::to_string(testing::freePort()) + "/app:v1").value(),
      layout("l2"), o);
  ASSERT_FALSE(refused.ok());
  std::cout << "error: " << refused.error().message << "\n";
  EXPECT_EQ(reasonOf(refused.error()), PullReason::Unreachable);
  EXPECT_LT(monotonicMs() - start, 5000) << refused.error().message;

  // With the default timers and a long deadline, the silent registry fails after 10 s (the
  // connect timer, TLS handshake included; the ping's stall timer), once: a timeout of GET /v2/
  // is not retried.
  o = PullOptions{};
  o.config.certsDir.clear();
  o.timeoutMs = 120000;
  start = monotonicMs();
  auto silent = pullImage(parseReference(host + "/app:v1").value(), layout("l3"), o);
  took = monotonicMs() - start;
  ASSERT_FALSE(silent.ok());
  EXPECT_EQ(reasonOf(silent.error()), PullReason::Unreachable);
  EXPECT_NE(silent.error().message.find("no answer"), std::string::npos) << silent.error().message;
  EXPECT_LT(took, 13000) << silent.error().message;
}

TEST_F(RegistryPullTest, LayersDownloadInParallelButBounded) {
  std::vector<Blob> layers;
  for (int i = 0; i < 7; ++i)
    layers.push_back(testing::makeLayer({{"f", testing::randomBytes(300 << 10)}}));
  TestImage img = testing::makeImage(layers);
  ASSERT_TRUE(plain_->pushImage("wide", "v1", img).ok());
  PullOptions o = quick();
  o.maxParallel = 3;
  o.maxBytesPerSecond = 1 << 20;
  int active = 0, peak = 0;
  o.progress = [&](const PullEvent& e) {  // calls are serialised by the pull
    if (e.kind == PullEvent::Kind::BlobStart) peak = std::max(peak, ++active);
    if (e.kind == PullEvent::Kind::BlobDone) --active;
  };
  auto r = pullImage(parseReference(plain_->host() + "/wide:v1").value(), layout("l"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(peak, 3);
  EXPECT_EQ(filesUnder(layout("l") + "/blobs/sha256").size(), 9u);  // 7 layers, config, manifest
}

TEST_F(RegistryPullTest, MirrorServesThePullBeforeTheRegistry) {
  TestImage img = testing::makeImage({testing::makeLayer({{"m", "mirror"}})});
  ASSERT_TRUE(plain_->pushImage("library/app", "v1", img).ok());
  std::string dead = "127.0.0.1:" + std::to_string(testing::freePort());
  PullOptions o = quick();
  o.config.mirrors[dead] = {"http://" + dead, plain_->host()};  // a dead mirror, then a live one
  auto r = pullImage(parseReference(dead + "/library/app:v1").value(), layout("l"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->endpoint, plain_->host());
  EXPECT_EQ(r->manifestDigest, img.manifest.digest());
}

class RegistryAuthTest : public RegistryPullTest {
 protected:
  void SetUp() override {
    RegistryPullTest::SetUp();
    if (setUpStopped()) return;
    password_ = "pw-" + randomHex(8);
    auto p = RegistryPeer::start(tmp_.path() + "/tls", {true, "puller", password_});
    ASSERT_TRUE(p.ok()) << p.error().message;
    tls_.reset(*p);
    img_ = testing::makeImage({testing::makeLayer({{"secret/app", "private"}})});
    ASSERT_TRUE(tls_->pushImage("private/app", "v1", img_).ok());
    // certsDir/<host:port>/ca.crt, as /etc/docker/certs.d lays it out.
    certs_ = tmp_.path() + "/certs.d";
    ASSERT_TRUE(mkdirAll(certs_ + "/" + tls_->host()).ok());
    fs::copy_file(tls_->caFile(), certs_ + "/" + tls_->host() + "/ca.crt");
  }
  std::string authFile(const std::string& password) {
    std::string path = tmp_.path() + "/auth-" + randomHex(4) + ".json";
    json cfg = {{"auths", {{tls_->host(), {{"auth", base64Encode("puller:" + password)}}}}}};
    EXPECT_TRUE(writeFileAtomic(path, cfg.dump(), 0600).ok());
    return path;
  }
  PullOptions withCerts() {
    PullOptions o = quick();
    o.config.certsDir = certs_;
    return o;
  }
  Reference ref() { return parseReference(tls_->host() + "/private/app:v1").value(); }

  std::string password_, certs_;
  std::unique_ptr<RegistryPeer> tls_;
  TestImage img_;
};

TEST_F(RegistryAuthTest, TlsWithTheRegistrysCaAndBasicAuthFromAnAuthFile) {
  PullOptions o = withCerts();
  o.keyring = loadAuthFile(authFile(password_)).value();
  auto r = pullImage(ref(), layout("l"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->manifestDigest, img_.manifest.digest());
  checkLayout(layout("l"));
}

TEST_F(RegistryAuthTest, CredentialsFromAnImagePullSecret) {
  PullOptions o = withCerts();
  json cfg = {
      {"auths", {{"https://" + tls_->host(), {{"username", "puller"}, {"password", password_}}}}}};
  o.keyring = keyringFromSecret("regcred", "kubernetes.io/dockerconfigjson",
                                {{".dockerconfigjson", cfg.dump()}})
                  .value();
  auto r = pullImage(ref(), layout("l"), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST_F(RegistryAuthTest, NoCredentialsAndAWrongPasswordAreUnauthorized) {
  PullOptions o = withCerts();
  auto none = pullImage(ref(), layout("l"), o);
  ASSERT_FALSE(none.ok());
  std::cout << "error: " << none.error().message << "\n";
  EXPECT_EQ(reasonOf(none.error()), PullReason::Unauthorized) << none.error().message;
  EXPECT_NE(none.error().message.find("no credentials"), std::string::npos) << none.error().message;

  const std::string wrong = "wrong-" + randomHex(8);
  std::string file = authFile(wrong);
  o.keyring = loadAuthFile(file).value();
  auto bad = pullImage(ref(), layout("l"), o);
  ASSERT_FALSE(bad.ok());
  std::cout << "error: " << bad.error().message << "\n";
  EXPECT_EQ(reasonOf(bad.error()), PullReason::Unauthorized) << bad.error().message;
  EXPECT_NE(bad.error().message.find(file), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("pull " + ref().str()), std::string::npos);
  for (const std::string& secret : {wrong, base64Encode("puller:" + wrong), password_})
    EXPECT_EQ(bad.error().message.find(secret), std::string::npos) << bad.error().message;
  EXPECT_FALSE(fs::exists(layout("l")));
}

TEST_F(RegistryAuthTest, AnUntrustedCertificateIsRefused) {
  PullOptions o = quick();  // no certsDir: only the system CAs
  o.keyring = loadAuthFile(authFile(password_)).value();
  auto r = pullImage(ref(), layout("l"), o);
  ASSERT_FALSE(r.ok());
  std::cout << "error: " << r.error().message << "\n";
  EXPECT_EQ(reasonOf(r.error()), PullReason::Unreachable);
  EXPECT_NE(r.error().message.find("not trusted"), std::string::npos) << r.error().message;
}

// boxctl image pull, standalone: the registries' settings from its --config (boxd.yaml).
TEST_F(RegistryAuthTest, BoxctlImagePullUsesTheConfigsAuthFileAndCerts) {
  std::string config = tmp_.path() + "/boxd.yaml";
  ASSERT_TRUE(writeFileAtomic(config, "images:\n  authFile: " + authFile(password_) +
                                          "\n  certsDir: " + certs_ + "\n")
                  .ok());
  std::string boxctl = std::string(BOXD_TEST_BUILD_DIR) + "/bin/boxctl";
  auto r = testing::runCommand(
      {boxctl, "image", "pull", ref().str(), "--layout", layout("l"), "--config", config}, 60000);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok()) << r->output;
  checkLayout(layout("l"));
  // Not a terminal: one line as each blob starts and ends, then a summary.
  std::string layer = img_.layers[0].digest().substr(7, 12);
  EXPECT_NE(r->output.find(layer + ": downloading"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find(layer + ": done"), std::string::npos) << r->output;
  EXPECT_NE(r->output.find("pulled " + ref().str() + " (" + img_.manifest.digest()),
            std::string::npos)
      << r->output;
  EXPECT_EQ(r->output.find(password_), std::string::npos);

  // Without the auth file: exit 1 and the reason.
  ASSERT_TRUE(writeFileAtomic(config, "images:\n  certsDir: " + certs_ + "\n").ok());
  auto denied = testing::runCommand(
      {boxctl, "image", "pull", ref().str(), "--layout", layout("l2"), "--config", config}, 60000);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->exitCode, 1);
  EXPECT_NE(denied->output.find("unauthorized"), std::string::npos) << denied->output;
  EXPECT_FALSE(fs::exists(layout("l2")));
}

}  // namespace
}  // namespace boxd::images
