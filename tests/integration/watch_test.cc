// Watches end to end: `boxctl status -w` and `boxctl events -w` print lines as a pod is applied
// and deleted, end with 0 on Ctrl-C and with a message and 1 when boxd is killed; watchers that
// never read are dropped once they fall behind, and boxd's memory stays bounded meanwhile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/fd.h"
#include "common/line_client.h"
#include "common/util.h"
#include "tests/integration/harness.h"

namespace boxd::testing {
namespace {

// A boxctl running in the background, its output in a file; killed by pid if still running.
class Background {
 public:
  Background(const std::string& outPath, const std::vector<std::string>& argv) : out_(outPath) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && code_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string out() const {
    auto c = readFile(out_);
    return c.ok() ? *c : "";
  }
  bool waitOut(const std::string& text, int timeoutMs = 15000) const {
    return waitFor([&] { return out().find(text) != std::string::npos; }, timeoutMs);
  }
  // The exit code, once it has exited within timeoutMs; -1 otherwise.
  int waitExit(int timeoutMs) {
    waitFor(
        [&] {
          int st = 0;
          if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
          code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          return true;
        },
        timeoutMs);
    return code_;
  }
  pid_t pid() const { return pid_; }

 private:
  std::string out_;
  pid_t pid_ = -1;
  int code_ = -1;
};

// A watch whose peer never reads a byte.
Fd stuckWatcher(const std::string& socket, std::string* firstError = nullptr) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
  std::string req = "{\"op\":\"watch\",\"watch\":\"pods\"}\n";
  (void)::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
  if (firstError != nullptr) {
    // Read the first line only (a refusal is one line, then the connection closes).
    char buf[4096];
    ::usleep(200000);
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    *firstError = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  return fd;
}

// Everything until the peer closes, within timeoutMs.
std::string readToEnd(int fd, int timeoutMs) {
  std::string got;
  char buf[65536];
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int64_t left = deadline - monotonicMs();
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return got + "(no end)";
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<size_t>(n));
  }
}

int64_t rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (startsWith(line, "VmRSS:")) return std::stoll(line.substr(6));
  }
  return -1;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  }
  std::vector<std::string> boxctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {b_.bin("boxctl"), "--run-dir", b_.runDir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  TempDir out_{"watch"};
  Boxd b_;
};

TEST_F(WatchTest, StatusAndEventsShowAPodAppliedAndDeleted) {
  b_.start();
  b_.importBusybox();
  Background table(out_ / "table", boxctl({"status", "-w"}));
  Background lines(out_ / "json", boxctl({"status", "-w", "-o", "json"}));
  Background events(out_ / "events", boxctl({"events", "w1", "-w"}));
  ASSERT_TRUE(lines.waitOut("{\"type\":\"SYNCED\"}")) << lines.out();
  ASSERT_TRUE(events.waitOut("TIME")) << events.out();  // the (empty) first table is out

  ASSERT_TRUE(writeFileAtomic(out_ / "w1.yaml", twoContainerPod("w1", 1)).ok());
  CmdResult applied = b_.boxctl({"apply", "-f", out_ / "w1.yaml"});
  ASSERT_EQ(applied.code, 0) << applied.out;
  ASSERT_TRUE(b_.waitPhase("w1", "Running", 20000)) << b_.status().dump(2);
  EXPECT_TRUE(table.waitOut("Running")) << table.out();
  EXPECT_EQ(table.out().rfind("specs: " + b_.specs() + " (revision sha256:", 0), 0u) << table.out();
  EXPECT_NE(table.out().find("\nNAME "), std::string::npos) << table.out();
  EXPECT_TRUE(table.waitOut("2/2")) << table.out();
  EXPECT_TRUE(lines.waitOut("\"type\":\"ADDED\"")) << lines.out();
  EXPECT_TRUE(events.waitOut("Started")) << events.out();

  CmdResult deleted = b_.boxctl({"delete", "w1"});
  ASSERT_EQ(deleted.code, 0) << deleted.out;
  ASSERT_TRUE(b_.waitGone("w1", 20000));
  EXPECT_TRUE(table.waitOut("Deleted")) << table.out();
  EXPECT_TRUE(lines.waitOut("\"type\":\"DELETED\"")) << lines.out();
  EXPECT_TRUE(events.waitOut("every host resource removed")) << events.out();
  // Every JSON line is one whole object naming w1.
  std::istringstream in(lines.out());
  std::string line;
  int podLines = 0;
  // The specs dir's content hash changes with each apply: empty, with w1, empty again.
  std::vector<std::string> revisions;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j["type"] == "SPECS") revisions.push_back(j["specs"]["revision"]);
    if (j.contains("pod")) {
      EXPECT_EQ(j["pod"]["name"], "w1") << line;
      ++podLines;
    }
  }
  EXPECT_GE(podLines, 3) << lines.out();  // added, running, deleted at least
  ASSERT_EQ(revisions.size(), 3u) << lines.out();
  EXPECT_NE(revisions[0], revisions[1]);
  EXPECT_EQ(revisions[0], revisions[2]);

  // Ctrl-C ends a watch cleanly.
  ::kill(table.pid(), SIGINT);
  EXPECT_EQ(table.waitExit(5000), 0) << table.out();
  // boxd going away ends the others with a message and 1.
  b_.kill9();
  EXPECT_EQ(lines.waitExit(5000), 1) << lines.out();
  EXPECT_EQ(events.waitExit(5000), 1) << events.out();
  EXPECT_NE(lines.out().find("boxctl: boxd closed the watch"), std::string::npos) << lines.out();
  EXPECT_NE(events.out().find("boxctl: boxd closed the watch"), std::string::npos) << events.out();
}

TEST_F(WatchTest, BadWatchRequestsGetAnErrorAndBoxdCarriesOn) {
  b_.start();
  std::string unknown = b_.rawRequest(R"({"op":"watch","watch":"nope"})");
  EXPECT_NE(unknown.find(R"(unknown watch \"nope\" (pods, events, image-pull))"), std::string::npos)
      << unknown;
  EXPECT_NE(b_.rawRequest(R"({"op":"watch","watch":7})").find("malformed request"),
            std::string::npos);
  EXPECT_NE(b_.rawRequest(R"({"op":"watch","watch":"events","name":[1]})").find("malformed"),
            std::string::npos);
  CmdResult bad = b_.boxctl({"status", "-w", "-o", "yaml"});
  EXPECT_EQ(bad.code, 2) << bad.out;
  EXPECT_NE(bad.out.find("unknown output format yaml"), std::string::npos) << bad.out;
  EXPECT_EQ(b_.boxctl({"status"}).code, 0);
  EXPECT_TRUE(b_.running());
}

TEST_F(WatchTest, StoppingBoxdTellsTheWatcherWhy) {
  b_.start();
  Background w(out_ / "w", boxctl({"events", "-w"}));
  ASSERT_TRUE(w.waitOut("TIME")) << w.out();
  b_.stop();
  EXPECT_EQ(w.waitExit(5000), 1) << w.out();
  EXPECT_NE(w.out().find("boxctl: boxd is stopping"), std::string::npos) << w.out();
}

TEST_F(WatchTest, WatchersThatNeverReadAreDroppedAndMemoryStaysBounded) {
  b_.addConfig("apiWatchQueueBytes: 16384\napiMaxConnections: 16\n");
  b_.start();
  b_.importBusybox();
  const std::string sock = b_.runDir() + "/boxd.sock";
  // Half the connections at most are watches: the 9th is refused, boxctl still gets through.
  std::vector<Fd> stuck;
  for (int i = 0; i < 8; ++i) stuck.push_back(stuckWatcher(sock));
  std::string refusal;
  Fd ninth = stuckWatcher(sock, &refusal);
  EXPECT_NE(refusal.find("too many watches on boxd (8)"), std::string::npos) << refusal;
  EXPECT_EQ(b_.boxctl({"status"}).code, 0);

  int64_t before = rssKb(b_.pid());
  ASSERT_GT(before, 0);
  // Churn pods until every stuck watcher has fallen behind and been dropped.
  for (int round = 0; round < 6 && count(b_.log(), "fell behind") < 8; ++round) {
    for (int i = 0; i < 6; ++i)
      b_.writeSpec("c" + std::to_string(i) + ".yaml", twoContainerPod("c" + std::to_string(i), 1));
    for (int i = 0; i < 6; ++i)
      ASSERT_TRUE(b_.waitPhase("c" + std::to_string(i), "Running", 30000)) << b_.status().dump(2);
    for (int i = 0; i < 6; ++i) b_.removeSpec("c" + std::to_string(i) + ".yaml");
    for (int i = 0; i < 6; ++i) ASSERT_TRUE(b_.waitGone("c" + std::to_string(i), 30000));
  }
  EXPECT_EQ(count(b_.log(), "a watcher fell behind by more than 16384 bytes"), 8) << b_.log();
  int64_t after = rssKb(b_.pid());
  // 8 watchers at 16 KiB each could hold 128 KiB; pod churn itself costs a little. Unbounded
  // queues would hold every line of every pod change for each watcher.
  EXPECT_LT(after - before, 8 * 1024) << before << " kB -> " << after << " kB";
  // A dropped watcher that reads at last gets what was queued, whole lines, and the reason as
  // the last line; then boxd closes it and its place is free again.
  for (auto& fd : stuck) {
    std::string got = readToEnd(fd.get(), 10000);
    EXPECT_LE(got.size(), 3u * 16384 + 4096) << "the kernel's buffer is bounded too";
    ASSERT_FALSE(got.empty());
    ASSERT_EQ(got.back(), '\n');
    std::string last = got.substr(got.rfind('\n', got.size() - 2) + 1);
    EXPECT_NE(last.find("boxd closed this watch: it fell behind by more than 16384 bytes"),
              std::string::npos)
        << last;
  }
  std::string err;
  Fd again = stuckWatcher(sock, &err);
  EXPECT_EQ(err.find("too many"), std::string::npos) << err;
}

}  // namespace
}  // namespace boxd::testing
