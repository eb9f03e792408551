// Resource bounds and honest container states end to end (issue 10): a fork bomb stops at the
// pod's pids limit, an OOM kill reads OOMKilled, a container that ignores SIGTERM is killed with
// a word why, and idle connections neither pile up on boxd's socket nor keep boxctl out.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/fd.h"
#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

constexpr const char* kLoop = "trap \"exit 0\" TERM; while true; do sleep 1 & wait; done";

std::string podSpec(const std::string& name, const std::string& containers, int grace = 1,
                    const std::string& restart = "Always") {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n" +
         "  terminationGracePeriodSeconds: " + std::to_string(grace) + "\n" +
         "  restartPolicy: " + restart + "\n  containers:\n" + containers;
}

std::string container(const std::string& name, const std::string& script,
                      const std::string& extra = "") {
  return "  - name: " + name + "\n    image: busybox\n    command: [sh, -c, '" + script + "']\n" +
         extra;
}

nlohmann::json events(Boxd& b, const std::string& pod) {
  std::string line =
      b.rawRequest(nlohmann::json{{"op", "events"}, {"name", pod}, {"limit", 200}}.dump());
  auto j = nlohmann::json::parse(line, nullptr, false);
  return j.is_object() && j.contains("events") ? j["events"] : nlohmann::json::array();
}

// The first event of pod with this reason whose message holds `part` (null if none).
nlohmann::json findEvent(Boxd& b, const std::string& pod, const std::string& reason,
                         const std::string& part = "") {
  for (const auto& e : events(b, pod)) {
    if (e.value("reason", "") == reason && e.value("message", "").find(part) != std::string::npos)
      return e;
  }
  return nullptr;
}

nlohmann::json containerOf(const nlohmann::json& pod, const std::string& name) {
  if (!pod.is_object()) return nullptr;
  for (const auto& c : pod["containers"]) {
    if (c["name"] == name) return c;
  }
  return nullptr;
}

std::string readTrimmed(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? trim(*r) : "<" + r.error().message + ">";
}

int64_t readNumber(const std::string& path) {
  auto r = readFile(path);
  return r.ok() && !trim(*r).empty() && std::isdigit(static_cast<unsigned char>(trim(*r)[0]))
             ? std::stoll(trim(*r))
             : -1;
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  void start(const std::string& config) {
    b_.addConfig(config);
    b_.start();
    b_.importBusybox();
  }
  // The pod cgroup's directory under the v1 pids controller (the harness runs on v1 hosts).
  std::string podPidsDir(const std::string& pod) {
    std::string uid = b_.pod(pod).value("uid", "");
    return "/sys/fs/cgroup/pids/" + b_.cgroupParent() + "/" + pod + "-" + uid.substr(0, 8);
  }
  Boxd b_;
};

// Issue 10: a fork bomb spawned 2000 processes in a default pod (pids.max = max). Bounded here
// (300 background sleeps, not an exponential bomb), so the test cannot hurt the host when the
// limit is missing: it then simply finds more processes than the limit.
TEST_F(LimitsTest, ForkBombStopsAtThePodPidsLimitAndSaysSo) {
  start("podPidsLimit: 40\nresyncSeconds: 1\n");
  b_.writeSpec("calm.yaml", podSpec("calm", container("c", kLoop)));
  // The inner shell forks until refused (a shell gives up at its first refused fork); its
  // sleeps stay, and the container's first process then becomes one more sleep (exec, no fork).
  const std::string bomb =
      "sh -c \"i=0; while [ \\$i -lt 300 ]; do sleep 600 & i=\\$((i+1)); done\" 2>/dev/null; "
      "echo spawned; exec sleep 600";
  b_.writeSpec("bomb.yaml", podSpec("bomb", container("b", bomb)));
  ASSERT_TRUE(b_.waitPhase("calm", "Running", 20000)) << b_.status().dump(2) << b_.log();
  ASSERT_TRUE(b_.waitPhase("bomb", "Running", 20000)) << b_.status().dump(2) << b_.log();
  ASSERT_TRUE(waitFor(
      [&] {
        return b_.boxctl({"logs", "bomb"}).out.find("spawned") != std::string::npos;
      },
      30000))
      << b_.boxctl({"logs", "bomb"}).out;

  const std::string dir = podPidsDir("bomb");
  EXPECT_EQ(readTrimmed(dir + "/pids.max"), "40");
  int64_t current = readNumber(dir + "/pids.current");
  EXPECT_GT(current, 30) << "the loop forked until refused";
  EXPECT_LE(current, 40) << "no more processes than the pod's limit";

  // The limit reached is told, once per increase (read at every resync here).
  nlohmann::json ev;
  ASSERT_TRUE(
      waitFor([&] { return !(ev = findEvent(b_, "bomb", "PidsLimitReached")).is_null(); }, 10000))
      << events(b_, "bomb").dump(2) << b_.log();
  EXPECT_EQ(ev["type"], "Warning");
  EXPECT_NE(ev["message"].get<std::string>().find("fork(s) refused"), std::string::npos) << ev;
  ::usleep(2500 * 1000);  // two more resyncs with no new refusal: no new event
  int count = 0;
  for (const auto& e : events(b_, "bomb")) count += e["reason"] == "PidsLimitReached";
  EXPECT_EQ(count, 1) << events(b_, "bomb").dump(2);

  // Nothing else is disturbed: the other pod runs, boxd answers, exec works there.
  EXPECT_EQ(b_.pod("calm")["phase"], "Running");
  EXPECT_EQ(containerOf(b_.pod("calm"), "c")["restarts"], 0);
  auto exec = b_.boxctl({"exec", "calm", "--", "echo", "fine"});
  EXPECT_EQ(exec.code, 0) << exec.out;
  EXPECT_EQ(trim(exec.out), "fine");
  b_.removeSpec("bomb.yaml");
  EXPECT_TRUE(b_.waitGone("bomb", 20000)) << b_.status().dump(2);
}

TEST_F(LimitsTest, UnlimitedWhenTheConfigSaysSo) {
  start("podPidsLimit: -1\n");
  b_.writeSpec("free.yaml", podSpec("free", container("c", kLoop)));
  ASSERT_TRUE(b_.waitPhase("free", "Running", 20000)) << b_.status().dump(2) << b_.log();
  EXPECT_EQ(readTrimmed(podPidsDir("free") + "/pids.max"), "max");
}

// Issue 10: an OOM kill showed as Error, exit 137. busybox's tail keeps everything it reads from
// /dev/zero (it never sees a newline), so it grows until the memory limit's OOM kill.
TEST_F(LimitsTest, OomKillReadsOOMKilled) {
  start("");
  b_.writeSpec("hog.yaml",
               podSpec("hog",
                       "  - name: hog\n    image: busybox\n    command: [tail, /dev/zero]\n"
                       "    resources: {limits: {memory: 24Mi}}\n" +
                           container("ok", kLoop),
                       1, "Never"));
  nlohmann::json hog;
  ASSERT_TRUE(waitFor(
      [&] {
        hog = containerOf(b_.pod("hog"), "hog");
        return hog.is_object() && hog["state"] == "Terminated";
      },
      30000))
      << b_.status().dump(2) << b_.log();
  EXPECT_EQ(hog["reason"], "OOMKilled") << hog.dump(2);
  EXPECT_EQ(hog["exitCode"], 137);
  EXPECT_NE(hog.value("message", "").find("memory limit of 25165824 bytes"), std::string::npos)
      << hog.dump(2);
  EXPECT_NE(b_.boxctl({"describe", "hog"}).out.find("OOMKilled"), std::string::npos)
      << b_.boxctl({"describe", "hog"}).out;
  auto ev = findEvent(b_, "hog", "OOMKilled", "container hog exited with code 137");
  EXPECT_FALSE(ev.is_null()) << events(b_, "hog").dump(2);
  EXPECT_EQ(containerOf(b_.pod("hog"), "ok")["state"], "Running") << "its neighbour is untouched";
}

// A container killed otherwise (SIGKILL from outside, no OOM) still reads Error: the OOM count
// of its cgroup did not grow.
TEST_F(LimitsTest, PlainSigkillIsNotOOMKilled) {
  start("");
  b_.writeSpec(
      "k.yaml",
      podSpec("k", container("c", "sleep 600") + "    resources: {limits: {memory: 64Mi}}\n", 1,
              "Never"));
  ASSERT_TRUE(b_.waitContainersRunning("k", 20000)) << b_.status().dump(2) << b_.log();
  int pid = containerOf(b_.pod("k"), "c")["pid"];
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGKILL);
  nlohmann::json c;
  ASSERT_TRUE(waitFor(
      [&] {
        c = containerOf(b_.pod("k"), "c");
        return c["state"] == "Terminated";
      },
      10000));
  EXPECT_EQ(c["reason"], "Error") << c.dump(2);
  EXPECT_EQ(c["exitCode"], 137);
}

// Issue 10: a container that ignores SIGTERM was killed after the grace period with no word why.
TEST_F(LimitsTest, KillingEventsNameTheSignalAndTheGracePeriod) {
  start("");
  b_.writeSpec("stubborn.yaml",
               podSpec("stubborn",
                       container("deaf", "trap \"\" TERM; while true; do sleep 1; done") +
                           container("polite", kLoop),
                       2));
  ASSERT_TRUE(waitFor([&] { return b_.pod("stubborn")["ready"] == "2/2"; }, 20000))
      << b_.status().dump(2) << b_.log();
  b_.removeSpec("stubborn.yaml");
  ASSERT_TRUE(b_.waitGone("stubborn", 20000)) << b_.status().dump(2);

  for (const char* c : {"deaf", "polite"}) {
    auto stopping =
        findEvent(b_, "stubborn", "Killing",
                  std::string("Stopping container ") + c + " (SIGTERM, grace period 2 s)");
    EXPECT_FALSE(stopping.is_null()) << c << "\n" << events(b_, "stubborn").dump(2);
  }
  auto killed = findEvent(b_, "stubborn", "Killing",
                          "Container deaf did not stop within its grace period of 2 s after "
                          "SIGTERM; killing it with SIGKILL");
  ASSERT_FALSE(killed.is_null()) << events(b_, "stubborn").dump(2);
  EXPECT_EQ(killed["type"], "Warning");
  EXPECT_TRUE(findEvent(b_, "stubborn", "Killing", "Container polite did not stop").is_null())
      << "polite left on SIGTERM";
}

// A unix stream connection to path (the fd, invalid on failure).
Fd connectTo(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  return fd;
}

// What boxd sent before closing the connection, or "(open)" if it is still open after waitMs.
std::string closedWith(int fd, int waitMs) {
  std::string got;
  const int64_t deadline = monotonicMs() + waitMs;
  for (;;) {
    int left = static_cast<int>(deadline - monotonicMs());
    if (left <= 0) return "(open)";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char buf[512];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

// Issue 10: boxd's socket held 1126 idle connections, none ever timed out.
TEST_F(LimitsTest, IdleConnectionsAreBoundedAndTimedOut) {
  start("apiMaxConnections: 8\napiIdleTimeoutSeconds: 2\n");
  const std::string sock = b_.runDir() + "/boxd.sock";
  std::vector<Fd> idle;
  for (int i = 0; i < 40; ++i) {
    idle.push_back(connectTo(sock));
    ASSERT_TRUE(idle.back()) << i << ": " << std::strerror(errno);
  }
  // boxctl gets its answer at once: the oldest idle connection makes room for it.
  auto st = b_.boxctl({"status"}, 5000);
  EXPECT_EQ(st.code, 0) << st.out;
  // At most 8 were served at once: the older ones were closed with a word why.
  int closed = 0;
  for (auto& fd : idle) {
    std::string got = closedWith(fd.get(), 100);
    if (got == "(open)") continue;
    ++closed;
    EXPECT_NE(got.find("too many connections to boxd (8)"), std::string::npos) << got;
  }
  EXPECT_GE(closed, 40 - 8) << "older idle connections are closed as new ones come";
  // The newest are closed too once idle for 2 s.
  Fd last = connectTo(sock);
  ASSERT_TRUE(last);
  const int64_t t0 = monotonicMs();
  std::string got = closedWith(last.get(), 6000);
  EXPECT_NE(got.find("no complete request line in time"), std::string::npos) << got;
  EXPECT_GE(monotonicMs() - t0, 1500);
  // A half-sent request is idle too; a whole one is answered.
  Fd partial = connectTo(sock);
  ASSERT_TRUE(partial);
  ASSERT_EQ(::write(partial.get(), "{\"op\":", 6), 6);
  EXPECT_NE(closedWith(partial.get(), 6000).find("no complete request line"), std::string::npos);
  EXPECT_EQ(b_.boxctl({"status"}, 5000).code, 0);
}

}  // namespace
}  // namespace boxd::testing
