// Pods whose images boxd pulls, against a real registry (Debian's docker-registry on 127.0.0.1,
// images built and pushed by the test): a Pod written as the Kubernetes documentation writes it
// runs with its image's own entrypoint; pull by tag and by digest; the pull policy defaults;
// credentials from imagePullSecrets and a wrong password (ErrImagePull, then ImagePullBackOff,
// with the registry's reason and no secret anywhere), each pod's from its own namespace only; the
// registry stopped mid-pull (nothing partial kept, the pod retries and runs once it is back); kill
// -9 of boxd mid-pull; two pods on one image share one pull; `boxctl image pull` into boxd's store,
// joining a pod's pull and showing each layer's progress (plain lines, and rows redrawn on a
// terminal); an image named by its index's digest found in the store by the next pod; a pull nobody
// needs cancelled.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <regex>
#include <set>
#include <thread>

#include "common/util.h"
#include "images/registry/credentials.h"
#include "tests/fixtures/process.h"
#include "tests/integration/harness.h"
#include "tests/integration/pty_run.h"
#include "tests/integration/registry_peer.h"
#include "tests/integration/throttle_proxy.h"
#include "tests/support/oci_builder.h"

namespace boxd::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Blob toBlob(const BuiltLayer& l) { return {l.mediaType, l.blob}; }

json descriptorOf(const Blob& b) {
  return {{"mediaType", b.mediaType}, {"digest", b.digest()}, {"size", b.bytes.size()}};
}

// An image that runs: real diff IDs, the given config section.
TestImage runnableImage(const std::vector<BuiltLayer>& layers, const json& config) {
  TestImage img;
  json diffIds = json::array(), descs = json::array();
  for (const auto& l : layers) {
    diffIds.push_back("sha256:" + l.diffId);
    img.layers.push_back(toBlob(l));
    descs.push_back(descriptorOf(img.layers.back()));
  }
  json cfg = {{"architecture", "amd64"},
              {"os", "linux"},
              {"config", config},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diffIds}}}};
  img.config = {"application/vnd.oci.image.config.v1+json", cfg.dump()};
  json m = {{"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"config", descriptorOf(img.config)},
            {"layers", descs}};
  img.manifest = {"application/vnd.oci.image.manifest.v1+json", m.dump()};
  return img;
}

// The busybox rootfs as one gzipped layer (built once per binary).
const BuiltLayer& busyboxLayer() {
  static TempDir dir("pull-bb");
  static BuiltLayer l = [] {
    const std::string tar = dir / "bb.tar";
    auto r = run({"tar", "-C", busyboxRootfs(), "--numeric-owner", "-cf", tar, "."}, 120000);
    EXPECT_EQ(r.code, 0) << r.out;
    BuiltLayer out;
    auto bytes = readFile(tar);
    out.blob = bytes.ok() ? *bytes : "";
    out.diffId = sha256Of(out.blob);
    out.mediaType = "application/vnd.oci.image.layer.v1.tar";
    return out;
  }();
  return l;
}

// A layer with the marker and a page to serve; `padding` incompressible bytes make it slow to
// pull through a throttling proxy.
BuiltLayer appLayer(const std::string& marker, size_t padding = 0) {
  std::vector<LayerEntry> e = {{"www/", AE_IFDIR, 0755},
                               {"www/index.html", AE_IFREG, 0644, "page " + marker + "\n"},
                               {"marker", AE_IFREG, 0644, marker + "\n"}};
  if (padding > 0) e.push_back({"padding", AE_IFREG, 0644, randomBytes(padding)});
  return buildLayer(e, Compression::Gzip);
}

// Entrypoint only, as a web server image has: prints its marker, then serves /www on :80.
const json kServerConfig = {
    {"Entrypoint",
     {"/bin/sh", "-c", "echo image-marker=$(cat /marker); exec httpd -f -p 80 -h /www"}},
    {"Env", {"PATH=/bin:/sbin"}}};

int countOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class PodPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    auto p = RegistryPeer::start(work_ / "registry", {});
    ASSERT_TRUE(p.ok()) << p.error().message;
    reg_.reset(*p);
  }
  void startBoxd(const std::string& images = "") {
    b_->addConfig("images:\n  offline: false\n" + images);
    b_->start();
    ASSERT_TRUE(b_->running()) << b_->log();
  }
  TestImage push(const std::string& repo, const std::string& tag, const std::string& marker,
                 size_t padding = 0) {
    TestImage img = runnableImage({busyboxLayer(), appLayer(marker, padding)}, kServerConfig);
    Status st = reg_->pushImage(repo, tag, img);
    EXPECT_TRUE(st.ok()) << st.error().message;
    return img;
  }
  std::string events(const std::string& pod) { return b_->boxctl({"events", pod}).out; }
  std::string logs(const std::string& pod) { return b_->boxctl({"logs", pod}).out; }
  std::string describe(const std::string& pod) { return b_->boxctl({"describe", pod}).out; }
  std::string podReason(const std::string& pod) {
    auto p = b_->pod(pod);
    return p.is_object() ? p.value("reason", "") : "";
  }
  bool runningWithMarker(const std::string& pod, const std::string& marker, int ms = 60000) {
    return b_->waitPhase(pod, "Running", ms) &&
           waitFor([&] { return logs(pod).find("image-marker=" + marker) != std::string::npos; },
                   10000);
  }
  // Temporaries of the image store (a pull or import in progress, or left by a crash).
  std::vector<std::string> storeTemporaries() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(b_->stateDir() + "/images", ec))
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) out.push_back(e.path());
    return out;
  }
  int64_t temporaryBytes() {
    int64_t n = 0;
    for (const auto& t : storeTemporaries()) {
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(t, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec)) n += static_cast<int64_t>(it->file_size(ec));
    }
    return n;
  }
  std::string pod(const std::string& name, const std::string& image,
                  const std::string& extraContainer = "", const std::string& extraSpec = "") {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
           "\nspec:\n  terminationGracePeriodSeconds: 1\n" + extraSpec +
           "  containers:\n  - name: c\n    image: " + image + "\n" + extraContainer;
  }

  TempDir work_{"pod-pull"};
  std::unique_ptr<RegistryPeer> reg_;
  std::unique_ptr<Boxd> b_ = std::make_unique<Boxd>();
};

// The Pod of the Kubernetes documentation's "Pods" concept page
// (https://kubernetes.io/docs/concepts/workloads/pods/, "Using Pods"): one container named after
// the web server and its image with a version tag, declaring port 80. Only the image's registry
// differs: the test's own, holding an image whose entrypoint is a small web server.
TEST_F(PodPullTest, ThePodFromTheKubernetesDocsRunsItsImagesEntrypoint) {
  startBoxd();
  TestImage img = push("nginx", "1.14.2", "docs");
  b_->writeSpec("nginx.yaml",
                "apiVersion: v1\n"
                "kind: Pod\n"
                "metadata:\n"
                "  name: nginx\n"
                "spec:\n"
                "  containers:\n"
                "  - name: nginx\n"
                "    image: " +
                    reg_->host() +
                    "/nginx:1.14.2\n"
                    "    ports:\n"
                    "    - containerPort: 80\n");
  ASSERT_TRUE(b_->waitPhase("nginx", "Running", 60000)) << b_->status().dump(2) << b_->log();
  ASSERT_TRUE(
      waitFor([&] { return logs("nginx").find("image-marker=docs") != std::string::npos; }, 10000))
      << logs("nginx");
  auto page = b_->boxctl({"exec", "nginx", "--", "wget", "-qO-", "http://127.0.0.1:80/"});
  EXPECT_NE(page.out.find("page docs"), std::string::npos) << page.out;
  const std::string ev = events("nginx");
  EXPECT_NE(ev.find("Pulling image \"" + reg_->host() + "/nginx:1.14.2\""), std::string::npos)
      << ev;
  EXPECT_NE(ev.find("Successfully pulled image \"" + reg_->host() + "/nginx:1.14.2\" in "),
            std::string::npos)
      << ev;
  // The digest it started from, and the tag the pull recorded.
  const std::string d = describe("nginx");
  EXPECT_NE(d.find("Digest:    " + img.manifest.digest()), std::string::npos) << d;
  const std::string ls = b_->boxctl({"image", "ls"}).out;
  EXPECT_NE(ls.find(reg_->host() + "/nginx"), std::string::npos) << ls;
  EXPECT_TRUE(storeTemporaries().empty());
}

TEST_F(PodPullTest, ByTagByDigestAndThePolicyDefaults) {
  startBoxd();
  const std::string repo = reg_->host() + "/app";
  TestImage v1 = push("app", "latest", "one");
  // :latest defaults to Always: pulled.
  b_->writeSpec("a.yaml", pod("a", repo + ":latest"));
  ASSERT_TRUE(runningWithMarker("a", "one")) << b_->status().dump(2) << b_->log();
  // By digest (IfNotPresent by default): the image is there already, nothing pulled.
  b_->writeSpec("d.yaml", pod("d", repo + "@" + v1.manifest.digest()));
  ASSERT_TRUE(runningWithMarker("d", "one")) << b_->status().dump(2);
  EXPECT_EQ(events("d").find("Pulling"), std::string::npos) << events("d");
  EXPECT_NE(events("d").find("already present on machine"), std::string::npos) << events("d");

  // A re-pushed :latest: a new pod pulls it (Always), the running one keeps its digest.
  TestImage v2 = push("app", "latest", "two");
  b_->writeSpec("b.yaml", pod("b", repo));  // no tag: latest, Always
  ASSERT_TRUE(runningWithMarker("b", "two")) << b_->status().dump(2) << b_->log();
  EXPECT_NE(describe("b").find("Digest:    " + v2.manifest.digest()), std::string::npos);
  EXPECT_NE(describe("a").find("Digest:    " + v1.manifest.digest()), std::string::npos);
  EXPECT_NE(logs("a").find("image-marker=one"), std::string::npos);
  // The second pull downloaded only what it lacked (busybox was stored).
  EXPECT_NE(events("b").find("2 layers, 1 downloaded"), std::string::npos) << events("b");

  // A version tag defaults to IfNotPresent: with the image absent, it is pulled...
  push("app", "v3", "three");
  b_->writeSpec("c.yaml", pod("c", repo + ":v3"));
  ASSERT_TRUE(runningWithMarker("c", "three")) << b_->status().dump(2);
  // ...and Never with an image absent waits with ErrImageNeverPull.
  b_->writeSpec("never.yaml", pod("never", repo + ":absent", "    imagePullPolicy: Never\n"));
  ASSERT_TRUE(waitFor([&] { return podReason("never") == "ErrImageNeverPull"; }, 10000))
      << b_->status().dump(2);
  EXPECT_NE(b_->pod("never")["message"].get<std::string>().find(
                "is not present with pull policy of Never"),
            std::string::npos);
  EXPECT_EQ(events("never").find("Pulling"), std::string::npos);
  // An unknown tag: ErrImagePull with the registry's reason.
  b_->writeSpec("missing.yaml", pod("missing", repo + ":nope"));
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = podReason("missing");
        return r == "ErrImagePull" || r == "ImagePullBackOff";
      },
      20000))
      << b_->status().dump(2);
  EXPECT_NE(events("missing").find("manifest unknown"), std::string::npos) << events("missing");
}

TEST_F(PodPullTest, CredentialsFromImagePullSecretsAndAWrongPassword) {
  const std::string password = "pw-" + randomHex(8), wrong = "wrong-" + randomHex(8);
  auto p = RegistryPeer::start(work_ / "tls", {true, "puller", password});
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::unique_ptr<RegistryPeer> tls(*p);
  TestImage img = runnableImage({busyboxLayer(), appLayer("private")}, kServerConfig);
  ASSERT_TRUE(tls->pushImage("private/app", "v1", img).ok());
  const std::string certs = work_ / "certs.d";
  ASSERT_TRUE(mkdirAll(certs + "/" + tls->host()).ok());
  fs::copy_file(tls->caFile(), certs + "/" + tls->host() + "/ca.crt");
  startBoxd("  certsDir: " + certs + "\n");
  auto secret = [&](const std::string& name, const std::string& pw) {
    json cfg = {{"auths", {{tls->host(), {{"username", "puller"}, {"password", pw}}}}}};
    std::string doc = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + name +
                      "\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " +
                      images::base64Encode(cfg.dump()) + "\n";
    ASSERT_TRUE(writeFileAtomic(b_->specs() + "/" + name + ".yaml", doc, 0600).ok());
  };
  secret("regcred", password);
  secret("badcred", wrong);
  const std::string image = tls->host() + "/private/app:v1";
  b_->writeSpec("ok.yaml", pod("ok", image, "", "  imagePullSecrets:\n  - name: regcred\n"));
  ASSERT_TRUE(runningWithMarker("ok", "private")) << b_->status().dump(2) << b_->log();
  // Always: with the image present, a pod still pulls, so its credentials are checked (with
  // IfNotPresent it would run the image "ok" pulled, as under kubelet).
  b_->writeSpec("bad.yaml", pod("bad", image, "    imagePullPolicy: Always\n",
                                "  imagePullSecrets:\n  - name: badcred\n"));
  // The wrong password: ErrImagePull, then ImagePullBackOff, both with the registry's reason.
  ASSERT_TRUE(waitFor([&] { return podReason("bad") == "ImagePullBackOff"; }, 20000))
      << b_->status().dump(2);
  const json bad = b_->pod("bad");
  EXPECT_NE(bad["message"].get<std::string>().find("unauthorized"), std::string::npos)
      << bad.dump(2);
  EXPECT_EQ(bad["containers"][0]["reason"], "ImagePullBackOff");
  const std::string ev = events("bad");
  EXPECT_NE(ev.find("Error: ErrImagePull"), std::string::npos) << ev;
  EXPECT_NE(ev.find("Back-off pulling image"), std::string::npos) << ev;
  EXPECT_NE(ev.find("secret badcred"), std::string::npos) << ev;  // the source, by name
  // No secret anywhere a user or an operator looks.
  const std::string everywhere = b_->status().dump() + ev + events("ok") + describe("bad") +
                                 describe("ok") + b_->log() +
                                 b_->boxctl({"describe", "bad", "-o", "json"}).out;
  for (const std::string& s : {password, wrong, images::base64Encode("puller:" + password),
                               images::base64Encode("puller:" + wrong)})
    EXPECT_EQ(everywhere.find(s), std::string::npos) << "found a secret";
  // Fixing the Secret lets the waiting pod pull at its next attempt.
  secret("badcred", password);
  EXPECT_TRUE(runningWithMarker("bad", "private", 30000)) << b_->status().dump(2);
}

// imagePullSecrets name Secrets of the pod's own namespace, never another's: three namespaces,
// "regcred" declared in two of them with different passwords.
TEST_F(PodPullTest, PullSecretsAreTheNamespacesOwn) {
  const std::string password = "pw-" + randomHex(8), wrong = "wrong-" + randomHex(8);
  auto p = RegistryPeer::start(work_ / "tls", {true, "puller", password});
  ASSERT_TRUE(p.ok()) << p.error().message;
  std::unique_ptr<RegistryPeer> tls(*p);
  TestImage img = runnableImage({busyboxLayer(), appLayer("ns-private")}, kServerConfig);
  ASSERT_TRUE(tls->pushImage("private/app", "v1", img).ok());
  const std::string certs = work_ / "certs.d";
  ASSERT_TRUE(mkdirAll(certs + "/" + tls->host()).ok());
  fs::copy_file(tls->caFile(), certs + "/" + tls->host() + "/ca.crt");
  startBoxd("  certsDir: " + certs + "\n");
  const std::string suffix = randomHex(4), teamA = "team-a-" + suffix, teamB = "team-b-" + suffix;
  auto secret = [&](const std::string& ns, const std::string& pw) {
    json cfg = {{"auths", {{tls->host(), {{"username", "puller"}, {"password", pw}}}}}};
    std::string doc =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: " + ns +
        "\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: " +
        images::base64Encode(cfg.dump()) + "\n";
    ASSERT_TRUE(writeFileAtomic(b_->specs() + "/regcred-" + ns + ".yaml", doc, 0600).ok());
  };
  secret("default", wrong);
  secret(teamA, password);
  const std::string image = tls->host() + "/private/app:v1";
  auto nsPod = [&](const std::string& name, const std::string& ns) {
    std::string doc = pod(name, image, "    imagePullPolicy: Always\n",
                          "  imagePullSecrets:\n  - name: regcred\n");
    return doc.replace(doc.find("\nspec:"), 0, "\n  namespace: " + ns);
  };
  b_->writeSpec("a.yaml", nsPod("app", teamA));
  b_->writeSpec("d.yaml", nsPod("app", "default"));
  b_->writeSpec("b.yaml", nsPod("app", teamB));
  // team-a's own regcred holds the right password: it pulls and runs.
  ASSERT_TRUE(runningWithMarker(teamA + "/app", "ns-private")) << b_->status().dump(2) << b_->log();
  // The default namespace's regcred holds a wrong one: refused, though team-a's is right.
  ASSERT_TRUE(waitFor([&] { return podReason("app") == "ImagePullBackOff"; }, 30000))
      << b_->status().dump(2);
  EXPECT_NE(b_->pod("app")["message"].get<std::string>().find("unauthorized"), std::string::npos)
      << b_->pod("app").dump(2);
  // team-b declares no regcred: neither the default one nor team-a's stands in for it.
  ASSERT_TRUE(waitFor([&] { return podReason(teamB + "/app") == "ImagePullBackOff"; }, 30000))
      << b_->status().dump(2);
  const std::string evB = events(teamB + "/app");
  EXPECT_NE(evB.find("FailedToRetrieveImagePullSecret"), std::string::npos) << evB;
  EXPECT_NE(evB.find("secret \"regcred\" of namespace \"" + teamB + "\""), std::string::npos)
      << evB;
  EXPECT_EQ(events("app").find("FailedToRetrieveImagePullSecret"), std::string::npos)
      << events("app");
  const std::string everywhere =
      b_->status().dump() + evB + events("app") + events(teamA + "/app") + b_->log();
  for (const std::string& s : {password, wrong}) EXPECT_EQ(everywhere.find(s), std::string::npos);
}

TEST_F(PodPullTest, RegistryStoppedMidPullThenBack) {
  // The registry reached through a slow proxy: 6 MiB at 1 MiB/s.
  push("slow", "v1", "slow", 6 << 20);
  auto proxy = ThrottleProxy::start(reg_->host(), 1 << 20);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  const std::string front = (*proxy)->host();
  const int frontPort = std::stoi(front.substr(front.rfind(':') + 1));
  startBoxd();
  b_->writeSpec("s.yaml", pod("s", front + "/slow:v1"));
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > (1 << 20); }, 30000)) << b_->status().dump(2);
  // The registry goes away mid-pull (and whatever served it).
  reg_->kill();
  proxy->reset();
  ASSERT_TRUE(waitFor(
      [&] {
        auto r = podReason("s");
        return r == "ErrImagePull" || r == "ImagePullBackOff";
      },
      30000))
      << b_->status().dump(2);
  EXPECT_NE(events("s").find("unreachable"), std::string::npos) << events("s");
  EXPECT_TRUE(storeTemporaries().empty());  // nothing partial kept
  auto ls = b_->boxctl({"image", "ls"}).out;
  EXPECT_EQ(ls.find("slow"), std::string::npos) << ls;
  // Back where it was (same data, same address): the pod's next attempt pulls and runs.
  auto again = RegistryPeer::start(work_ / "registry2", {false, "", "", work_ / "registry/data"});
  ASSERT_TRUE(again.ok()) << again.error().message;
  reg_.reset(*again);
  auto back = ThrottleProxy::start(reg_->host(), 64 << 20, frontPort);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(runningWithMarker("s", "slow", 60000)) << b_->status().dump(2) << events("s");
}

TEST_F(PodPullTest, KillNineOfBoxdMidPullThenThePodPullsAgain) {
  push("slow", "v1", "crash", 6 << 20);
  auto proxy = ThrottleProxy::start(reg_->host(), 1 << 20);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  b_->writeSpec("k.yaml", pod("k", (*proxy)->host() + "/slow:v1"));
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > (1 << 20); }, 30000)) << b_->status().dump(2);
  b_->kill9();
  EXPECT_FALSE(storeTemporaries().empty());  // the crash left its work in progress
  b_->start();
  ASSERT_TRUE(b_->running()) << b_->log();
  EXPECT_TRUE(runningWithMarker("k", "crash", 60000)) << b_->status().dump(2) << events("k");
  EXPECT_TRUE(storeTemporaries().empty());
}

TEST_F(PodPullTest, TwoPodsOnOneImageShareOnePull) {
  push("shared", "v1", "shared", 2 << 20);
  auto proxy = ThrottleProxy::start(reg_->host(), 2 << 20);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  const std::string image = (*proxy)->host() + "/shared:v1";
  b_->writeSpec("p1.yaml", pod("p1", image));
  b_->writeSpec("p2.yaml", pod("p2", image));
  // Both wait in ContainerCreating while the one pull runs.
  ASSERT_TRUE(waitFor(
      [&] {
        return podReason("p1") == "ContainerCreating" && podReason("p2") == "ContainerCreating";
      },
      10000))
      << b_->status().dump(2);
  ASSERT_TRUE(runningWithMarker("p1", "shared")) << b_->status().dump(2);
  ASSERT_TRUE(runningWithMarker("p2", "shared")) << b_->status().dump(2);
  EXPECT_EQ(countOf(b_->log(), "pulling image " + image), 1) << b_->log();
  EXPECT_NE(events("p1").find("Successfully pulled"), std::string::npos);
  EXPECT_NE(events("p2").find("Successfully pulled"), std::string::npos);
}

TEST_F(PodPullTest, BoxctlImagePullIntoBoxdsStore) {
  startBoxd();
  TestImage img = push("tool", "v1", "tool");
  auto r = b_->boxctl({"image", "pull", reg_->host() + "/tool:v1"}, 120000);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("pulled " + reg_->host() + "/tool:v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("digest " + img.manifest.digest()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 layers (0 present, 2 new)"), std::string::npos) << r.out;
  // Again: every layer is present, nothing downloaded but the manifest and config.
  auto again = b_->boxctl({"image", "pull", reg_->host() + "/tool:v1"}, 120000);
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("2 layers (2 present, 0 new)"), std::string::npos) << again.out;
  // A pod with the image present and a version tag pulls nothing.
  b_->writeSpec("t.yaml", pod("t", reg_->host() + "/tool:v1"));
  ASSERT_TRUE(runningWithMarker("t", "tool")) << b_->status().dump(2);
  EXPECT_EQ(events("t").find("Pulling"), std::string::npos) << events("t");
  auto missing = b_->boxctl({"image", "pull", reg_->host() + "/tool:nope"}, 60000);
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("manifest unknown"), std::string::npos) << missing.out;
}

// The lines of text that name a layer (its 12 hex digits) in plain output.
std::vector<std::string> layerLines(const std::string& out, const std::string& digest) {
  std::vector<std::string> lines;
  for (const auto& l : split(out, '\n'))
    if (l.rfind(digest.substr(7, 12) + ": ", 0) == 0) lines.push_back(l);
  return lines;
}

bool hasLine(const std::vector<std::string>& lines, const std::string& prefix) {
  for (const auto& l : lines)
    if (l.rfind(prefix, 0) == 0) return true;
  return false;
}

// boxctl joins the pull a pod started and shows each layer's progress as plain lines (not a
// terminal): one per state change, no carriage return, then the digest. One pull, not two.
TEST_F(PodPullTest, BoxctlImagePullJoinsAPodsPullAndShowsLayerProgress) {
  TestImage img = push("prog", "v1", "prog", 3 << 20);
  auto proxy = ThrottleProxy::start(reg_->host(), 1 << 20);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  const std::string image = (*proxy)->host() + "/prog:v1";
  b_->writeSpec("p.yaml", pod("p", image));
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > (1 << 20); }, 30000)) << b_->status().dump(2);
  auto r = b_->boxctl({"image", "pull", image}, 120000);
  ASSERT_EQ(r.code, 0) << r.out;
  std::cout << r.out;
  EXPECT_NE(
      r.out.find("pulling " + image + " into boxd's image store (joining the pull under way)"),
      std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find('\033'), std::string::npos);
  // The big layer was under way when boxctl joined: it is seen downloading, then each step.
  const auto app = layerLines(r.out, img.layers[1].digest());
  ASSERT_FALSE(app.empty()) << r.out;
  const std::string shortApp = img.layers[1].digest().substr(7, 12) + ": ";
  // It joined part way: the big layer's first line shows the bytes the pod's pull has so far.
  EXPECT_EQ(app[0].rfind(shortApp + "Downloading  ", 0), 0u) << r.out;
  EXPECT_EQ(app[0].find(" 0B / "), std::string::npos) << r.out;
  for (const char* state : {"Extracting", "Pull complete"})
    EXPECT_TRUE(hasLine(app, shortApp + state)) << state << "\n" << r.out;
  for (size_t i = 1; i < app.size(); ++i) EXPECT_NE(app[i], app[i - 1]) << r.out;  // changes only
  EXPECT_TRUE(hasLine(layerLines(r.out, img.layers[0].digest()),
                      img.layers[0].digest().substr(7, 12) + ": Pull complete"))
      << r.out;
  EXPECT_NE(r.out.find("digest " + img.manifest.digest()), std::string::npos) << r.out;
  EXPECT_TRUE(layerLines(r.out, img.config.digest()).empty()) << r.out;  // not a layer
  ASSERT_TRUE(runningWithMarker("p", "prog")) << b_->status().dump(2);
  EXPECT_EQ(countOf(b_->log(), "pulling image " + image), 1) << b_->log();
}

// On a terminal: one row per layer, redrawn in place as docker pull does, ending complete.
TEST_F(PodPullTest, BoxctlImagePullOnATerminalRedrawsOneRowPerLayer) {
  TestImage img = push("tty", "v1", "tty", 2 << 20);
  auto proxy = ThrottleProxy::start(reg_->host(), 1 << 20);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  const std::string image = (*proxy)->host() + "/tty:v1";
  PtyResult r =
      runOnPty({b_->bin("boxctl"), "--run-dir", b_->runDir(), "image", "pull", image}, 120000);
  ASSERT_FALSE(r.timedOut) << r.output;
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  std::set<std::string> layers;
  for (const auto& l : img.layers) layers.insert(l.digest().substr(7, 12));
  std::regex up("\x1b\\[(\\d+)A");
  size_t lastUp = std::string::npos;
  int maxUp = 0;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), up);
       it != std::sregex_iterator(); ++it) {
    maxUp = std::max(maxUp, std::stoi((*it)[1]));
    lastUp = static_cast<size_t>(it->position() + it->length());
  }
  EXPECT_EQ(maxUp, 2) << r.output;  // two layers, two rows
  std::regex row("\r\x1b\\[K([0-9a-f]{12}): ([A-Za-z ]+?)(  (\\S+) / (\\S+)| \\((\\S+)\\))?\r\n");
  bool sawPartial = false;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), row);
       it != std::sregex_iterator(); ++it) {
    EXPECT_EQ(layers.count((*it)[1]), 1u) << (*it)[0];
    if ((*it)[2] == "Downloading" && (*it)[4] != (*it)[5]) sawPartial = true;
  }
  EXPECT_TRUE(sawPartial) << "no row showed a layer part way\n" << r.output;
  ASSERT_NE(lastUp, std::string::npos) << r.output;
  const std::string last = r.output.substr(lastUp);
  std::set<std::string> complete;
  for (auto it = std::sregex_iterator(last.begin(), last.end(), row); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[2], "Pull complete") << last;
    complete.insert((*it)[1]);
  }
  EXPECT_EQ(complete, layers) << last;
  EXPECT_NE(last.find("pulled " + image + " (id "), std::string::npos) << last;
}

// An image named by its index's digest (a multi-platform image pinned): the first pod pulls
// it, the second starts from the store without asking the registry for anything.
TEST_F(PodPullTest, AnImageByIndexDigestIsPresentForTheNextPod) {
  TestImage amd = runnableImage({busyboxLayer(), appLayer("indexed")}, kServerConfig);
  TestImage arm = makeImage({makeLayer({{"arch", "arm64"}})}, "arm64");
  ASSERT_TRUE(reg_->pushImage("multi", amd.manifest.digest(), amd).ok());
  ASSERT_TRUE(reg_->pushImage("multi", arm.manifest.digest(), arm).ok());
  Blob index = makeIndex({{"arm64", &arm}, {"amd64", &amd}});
  ASSERT_TRUE(reg_->pushManifest("multi", index.digest(), index).ok());
  auto proxy = ThrottleProxy::start(reg_->host(), 64 << 20);  // counts what boxd asks
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  const std::string image = (*proxy)->host() + "/multi@" + index.digest();
  b_->writeSpec("first.yaml", pod("first", image));
  ASSERT_TRUE(runningWithMarker("first", "indexed")) << b_->status().dump(2) << b_->log();
  EXPECT_NE(events("first").find("Pulling image"), std::string::npos) << events("first");
  auto manifestFetches = [&] {
    int n = 0;
    for (const auto& line : (*proxy)->requests())
      n += line.find("/manifests/") != std::string::npos;
    return n;
  };
  const int before = manifestFetches();
  EXPECT_GE(before, 2) << "the index, then amd64's manifest";
  b_->writeSpec("second.yaml", pod("second", image));
  ASSERT_TRUE(runningWithMarker("second", "indexed")) << b_->status().dump(2) << b_->log();
  EXPECT_EQ(events("second").find("Pulling"), std::string::npos) << events("second");
  EXPECT_NE(events("second").find("already present on machine"), std::string::npos)
      << events("second");
  EXPECT_EQ(manifestFetches(), before);
  EXPECT_NE(describe("second").find("Digest:    " + amd.manifest.digest()), std::string::npos)
      << describe("second");
}

// A pull goes on while a pod needs it and stops when none does: the transfers end, nothing of
// it is kept, the registry is asked for nothing more. boxctl disconnecting (Ctrl-C) cancels a
// pull only it waited for.
TEST_F(PodPullTest, APullNobodyNeedsIsCancelled) {
  push("slow", "v1", "slow", 8 << 20);
  auto other = push("other", "v1", "other");
  auto proxy = ThrottleProxy::start(reg_->host(), 512 << 10);
  ASSERT_TRUE(proxy.ok()) << proxy.error().message;
  startBoxd();
  const std::string image = (*proxy)->host() + "/slow:v1";
  const std::string cancelled = "pull of " + image + " cancelled: no pod needs it";
  auto stopsFlowing = [&] {
    EXPECT_TRUE(waitFor([&] { return storeTemporaries().empty(); }, 10000));
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    const int64_t bytes = (*proxy)->bytesDown();
    const size_t asked = (*proxy)->requests().size();
    std::this_thread::sleep_for(std::chrono::milliseconds(2000));
    EXPECT_EQ((*proxy)->bytesDown(), bytes) << "bytes still flowing after the cancel";
    EXPECT_EQ((*proxy)->requests().size(), asked);
  };

  // boxctl alone, interrupted: nobody else waits, the pull stops.
  const std::string log = work_ / "boxctl.log";
  auto pid =
      spawnDaemon({b_->bin("boxctl"), "--run-dir", b_->runDir(), "image", "pull", image}, log);
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > (256 << 10); }, 30000)) << b_->log();
  ASSERT_EQ(::kill(*pid, SIGINT), 0);
  stopChild(*pid, 5000);
  ASSERT_TRUE(waitFor([&] { return countOf(b_->log(), cancelled) == 1; }, 10000)) << b_->log();
  stopsFlowing();

  // Two pods: the first removed, the pull goes on for the second...
  b_->writeSpec("c1.yaml", pod("c1", image));
  b_->writeSpec("c2.yaml", pod("c2", image));
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > (256 << 10); }, 30000)) << b_->log();
  // ...and boxctl joining and leaving changes nothing.
  auto joined = spawnDaemon({b_->bin("boxctl"), "--run-dir", b_->runDir(), "image", "pull", image},
                            work_ / "joined.log");
  ASSERT_TRUE(joined.ok());
  b_->removeSpec("c1.yaml");
  ASSERT_TRUE(b_->waitGone("c1", 20000)) << b_->status().dump(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(::kill(*joined, SIGINT), 0);
  stopChild(*joined, 5000);
  const int64_t flowing = temporaryBytes();
  ASSERT_TRUE(waitFor([&] { return temporaryBytes() > flowing + (256 << 10); }, 10000))
      << "the pull c2 needs stopped\n"
      << b_->log();
  EXPECT_EQ(countOf(b_->log(), cancelled), 1) << b_->log();
  EXPECT_EQ(podReason("c2"), "ContainerCreating");
  // ...until the second changes to another image: nobody needs the pull any more.
  b_->writeSpec("c2.yaml", pod("c2", reg_->host() + "/other:v1"));
  ASSERT_TRUE(waitFor([&] { return countOf(b_->log(), cancelled) == 2; }, 20000)) << b_->log();
  stopsFlowing();
  EXPECT_NE(b_->boxctl({"events"}).out.find(cancelled), std::string::npos)
      << b_->boxctl({"events"}).out;
  ASSERT_TRUE(runningWithMarker("c2", "other")) << b_->status().dump(2) << events("c2");
  EXPECT_EQ(b_->boxctl({"image", "ls"}).out.find("/slow"), std::string::npos);
  (void)other;
}

}  // namespace
}  // namespace boxd::testing
