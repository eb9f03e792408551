// Issue 10, "a container can make boxd unmount host mounts", end to end. A pod with an emptyDir
// at /x/run whose container runs `mv /x /x2 && ln -s <host dir> /x`: boxd must not unmount
// <host dir>/run on the host, neither at the next resyncs nor at teardown, and must not take the
// rename for drift (which used to recreate the pod and repeat the attack).
//
// The host side is the test's own: a tmpfs on a unique temp dir with a subdir `run` that is a
// second tmpfs holding a marker file. Both are unmounted (by path, lazily) at the end whatever
// happened, and nothing else on the host is touched.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

constexpr const char* kLoop = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";

bool mountedAt(const std::string& target) {
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) {
    std::istringstream ss(line);
    std::string id, parent, dev, root, at;
    ss >> id >> parent >> dev >> root >> at;
    if (at == target) return true;
  }
  return false;
}

// A tmpfs this test mounts in the host's mount namespace (where boxd runs), detached at scope
// exit if it is still there.
class HostTmpfs {
 public:
  explicit HostTmpfs(std::string target) : target_(std::move(target)) {
    ok_ = ::mount("boxd-test-victim", target_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                  "size=1m,mode=0755") == 0;
  }
  ~HostTmpfs() {
    if (ok_ && mountedAt(target_)) (void)::umount2(target_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }

 private:
  std::string target_;
  bool ok_ = false;
};

class MountEscapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    ASSERT_TRUE(outer_.ok()) << "mount tmpfs on " << victim_.path();
    ASSERT_TRUE(mkdirAll(victim_ / "run").ok());
    inner_ = std::make_unique<HostTmpfs>(victim_ / "run");
    ASSERT_TRUE(inner_->ok()) << "mount tmpfs on " << victim_ / "run";
    ASSERT_TRUE(writeFileAtomic(victim_ / "run/marker", "host data\n").ok());
    b_.start();
    b_.importBusybox();
  }
  void TearDown() override { inner_.reset(); }

  // The attacking pod: its container swaps the parent of its volume's mount point for a
  // symlink to the host dir, then stays running.
  void startAttacker() {
    b_.writeSpec("p.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: e
    emptyDir: {}
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'mv /x /x2 && ln -s )") +
                               victim_.path() + " /x && echo SWAPPED; " + kLoop + R"(']
    volumeMounts: [{name: e, mountPath: /x/run}]
)");
    ASSERT_TRUE(waitFor([&] { return b_.pod("p")["ready"] == "1/1"; }, 15000))
        << b_.status().dump(2) << b_.log();
    ASSERT_TRUE(waitFor(
        [&] {
          return b_.boxctl({"logs", "p", "-c", "c"}).out.find("SWAPPED") != std::string::npos;
        },
        5000))
        << b_.boxctl({"logs", "p", "-c", "c"}).out;
  }

  void expectHostMountIntact(const char* when) {
    EXPECT_TRUE(mountedAt(victim_ / "run")) << when << ": boxd unmounted the host's mount";
    auto marker = readFile(victim_ / "run/marker");
    EXPECT_TRUE(marker.ok() && *marker == "host data\n") << when;
  }

  TempDir victim_{"victim"};
  HostTmpfs outer_{victim_.path()};
  std::unique_ptr<HostTmpfs> inner_;
  Boxd b_;
};

TEST_F(MountEscapeTest, ResyncsNeitherUnmountHostMountsNorTakeTheRenameForDrift) {
  startAttacker();
  const std::string uid = b_.pod("p")["uid"];
  ::sleep(4);  // resyncSeconds is 1 in the harness: several resyncs observe every step
  expectHostMountIntact("after resyncs");
  auto p = b_.pod("p");
  EXPECT_EQ(p["uid"], uid) << "the pod was recreated";
  EXPECT_EQ(p["containers"][0]["restarts"], 0) << p.dump(2);
  std::string events = b_.boxctl({"events", "p"}).out;
  EXPECT_EQ(events.find("DriftDetected"), std::string::npos) << events;
  b_.removeSpec("p.yaml");
  ASSERT_TRUE(b_.waitGone("p")) << b_.status().dump(2);
  expectHostMountIntact("after teardown");
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

TEST_F(MountEscapeTest, TeardownDoesNotUnmountHostMounts) {
  startAttacker();
  b_.removeSpec("p.yaml");
  ASSERT_TRUE(b_.waitGone("p")) << b_.status().dump(2) << b_.log();
  expectHostMountIntact("after teardown");
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

}  // namespace
}  // namespace boxd::testing
