// emptyDir and hostPath volumes end to end: sharing, lifetime, tmpfs size, hostPath types,
// read-only mounts, and paths that try to lead outside the container or the volume.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/fd.h"
#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    b_.start();
    b_.importBusybox();
  }
  std::string logs(const std::string& pod, const std::string& c) {
    return b_.boxctl({"logs", pod, "-c", c}).out;
  }
  TempDir host_{"hostpath"};
  Boxd b_;
};

constexpr const char* kLoop = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";

TEST_F(VolumeTest, EmptyDirIsSharedSurvivesRestartsAndGoesWithThePod) {
  b_.writeSpec("p.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {}
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, 'echo hello >> /data/msg; )") +
                             kLoop + R"(']
    volumeMounts: [{name: shared, mountPath: /data}]
  - name: reader
    image: busybox
    command: [sh, -c, 'while ! cat /in/msg; do sleep 0.1; done; )" +
                             kLoop + R"(']
    volumeMounts: [{name: shared, mountPath: /in, readOnly: true}]
)");
  ASSERT_TRUE(waitFor([&] { return b_.pod("p")["ready"] == "2/2"; }, 10000))
      << b_.status().dump(2) << b_.log();
  ASSERT_TRUE(
      waitFor([&] { return logs("p", "reader").find("hello") != std::string::npos; }, 5000));
  auto uid = b_.pod("p")["uid"].get<std::string>();
  std::string dir = b_.stateDir() + "/pods/" + uid + "/volumes/shared";
  int writer = b_.pod("p")["containers"][0]["pid"];
  ::kill(writer, SIGKILL);  // restarted by Always: it appends again to the same file
  ASSERT_TRUE(
      waitFor([&] { return b_.pod("p")["containers"][0]["restarts"].get<int>() >= 1; }, 5000));
  ASSERT_TRUE(waitFor(
      [&] {
        auto c = readFile(dir + "/msg");
        return c.ok() && *c == "hello\nhello\n";
      },
      5000))
      << "the emptyDir kept its content across the restart";
  auto desc = b_.boxctl({"describe", "p"}).out;
  EXPECT_NE(desc.find("emptydir"), std::string::npos) << desc;
  EXPECT_NE(desc.find("/in (ro)"), std::string::npos) << desc;
  b_.removeSpec("p.yaml");
  ASSERT_TRUE(b_.waitGone("p"));
  struct stat st {};
  EXPECT_NE(::stat(dir.c_str(), &st), 0) << "the emptyDir went with its pod";
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

TEST_F(VolumeTest, MemoryEmptyDirIsATmpfsOfItsSizeLimit) {
  b_.writeSpec("p.yaml", std::string(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  restartPolicy: Never
  volumes:
  - name: scratch
    emptyDir: {medium: Memory, sizeLimit: 8Mi}
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'df -k /s | tail -1; dd if=/dev/zero of=/s/big bs=1M count=10 || echo FULL']
    volumeMounts: [{name: scratch, mountPath: /s}]
)"));
  ASSERT_TRUE(b_.waitPhase("p", "Succeeded", 10000)) << b_.status().dump(2);
  std::string out = logs("p", "c");
  EXPECT_NE(out.find("8192"), std::string::npos) << out;
  EXPECT_NE(out.find("FULL"), std::string::npos) << out;
}

TEST_F(VolumeTest, HostPathTypesAndReadOnly) {
  std::string created = host_ / "made/here";
  ASSERT_TRUE(writeFileAtomic(host_ / "conf", "setting=1\n").ok());
  b_.writeSpec(
      "p.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Never\n"
      "  volumes:\n"
      "  - {name: out, hostPath: {path: " +
          created +
          ", type: DirectoryOrCreate}}\n"
          "  - {name: conf, hostPath: {path: " +
          host_ / "conf" +
          ", type: File}}\n"
          "  containers:\n  - name: c\n    image: busybox\n"
          "    command: [sh, -c, 'cat /etc/app.conf; echo written > /out/f; touch /etc/app.conf "
          "2>&1 || echo RO']\n"
          "    volumeMounts:\n    - {name: out, mountPath: /out}\n"
          "    - {name: conf, mountPath: /etc/app.conf, readOnly: true}\n");
  ASSERT_TRUE(b_.waitPhase("p", "Succeeded", 10000)) << b_.status().dump(2) << b_.log();
  std::string out = logs("p", "c");
  EXPECT_NE(out.find("setting=1"), std::string::npos) << out;
  EXPECT_NE(out.find("Read-only file system"), std::string::npos) << out;
  auto written = readFile(created + "/f");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, "written\n");
  b_.removeSpec("p.yaml");
  ASSERT_TRUE(b_.waitGone("p"));
  EXPECT_TRUE(readFile(created + "/f").ok()) << "host data is never removed";

  b_.writeSpec("q.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  volumes:\n"
               "  - {name: v, hostPath: {path: " +
                   host_ / "missing" +
                   ", type: Directory}}\n"
                   "  containers:\n  - {name: c, image: busybox, volumeMounts: [{name: v, "
                   "mountPath: /v}]}\n");
  ASSERT_TRUE(waitFor([&] { return b_.pod("q")["reason"] == "CreateFailed"; }, 5000))
      << b_.status().dump(2);
  EXPECT_NE(b_.pod("q")["message"].get<std::string>().find("missing"), std::string::npos)
      << b_.pod("q").dump();
}

// A unix socket the test listens on, as a service on the host would. (busybox nc has no -U,
// so the container checks the socket with test -S rather than connecting.)
Fd listenUnix(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 4) != 0)
    return Fd();
  return fd;
}

std::string hostPathPod(const std::string& name, const std::string& path, const std::string& type,
                        const std::string& mountPath, const std::string& script) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  restartPolicy: Never\n  volumes:\n  - {name: v, hostPath: {path: " + path +
         ", type: " + type + "}}\n  containers:\n  - name: c\n    image: busybox\n" +
         "    command: [sh, -c, '" + script +
         "']\n    volumeMounts: [{name: v, mountPath: " + mountPath + "}]\n";
}

TEST_F(VolumeTest, HostPathSocketAndCharDeviceAreMountedAsWhatTheyAre) {
  std::string sock = host_ / "app.sock";
  Fd listener = listenUnix(sock);
  ASSERT_TRUE(listener) << sock << ": " << std::strerror(errno);
  b_.writeSpec("s.yaml", hostPathPod("s", sock, "Socket", "/mnt/app.sock",
                                     "test -S /mnt/app.sock && echo SOCKET"));
  // Not under the image's sticky /tmp: there even root may not open another user's file.
  b_.writeSpec("d.yaml", hostPathPod("d", "/dev/null", "CharDevice", "/mnt/null",
                                     "test -c /mnt/null && echo CHAR; echo x > /mnt/null && "
                                     "echo WROTE; wc -c < /mnt/null"));
  ASSERT_TRUE(b_.waitPhase("s", "Succeeded", 10000)) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(logs("s", "c"), "SOCKET\n");
  ASSERT_TRUE(b_.waitPhase("d", "Succeeded", 10000)) << b_.status().dump(2);
  EXPECT_EQ(logs("d", "c"), "CHAR\nWROTE\n0\n");
  b_.removeSpec("s.yaml");
  b_.removeSpec("d.yaml");
  ASSERT_TRUE(b_.waitGone("s"));
  ASSERT_TRUE(b_.waitGone("d"));
  struct stat st {};
  ASSERT_EQ(::lstat(sock.c_str(), &st), 0) << "the host's socket is left alone";
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

TEST_F(VolumeTest, HostPathSocketOrCharDeviceMissingOrOfAnotherTypeFailsThePodClearly) {
  ASSERT_TRUE(writeFileAtomic(host_ / "plain", "not special\n").ok());
  Fd listener = listenUnix(host_ / "real.sock");
  ASSERT_TRUE(listener);
  struct Case {
    const char* pod;
    std::string path;
    const char* type;
    std::string message;
  } cases[] = {
      {"a", host_ / "missing.sock", "Socket",
       "hostPath Socket " + host_ / "missing.sock" + ": No such file or directory"},
      {"b", host_ / "missing-dev", "CharDevice",
       "hostPath CharDevice " + host_ / "missing-dev" + ": No such file or directory"},
      {"c", host_ / "plain", "Socket",
       "hostPath " + host_ / "plain" + " is not a socket (type Socket)"},
      {"e", host_ / "real.sock", "CharDevice",
       "hostPath " + host_ / "real.sock" + " is not a character device (type CharDevice)"},
  };
  for (const auto& c : cases)
    b_.writeSpec(std::string(c.pod) + ".yaml", hostPathPod(c.pod, c.path, c.type, "/v", "true"));
  for (const auto& c : cases) {
    ASSERT_TRUE(waitFor([&] { return b_.pod(c.pod)["reason"] == "CreateFailed"; }, 10000))
        << c.pod << b_.status().dump(2);
    std::string message = b_.pod(c.pod)["message"];
    EXPECT_NE(message.find(c.message), std::string::npos) << c.pod << ": " << message;
    std::string events = b_.boxctl({"events", c.pod}).out;
    EXPECT_NE(events.find(c.message), std::string::npos) << c.pod << ": " << events;
  }
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{});
}

TEST_F(VolumeTest, PathsLeadingOutsideAreRefused) {
  // An image whose /escape is a symlink to the host's (not the container's) view of a dir.
  TempDir img("img");
  ASSERT_EQ(run({"/bin/cp", "-a", busyboxRootfs() + "/.", img.path()}).code, 0);
  std::string outside = host_ / "outside";
  ASSERT_EQ(::symlink(("../../../../../../../.." + outside).c_str(), (img / "escape").c_str()), 0);
  ASSERT_EQ(b_.boxctl({"image", "import", "trap", img.path()}, 60000).code, 0);
  // A hostPath volume holding a symlink planted to lead a subPath to the host's /etc.
  ASSERT_TRUE(mkdirAll(host_ / "vol").ok());
  ASSERT_EQ(::symlink("/etc", (host_ / "vol/evil").c_str()), 0);

  b_.writeSpec("a.yaml",
               "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  restartPolicy: Never\n"
               "  volumes: [{name: e, emptyDir: {}}]\n"
               "  containers:\n  - name: c\n    image: trap\n    command: [sh, -c, 'echo in > "
               "/escape/x/f']\n"
               "    volumeMounts: [{name: e, mountPath: /escape/x}]\n");
  // The shim mounts volumes when it starts the container: the start fails, with the reason as
  // the container's message and in the pod's events.
  ASSERT_TRUE(b_.waitPhase("a", "Failed", 10000)) << b_.status().dump(2);
  auto ca = b_.pod("a")["containers"][0];
  EXPECT_NE(ca.value("message", "").find("mountPath /escape/x leads outside"), std::string::npos)
      << ca.dump();
  EXPECT_NE(b_.boxctl({"events", "a"}).out.find("mountPath /escape/x leads outside"),
            std::string::npos);
  struct stat st {};
  EXPECT_NE(::stat(outside.c_str(), &st), 0)
      << "the image's symlink must not lead the mount onto the host";

  b_.writeSpec(
      "b.yaml",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  volumes:\n"
      "  - {name: v, hostPath: {path: " +
          host_ / "vol" +
          "}}\n"
          "  containers:\n  - {name: c, image: busybox, volumeMounts: [{name: v, mountPath: /v, "
          "subPath: evil}]}\n");
  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"events", "b"})
                   .out.find("subPath evil of " + host_ / "vol" + " leads outside") !=
               std::string::npos;
      },
      10000))
      << b_.boxctl({"events", "b"}).out;
  EXPECT_NE(b_.pod("b")["ready"], "1/1");
  b_.removeSpec("a.yaml");
  b_.removeSpec("b.yaml");
  ASSERT_TRUE(b_.waitGone("a"));
  ASSERT_TRUE(b_.waitGone("b"));
  EXPECT_EQ(b_.leftovers(), std::vector<std::string>{})
      << "nothing stays mounted after the refusal";
}

}  // namespace
}  // namespace boxd::testing
