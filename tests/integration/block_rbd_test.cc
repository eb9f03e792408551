// RBD volumes end to end against a real one-node Ceph cluster (one per test binary): a blank
// image formatted and its data kept across pods, readOnly, Kubernetes' classic rbd example
// files with only the monitors changed, errors (wrong key, missing image, dead monitor) as pod
// reasons that leave nothing, the double attach refused, provisioning, a killed helper.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "common/util.h"
#include "tests/fixtures/ceph_cluster.h"
#include "tests/integration/crash_cycles.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += t[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += std::string{t[(n >> 18) & 63], t[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += std::string{t[(n >> 18) & 63], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
  }
  return out;
}

class RbdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    auto c = CephCluster::start();
    if (c.ok())
      cluster_ = std::move(*c);
    else
      startError_ = c.error().message;
  }
  static void TearDownTestSuite() { cluster_.reset(); }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_TRUE(cluster_) << startError_;
    image_ = "img-" + randomHex(4);
    b_.addConfig("block: {connectTimeoutSeconds: 5, ioTimeoutSeconds: 10}\n");
    b_.start();
    b_.importBusybox();
  }
  void TearDown() override {
    if (::geteuid() != 0 || !cluster_) return;
    for (const auto& f : files_) b_.removeSpec(f);
    for (const auto& p : pods_) EXPECT_TRUE(b_.waitGone(p, 30000)) << b_.log();
  }
  // The monitor as a Kubernetes manifest writes it: ip:port.
  std::string monitor() const { return "127.0.0.1:" + std::to_string(cluster_->monPort()); }
  std::string secret(const std::string& name, const std::string& key) {
    return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name +
           "}\ntype: kubernetes.io/rbd\ndata:\n  key: " + base64(key + "\n") + "\n---\n";
  }
  std::string pod(const std::string& name, const std::string& image, bool readOnly = false,
                  const std::string& annotations = "", const std::string& mon = "",
                  const std::string& secretName = "ceph") {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n" + annotations +
           "spec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n"
           "    image: busybox\n    command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 1 "
           "& wait; done\"]\n    volumeMounts: [{name: data, mountPath: /data}]\n  volumes:\n"
           "  - name: data\n    rbd:\n      monitors: [\"" +
           (mon.empty() ? monitor() : mon) + "\"]\n      pool: rbd\n      image: " + image +
           "\n      user: " + cluster_->user() + "\n      secretRef: {name: " + secretName +
           "}\n      readOnly: " + (readOnly ? "true" : "false") + "\n";
  }
  void apply(const std::string& file, const std::string& podName, const std::string& text) {
    ASSERT_TRUE(writeFileAtomic(b_.specs() + "/" + file, text, 0600).ok());
    files_.push_back(file);
    pods_.push_back(podName);
  }
  std::string exec(const std::string& p, const std::string& cmd) {
    return b_.boxctl({"exec", p, "--", "sh", "-c", cmd}, 20000).out;
  }
  bool running(const std::string& p, int ms = 30000) {
    return waitFor([&] { return b_.pod(p)["ready"] == "1/1"; }, ms);
  }
  std::string reason(const std::string& p) {
    auto j = b_.pod(p);
    return j.is_null() ? ""
                       : j["reason"].get<std::string>() + ": " + j["message"].get<std::string>();
  }
  void removePod(const std::string& file, const std::string& p) {
    b_.removeSpec(file);
    ASSERT_TRUE(b_.waitGone(p, 30000)) << b_.log();
  }
  int watchers(const std::string& image) {
    auto r = cluster_->runRbd({"status", "rbd/" + image, "--format", "json"});
    if (!r.ok()) return -1;
    auto j = nlohmann::json::parse(r->output, nullptr, false);
    return j.is_object() ? static_cast<int>(j["watchers"].size()) : -1;
  }

  static inline std::unique_ptr<CephCluster> cluster_;
  static inline std::string startError_;
  std::string image_;
  Boxd b_;
  std::vector<std::string> files_, pods_;
};

TEST_F(RbdTest, BlankImageIsFormattedAndItsDataOutlivesThePod) {
  ASSERT_TRUE(cluster_->createImage(image_, 64 << 20).ok());
  apply("a.yaml", "a", secret("ceph", cluster_->userKey()) + pod("a", image_));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  exec("a", "echo kept > /data/marker; sync");
  auto describe = b_.boxctl({"describe", "a"}).out;
  EXPECT_NE(describe.find("formatted by boxd"), std::string::npos) << describe;
  EXPECT_EQ(describe.find(cluster_->userKey()), std::string::npos) << "the key leaked";
  EXPECT_EQ(watchers(image_), 1);
  // The loop device sends whole 1 MiB helper writes (one OSD op per MiB, none across objects).
  auto ls = nlohmann::json::parse(b_.boxctl({"volume", "ls", "-o", "json"}).out, nullptr, false);
  ASSERT_TRUE(ls.is_array() && ls.size() == 1) << ls.dump();
  std::string dev = ls[0].value("device", "");
  ASSERT_TRUE(startsWith(dev, "/dev/loop")) << ls.dump();
  auto maxKb = readFile("/sys/block/" + dev.substr(5) + "/queue/max_sectors_kb");
  ASSERT_TRUE(maxKb.ok()) << maxKb.error().message;
  EXPECT_EQ(trim(*maxKb), "1024");
  removePod("a.yaml", "a");
  EXPECT_EQ(watchers(image_), 0) << "the image is closed after the pod";
  EXPECT_TRUE(b_.leftovers().empty()) << b_.leftovers().front();

  apply("b.yaml", "b", secret("ceph", cluster_->userKey()) + pod("b", image_, true));
  ASSERT_TRUE(running("b")) << reason("b") << b_.log();
  EXPECT_EQ(trim(exec("b", "cat /data/marker")), "kept");
  EXPECT_NE(exec("b", "touch /data/x 2>&1").find("Read-only"), std::string::npos);
  EXPECT_EQ(b_.log().find(cluster_->userKey()), std::string::npos);
  EXPECT_EQ(run({"ps", "-eo", "args"}).out.find(cluster_->userKey()), std::string::npos);
}

TEST_F(RbdTest, TheSameImageTwiceReadWriteIsRefused) {
  ASSERT_TRUE(cluster_->createImage(image_, 64 << 20).ok());
  apply("a.yaml", "a", secret("ceph", cluster_->userKey()) + pod("a", image_));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  apply("b.yaml", "b", pod("b", image_));
  ASSERT_TRUE(waitFor([&] { return reason("b").find("at most once") != std::string::npos; }, 20000))
      << reason("b");
  EXPECT_EQ(b_.pod("a")["ready"], "1/1");
}

TEST_F(RbdTest, ErrorsAreClearPodReasonsAndLeaveNothing) {
  ASSERT_TRUE(cluster_->createImage(image_, 64 << 20).ok());
  std::string wrongKey = "AQBW6VBpAAAAABAAbUd+rD8xNfKYtb4zuGQ16w==";
  // Each pod with its own Secret: one name declared in two files is used by neither.
  apply("k.yaml", "wrongkey", secret("k", wrongKey) + pod("wrongkey", image_, false, "", "", "k"));
  apply("m.yaml", "missing",
        secret("m", cluster_->userKey()) + pod("missing", "no-such-image", false, "", "", "m"));
  apply("d.yaml", "deadmon",
        secret("d", cluster_->userKey()) + pod("deadmon", image_, false, "", "127.0.0.1:1", "d"));
  int64_t t0 = monotonicMs();
  for (auto [p, want] : {std::pair{"wrongkey", "refused"},
                         {"missing", "does not exist"},
                         {"deadmon", "no answer"}}) {
    EXPECT_TRUE(waitFor([&] { return reason(p).find(want) != std::string::npos; }, 30000))
        << p << ": " << reason(p);
  }
  EXPECT_LT(monotonicMs() - t0, 30000);
  std::vector<std::string> left;
  for (const auto& l : b_.leftovers()) {
    if (!startsWith(l, "cgroup ")) left.push_back(l);
  }
  EXPECT_TRUE(left.empty()) << left.front();
  EXPECT_EQ(watchers(image_), 0);
}

TEST_F(RbdTest, ProvisioningCreatesTheImageOnceAndOnlyWhenAsked) {
  apply("s.yaml", "", secret("ceph", cluster_->userKey()));
  pods_.clear();
  apply("p.yaml", "p",
        std::string() +
            pod("p", image_, false,
                "  annotations:\n    provision.rbd.boxd.io/data: '{\"size\": \"64Mi\"}'\n"));
  ASSERT_TRUE(running("p")) << reason("p") << b_.log();
  auto exists = cluster_->imageExists(image_);
  ASSERT_TRUE(exists.ok() && *exists);
  exec("p", "echo provisioned > /data/f; sync");
  removePod("p.yaml", "p");
  // Again: the image is used as it is, not created (nor formatted) a second time.
  apply("q.yaml", "q",
        std::string() +
            pod("q", image_, false,
                "  annotations:\n    provision.rbd.boxd.io/data: '{\"size\": \"64Mi\"}'\n"));
  ASSERT_TRUE(running("q")) << reason("q") << b_.log();
  EXPECT_EQ(trim(exec("q", "cat /data/f")), "provisioned");
  // Without the annotation a missing image is refused.
  apply("absent.yaml", "absent", pod("absent", image_ + "-not-there"));
  EXPECT_TRUE(
      waitFor([&] { return reason("absent").find("does not exist") != std::string::npos; }, 20000))
      << reason("absent") << b_.status().dump(2);
  auto absent = cluster_->imageExists(image_ + "-not-there");
  EXPECT_TRUE(absent.ok() && !*absent);
}

TEST_F(RbdTest, KubernetesClassicExampleRunsWithOnlyTheMonitorsChanged) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"osd", "pool", "create", "kube", "8", "8"},
           {"osd", "pool", "application", "enable", "kube", "rbd"}}) {
    auto r = cluster_->runCeph(args);
    ASSERT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->output : r.error().message);
  }
  auto created = cluster_->runRbd({"create", "--size", "64", "kube/foo"});
  ASSERT_TRUE(created.ok() && created->ok()) << (created.ok() ? created->output : "");
  auto adminKey = cluster_->runCeph({"auth", "get-key", "client.admin"});
  ASSERT_TRUE(adminKey.ok() && adminKey->ok());
  std::string dir = std::string(BOXD_TEST_SOURCE_DIR) + "/tests/data/rbd/";
  auto podJson = readFile(dir + "rbd-with-secret.json");
  auto secretYaml = readFile(dir + "ceph-secret.yaml");
  ASSERT_TRUE(podJson.ok() && secretYaml.ok());
  // The example mounts read-only: format the image once, as its users did before.
  apply(
      "fmt.yaml", "fmt", secret("ceph", trim(adminKey->output)) + [&] {
        std::string p = pod("fmt", "foo");
        p.replace(p.find("pool: rbd"), 9, "pool: kube");
        p.replace(p.find("user: " + cluster_->user()), 6 + cluster_->user().size(), "user: admin");
        return p;
      }());
  ASSERT_TRUE(running("fmt")) << reason("fmt") << b_.log();
  removePod("fmt.yaml", "fmt");
  files_.clear();
  pods_.clear();
  // Only the monitors change (and the key, which is the cluster's).
  std::string json = *podJson;
  auto monStart = json.find('[', json.find("\"monitors\""));
  auto monEnd = json.find(']', monStart);
  json.replace(monStart, monEnd - monStart + 1, "[\"" + monitor() + "\"]");
  std::string yaml = *secretYaml;
  auto keyAt = yaml.find("\n  key:") + 1;
  yaml = yaml.substr(0, keyAt) + "  key: " + base64(trim(adminKey->output) + "\n") + "\n";
  b_.boxctl({"image", "import", "kubernetes/pause", busyboxRootfs()}, 120000);
  ASSERT_TRUE(writeFileAtomic(b_.specs() + "/ceph-secret.yaml", yaml, 0600).ok());
  ASSERT_TRUE(writeFileAtomic(b_.specs() + "/rbd-with-secret.json", json, 0600).ok());
  files_ = {"rbd-with-secret.json", "ceph-secret.yaml"};
  pods_ = {"rbd2"};
  // The volume attaches read-only and the container starts (the pause image's own entrypoint
  // needs image configs, a later feature: here it is busybox's shell).
  ASSERT_TRUE(waitFor(
      [&] {
        auto d = b_.boxctl({"describe", "rbd2"}).out;
        return d.find("blockfs") != std::string::npos && d.find("done") != std::string::npos &&
               d.find("Started") != std::string::npos;
      },
      30000))
      << b_.boxctl({"describe", "rbd2"}).out << b_.status().dump(2);
}

TEST_F(RbdTest, AKilledHelperIsAClearErrorAndTeardownCompletes) {
  ASSERT_TRUE(cluster_->createImage(image_, 64 << 20).ok());
  apply("a.yaml", "a", secret("ceph", cluster_->userKey()) + pod("a", image_));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  auto pids = run({"pgrep", "-f", "boxd-blockd .*" + b_.runDir()});
  pid_t helper = std::atoi(trim(pids.out).c_str());
  ASSERT_GT(helper, 0) << pids.out;
  ::kill(helper, SIGKILL);
  EXPECT_NE(
      exec("a", "dd if=/dev/zero of=/data/y bs=4k count=1 conv=fsync 2>/dev/null; echo rc=$?"),
      "rc=0\n");
  removePod("a.yaml", "a");
  EXPECT_TRUE(waitFor([&] { return b_.leftovers().empty(); }, 15000)) << b_.leftovers().front();
  // The dead helper's watch on the image lingers until Ceph drops it (osd_client_watch_timeout):
  // the next pod is told so, retries, and runs once it is gone.
  apply("b.yaml", "b", secret("ceph", cluster_->userKey()) + pod("b", image_));
  ASSERT_TRUE(running("b", 60000)) << reason("b") << b_.boxctl({"events", "b"}).out;
}

// The OSD unreachable mid-write: EIO within the I/O bound (10 s here), then a clean teardown.
TEST_F(RbdTest, OsdUnreachableMidWriteGivesEioWithinTheBoundAndTearsDown) {
  ASSERT_TRUE(cluster_->createImage(image_, 256 << 20).ok());
  apply("a.yaml", "a", secret("ceph", cluster_->userKey()) + pod("a", image_));
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  struct Unblock {
    CephCluster& c;
    ~Unblock() { (void)c.unblockOsd(); }
  } unblock{*cluster_};
  std::thread blocker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    (void)cluster_->blockOsd();
  });
  int64_t t0 = monotonicMs();
  auto out = exec("a", "dd if=/dev/zero of=/data/big bs=1M count=200 conv=fsync 2>&1; echo rc=$?");
  int64_t took = monotonicMs() - t0;
  blocker.join();
  EXPECT_EQ(out.find("rc=0"), std::string::npos) << out;
  EXPECT_LT(took, 40000) << out;
  (void)cluster_->unblockOsd();
  b_.removeSpec("a.yaml");
  ASSERT_TRUE(b_.waitGone("a", 60000)) << b_.log();
  files_.clear();
  pods_.clear();
  EXPECT_TRUE(waitFor([&] { return b_.leftovers().empty(); }, 20000)) << b_.leftovers().front();
}

// kill -9 of boxd at every attach step and at every detach step, then a restart: nothing left,
// and the image is closed (no watcher).
TEST_F(RbdTest, Kill9AtEveryAttachAndDetachStepRecovers) {
  ASSERT_TRUE(cluster_->createImage(image_, 64 << 20).ok());
  std::string text = secret("ceph", cluster_->userKey()) + pod("a", image_);
  apply("a.yaml", "a", text);
  ASSERT_TRUE(running("a")) << reason("a") << b_.log();
  auto steps = b_.planSteps("a", "block");
  ASSERT_EQ(steps.size(), 3u);
  b_.removeSpec("a.yaml");
  ASSERT_TRUE(b_.waitGone("a", 30000));
  files_.clear();
  pods_.clear();
  b_.stop();
  CrashCycle c;
  c.file = "a.yaml";
  c.pod = "a";
  c.write = [&] { ASSERT_TRUE(writeFileAtomic(b_.specs() + "/a.yaml", text, 0600).ok()); };
  // After a crash at attach, the helper boxd started before dying is stopped by the journal's
  // undo, but Ceph may hold its watch a little longer: allow for it.
  c.running = [&] { return running("a", 60000); };
  c.checkGone = [&] { EXPECT_TRUE(waitFor([&] { return watchers(image_) == 0; }, 15000)); };
  crashAtEveryStep(b_, steps, c);
  b_.start();
}

}  // namespace
}  // namespace boxd::testing
