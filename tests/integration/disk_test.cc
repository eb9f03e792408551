// Disk bounds (issue 10): a container could fill the host's disk through its writable layer, a
// disk emptyDir had no bound at all (its sizeLimit was accepted and ignored), and with the state
// dir's filesystem full a pod could not be deleted and its events were lost. Each test here
// fails on the code before: ephemeral-storage was refused by the parser, nothing measured a
// pod's disk, and the state store had no room of its own.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

std::string podSpec(const std::string& name, const std::string& body) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  terminationGracePeriodSeconds: 1\n" + body;
}

// A container that writes mib MiB to path, says so in its log, then waits.
std::string writer(const std::string& name, const std::string& path, int mib,
                   const std::string& extra = "") {
  return "  - name: " + name +
         "\n    image: busybox\n    command: [sh, -c, 'dd if=/dev/zero of=" + path +
         " bs=1048576 count=" + std::to_string(mib) +
         " 2>/dev/null; echo written; trap \"exit 0\" TERM; while true; do sleep 1 & wait; "
         "done']\n" +
         extra;
}

std::string idler(const std::string& name, const std::string& extra = "") {
  return "  - name: " + name +
         "\n    image: busybox\n    command: [sh, -c, 'trap \"exit 0\" TERM; while true; do "
         "sleep 1 & wait; done']\n" +
         extra;
}

std::string limit(const std::string& q) {
  return "    resources: {limits: {ephemeral-storage: " + q + "}}\n";
}

nlohmann::json events(Boxd& b, const std::string& pod) {
  std::string line =
      b.rawRequest(nlohmann::json{{"op", "events"}, {"name", pod}, {"limit", 200}}.dump());
  auto j = nlohmann::json::parse(line, nullptr, false);
  return j.is_object() && j.contains("events") ? j["events"] : nlohmann::json::array();
}

int countEvents(Boxd& b, const std::string& pod, const std::string& reason) {
  int n = 0;
  for (const auto& e : events(b, pod)) n += e.value("reason", "") == reason;
  return n;
}

nlohmann::json findEvent(Boxd& b, const std::string& pod, const std::string& reason) {
  for (const auto& e : events(b, pod)) {
    if (e.value("reason", "") == reason) return e;
  }
  return nullptr;
}

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  void start(const std::string& config = "") {
    b_.addConfig(config);
    b_.start();
    b_.importBusybox();
  }
  bool waitEvicted(const std::string& pod, int timeoutMs = 30000) {
    return waitFor(
        [&] {
          auto p = b_.pod(pod);
          return p.is_object() && p.value("phase", "") == "Failed" &&
                 p.value("reason", "") == "Evicted";
        },
        timeoutMs);
  }
  Boxd b_;
};

// The brief's case: one container, 10Mi, writes 20 MiB into its root. The pod's total is its
// one container's limit, so kubelet's pod message is the one shown.
TEST_F(DiskTest, AContainerWritingPastItsLimitIsEvictedAndNotRestarted) {
  start();
  b_.writeSpec("hog.yaml",
               podSpec("hog", "  containers:\n" + writer("c", "/fill", 20, limit("10Mi"))));
  ASSERT_TRUE(waitEvicted("hog")) << b_.status().dump(2) << b_.log();
  const std::string msg =
      "Pod ephemeral local storage usage exceeds the total limit of containers 10Mi.";
  auto pod = b_.pod("hog");
  EXPECT_EQ(pod.value("message", ""), msg);
  auto ev = findEvent(b_, "hog", "Evicted");
  ASSERT_TRUE(ev.is_object()) << events(b_, "hog").dump(2);
  EXPECT_EQ(ev.value("type", ""), "Warning");
  EXPECT_EQ(ev.value("message", ""), msg);
  // Torn down: the writable layer is gone from the host; kept as Failed, never restarted.
  const std::string uid = pod.value("uid", "");
  ASSERT_FALSE(uid.empty());
  EXPECT_NE(::access((b_.stateDir() + "/pods/" + uid).c_str(), F_OK), 0)
      << "the pod's dir, with the 20 MiB, is removed";
  const int created = countEvents(b_, "hog", "Created");
  ::usleep(4 * 1000 * 1000);  // four resyncs
  pod = b_.pod("hog");
  EXPECT_EQ(pod.value("phase", ""), "Failed");
  EXPECT_EQ(countEvents(b_, "hog", "Created"), created) << "not started again";
  // ... also across a restart of boxd.
  b_.stop();
  b_.start();
  ::usleep(3 * 1000 * 1000);
  pod = b_.pod("hog");
  EXPECT_EQ(pod.value("phase", ""), "Failed") << b_.log();
  EXPECT_EQ(pod.value("reason", ""), "Evicted");
  EXPECT_EQ(countEvents(b_, "hog", "Created"), created);
  // A new spec is a new pod: it runs again (and stays within its limit this time).
  b_.writeSpec("hog.yaml",
               podSpec("hog", "  containers:\n" + writer("c", "/fill", 2, limit("10Mi"))));
  EXPECT_TRUE(b_.waitPhase("hog", "Running", 20000)) << b_.status().dump(2);
}

// Two containers: the pod's total (30Mi) holds, container a's own limit (10Mi) does not.
// A disk emptyDir past its sizeLimit. A pod without limits bounded by the config's default.
TEST_F(DiskTest, ContainerEmptyDirAndDefaultLimitsEachEvictWithKubeletsMessage) {
  start("defaultEphemeralStorageLimit: 8Mi\n");
  b_.writeSpec("two.yaml",
               podSpec("two", "  containers:\n" + writer("a", "/fill", 12, limit("10Mi")) +
                                  idler("b", limit("20Mi"))));
  b_.writeSpec("dir.yaml",
               podSpec("dir",
                       "  volumes:\n  - {name: scratch, emptyDir: {sizeLimit: 4Mi}}\n"
                       "  containers:\n" +
                           writer("c", "/scratch/fill", 6,
                                  limit("100Mi") + "    volumeMounts: [{name: scratch, mountPath: "
                                                   "/scratch}]\n")));
  b_.writeSpec("plain.yaml", podSpec("plain", "  containers:\n" + writer("c", "/fill", 12)));
  b_.writeSpec("calm.yaml", podSpec("calm", "  containers:\n" + writer("c", "/fill", 2)));
  ASSERT_TRUE(waitEvicted("two")) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(b_.pod("two").value("message", ""),
            "Container a exceeded its local ephemeral storage limit \"10Mi\".");
  ASSERT_TRUE(waitEvicted("dir")) << b_.status().dump(2);
  EXPECT_EQ(b_.pod("dir").value("message", ""),
            "Usage of EmptyDir volume \"scratch\" exceeds the limit \"4Mi\".");
  ASSERT_TRUE(waitEvicted("plain")) << b_.status().dump(2);
  EXPECT_EQ(b_.pod("plain").value("message", ""),
            "Pod ephemeral local storage usage exceeds the total limit of containers 8Mi.");
  // Within the default: left alone.
  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"logs", "calm"}).out.find("written") != std::string::npos;
      },
      20000));
  ::usleep(3 * 1000 * 1000);
  EXPECT_EQ(b_.pod("calm").value("phase", ""), "Running");
  for (const auto* name : {"two", "dir", "plain"}) {
    auto p = b_.pod(name);
    for (const auto& c : p["containers"])
      EXPECT_EQ(c.value("state", ""), "Terminated") << p.dump(2);
  }
}

// A tmpfs of `size` mounted on dir for the test's life; detached even if the test fails.
class SmallFs {
 public:
  SmallFs(const std::string& dir, const std::string& size) : dir_(dir) {
    (void)mkdirAll(dir);
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                       ("size=" + size + ",mode=0700").c_str()) == 0;
  }
  ~SmallFs() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) (void)::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  void unmount() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) == 0) mounted_ = false;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// Fills the filesystem of dir with one file, until ENOSPC. Returns the bytes written.
int64_t fill(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  std::string block(1 << 16, 'f');
  int64_t total = 0;
  for (;;) {
    ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) break;
    total += n;
  }
  // The last few blocks, byte-sized writes' worth.
  for (ssize_t n = 1; n > 0;) n = ::write(fd, "f", 1);
  ::close(fd);
  return total;
}

// The state dir's filesystem full (filled by the test, as a container's writes or a log would):
// deleting a pod still tears it down and forgets it, and its events are kept in memory, shown
// by boxctl, and written once there is room again.
TEST_F(DiskTest, APodIsDeletedOnAFullStateDiskAndItsEventsAreKept) {
  SmallFs fs(b_.stateDir(), "48m");
  ASSERT_TRUE(fs.mounted()) << std::strerror(errno);
  start("stateReserveBytes: 4Mi\ndefaultEphemeralStorageLimit: 0\n");
  b_.writeSpec("p.yaml", podSpec("p", "  containers:\n" + idler("c")));
  ASSERT_TRUE(b_.waitPhase("p", "Running", 20000)) << b_.status().dump(2) << b_.log();
  const std::string filler = b_.stateDir() + "/filler";
  ASSERT_GT(fill(filler), 0);

  b_.removeSpec("p.yaml");
  EXPECT_TRUE(b_.waitGone("p", 30000)) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(b_.log().find("TeardownFailed"), std::string::npos) << b_.log();
  auto ev = findEvent(b_, "p", "Deleted");
  EXPECT_TRUE(ev.is_object()) << "the event is shown while the disk is full\n"
                              << events(b_, "p").dump(2);

  // Room again: the events are written (they survive a restart), the reserve is taken back.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  b_.writeSpec("q.yaml", podSpec("q", "  containers:\n" + idler("c")));
  ASSERT_TRUE(b_.waitPhase("q", "Running", 20000)) << b_.status().dump(2) << b_.log();
  EXPECT_TRUE(
      waitFor([&] { return ::access((b_.stateDir() + "/reserve").c_str(), F_OK) == 0; }, 20000))
      << b_.log();
  b_.stop();
  b_.start();
  EXPECT_TRUE(findEvent(b_, "p", "Deleted").is_object()) << events(b_, "p").dump(2);
  EXPECT_TRUE(findEvent(b_, "p", "Killing").is_object()) << events(b_, "p").dump(2);

  b_.removeSpec("q.yaml");
  EXPECT_TRUE(b_.waitGone("q", 20000));
  b_.stop();
  fs.unmount();
  auto left = b_.leftovers();
  EXPECT_TRUE(left.empty()) << (left.empty() ? "" : left[0]);
}

// In a child running as nobody (uid and gid 65534, no groups): what a local non-root user gets
// when it tries boxd's socket, its state database and a pod's writable layer. The child's exit
// code is a bit set of what succeeded (0: nothing did).
int asNobody(const std::string& socket, const std::string& db, const std::string& podsDir) {
  pid_t pid = ::fork();
  if (pid == 0) {
    gid_t none[1] = {65534};
    if (::setgroups(1, none) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(100);
    int got = 0;
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) got |= 1;
    if (::open(db.c_str(), O_RDONLY | O_CLOEXEC) >= 0) got |= 2;
    if (::open(podsDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC) >= 0) got |= 4;
    ::_exit(got);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// The threat model's local non-root user (docs/security.md): no way to boxd or a pod's files.
TEST_F(DiskTest, ALocalNonRootUserReachesNeitherTheSocketNorTheState) {
  // The test's own temp dir is 0700; opened for traversal so that boxd's modes alone decide.
  const std::string top = b_.specs().substr(0, b_.specs().rfind('/'));
  ASSERT_EQ(::chmod(top.c_str(), 0711), 0);
  start("defaultEphemeralStorageLimit: 0\n");
  b_.writeSpec("p.yaml", podSpec("p", "  containers:\n" + idler("c")));
  ASSERT_TRUE(b_.waitPhase("p", "Running", 20000)) << b_.status().dump(2);
  EXPECT_EQ(
      asNobody(b_.runDir() + "/boxd.sock", b_.stateDir() + "/boxd.db", b_.stateDir() + "/pods"), 0)
      << "1: connected to boxd's socket, 2: opened the state database, 4: listed the pods' dirs";
  b_.removeSpec("p.yaml");
  EXPECT_TRUE(b_.waitGone("p", 20000));
}

}  // namespace
}  // namespace boxd::testing
