// `boxctl image pull` as users run it, against docker-registry behind a proxy the test runs
// that serves slowly: SIGINT/SIGTERM mid-pull leave nothing behind, and the progress a
// terminal gets (boxctl under a pseudo-terminal) has its shape: one row per blob redrawn in
// place, ending with every blob done.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include "common/util.h"
#include "tests/fixtures/process.h"
#include "tests/integration/pty_run.h"
#include "tests/integration/registry_fixture.h"
#include "tests/integration/registry_peer.h"
#include "tests/integration/throttle_proxy.h"
#include "tests/support/temp_dir.h"

namespace boxd::images {
namespace {

using boxd::testing::Blob;
using boxd::testing::PtyResult;
using boxd::testing::RegistryPeer;
using boxd::testing::runOnPty;
using boxd::testing::TestImage;
using boxd::testing::ThrottleProxy;
namespace fs = std::filesystem;

std::string boxctl() { return std::string(BOXD_TEST_BUILD_DIR) + "/bin/boxctl"; }

// Every entry under dir (recursive), relative.
std::set<std::string> entriesUnder(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    out.insert(fs::relative(e.path(), dir).string());
  return out;
}

// The size of the largest blobs/sha256/.tmp-* file, -1 while there is none.
int64_t largestTemporary(const std::string& layout) {
  int64_t best = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout + "/blobs/sha256", ec)) {
    if (startsWith(e.path().filename().string(), ".tmp-"))
      best = std::max(best, static_cast<int64_t>(e.file_size(ec)));
  }
  return best;
}

class BoxctlPullTest : public testing::RegistryPeerTest {
 protected:
  BoxctlPullTest() : RegistryPeerTest("boxctl-pull") {}
  void SetUp() override {
    RegistryPeerTest::SetUp();
    if (setUpStopped()) return;
    config_ = tmp_.path() + "/boxd.yaml";
    ASSERT_TRUE(
        writeFileAtomic(config_, "images:\n  certsDir: " + tmp_.path() + "/certs.d\n").ok());
  }
  void TearDown() override {
    if (child_ > 0) testing::stopChild(child_, 0);
  }
  // Pushes an image of `layers` random layers of `bytes` each; serves it at `rate` B/s.
  void serveSlowly(int layers, size_t bytes, int64_t rate) {
    std::vector<Blob> ls;
    for (int i = 0; i < layers; ++i)
      ls.push_back(testing::makeLayer({{"f", testing::randomBytes(bytes)}}));
    img_ = testing::makeImage(ls);
    ASSERT_TRUE(plain_->pushImage("slow/app", "v1", img_).ok());
    auto proxy = ThrottleProxy::start(plain_->host(), rate);
    ASSERT_TRUE(proxy.ok()) << proxy.error().message;
    proxy_ = std::move(*proxy);
  }
  std::string ref() const { return proxy_->host() + "/slow/app:v1"; }

  // Starts the pull, waits for bytes to land in a temporary, sends `sig`, and returns the
  // exit status (asserting it came within 5 s).
  void pullAndSignal(const std::string& layout, int sig, int* status) {
    std::string log = tmp_.path() + "/boxctl-" + std::to_string(sig) + ".log";
    auto pid = testing::spawnDaemon(
        {boxctl(), "image", "pull", ref(), "--layout", layout, "--config", config_}, log);
    ASSERT_TRUE(pid.ok()) << pid.error().message;
    child_ = *pid;
    int64_t end = monotonicMs() + 20000;
    while (largestTemporary(layout) < (64 << 10) && monotonicMs() < end &&
           !testing::childExited(child_))
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_GE(largestTemporary(layout), 64 << 10) << readFile(log).value();
    ASSERT_EQ(::kill(child_, sig), 0);
    int64_t signalled = monotonicMs();
    bool exited = false;
    while (!(exited = testing::childExited(child_, status)) && monotonicMs() < signalled + 5000)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(exited) << "boxctl still running 5 s after the signal";
    child_ = -1;
    output_ = readFile(log).value();
    std::cout << output_;
  }

  std::unique_ptr<ThrottleProxy> proxy_;
  std::string config_, output_;
  TestImage img_;
  pid_t child_ = -1;
};

TEST_F(BoxctlPullTest, SigintMidPullLeavesNothing) {
  serveSlowly(3, 2 << 20, 256 << 10);
  std::string layout = tmp_.path() + "/created";
  int status = 0;
  pullAndSignal(layout, SIGINT, &status);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  EXPECT_NE(output_.find("boxctl: pull " + ref() + ": cancelled: stopped by the caller"),
            std::string::npos)
      << output_;
  EXPECT_FALSE(fs::exists(layout)) << *entriesUnder(layout).begin();  // the pull created it
}

TEST_F(BoxctlPullTest, SigtermMidPullEmptiesTheGivenDirectory) {
  serveSlowly(3, 2 << 20, 256 << 10);
  std::string layout = tmp_.path() + "/given";
  ASSERT_TRUE(mkdirAll(layout).ok());
  int status = 0;
  pullAndSignal(layout, SIGTERM, &status);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  EXPECT_NE(output_.find("cancelled"), std::string::npos) << output_;
  ASSERT_TRUE(fs::exists(layout));
  EXPECT_TRUE(entriesUnder(layout).empty()) << *entriesUnder(layout).begin();
}

TEST_F(BoxctlPullTest, ProgressOnATerminalRedrawsOneRowPerBlob) {
  serveSlowly(3, 600 << 10, 512 << 10);
  std::string layout = tmp_.path() + "/tty";
  PtyResult r =
      runOnPty({boxctl(), "image", "pull", ref(), "--layout", layout, "--config", config_}, 60000);
  ASSERT_FALSE(r.timedOut) << r.output;
  ASSERT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.output;
  EXPECT_TRUE(fs::exists(layout + "/index.json"));

  std::set<std::string> blobs;  // 12 hex digits, as the rows name them
  for (const Blob* b : {&img_.config, &img_.layers[0], &img_.layers[1], &img_.layers[2]})
    blobs.insert(b->digest().substr(7, 12));

  // Redraws move the cursor up over the rows drawn before: at most, and at the end, all four.
  std::regex up("\x1b\\[(\\d+)A");
  size_t lastUp = std::string::npos;
  int maxUp = 0, redraws = 0;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), up);
       it != std::sregex_iterator(); ++it) {
    maxUp = std::max(maxUp, std::stoi((*it)[1]));
    lastUp = static_cast<size_t>(it->position() + it->length());
    ++redraws;
  }
  EXPECT_EQ(maxUp, 4) << r.output;
  EXPECT_GE(redraws, 5) << r.output;  // starts, progress and ends of four blobs

  // Each row: carriage return, clear line, "<digest>: <state> <done> / <size>".
  std::regex row("\r\x1b\\[K([0-9a-f]{12}): (\\w+) +(\\S+) / (\\S+)\r\n");
  bool sawPartial = false;
  for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), row);
       it != std::sregex_iterator(); ++it) {
    EXPECT_EQ(blobs.count((*it)[1]), 1u) << (*it)[0];
    if ((*it)[2] == "downloading" && (*it)[3] != (*it)[4]) sawPartial = true;
  }
  EXPECT_TRUE(sawPartial) << "no row showed a blob part way" << r.output;

  ASSERT_NE(lastUp, std::string::npos);
  std::string last = r.output.substr(lastUp);
  std::set<std::string> done;
  for (auto it = std::sregex_iterator(last.begin(), last.end(), row); it != std::sregex_iterator();
       ++it) {
    EXPECT_EQ((*it)[2], "done") << last;
    EXPECT_EQ((*it)[3], (*it)[4]) << last;  // done == size
    done.insert((*it)[1]);
  }
  EXPECT_EQ(done, blobs) << last;
  // Then the summary; and no plain-mode lines on a terminal.
  EXPECT_NE(last.find("pulled " + ref() + " ("), std::string::npos) << last;
  EXPECT_EQ(r.output.find(": downloading ("), std::string::npos) << r.output;
}

}  // namespace
}  // namespace boxd::images
