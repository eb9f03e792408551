// boxctl logs on files laid out as the shim leaves them (agent/shim/log_files.h).
#include "agent/boxctl_logs.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using boxd::testing::TempDir;

std::string printed(const std::function<Status(std::FILE*)>& print) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = ::open_memstream(&buf, &len);
  Status st = print(out);
  std::fclose(out);
  std::string text(buf, len);
  std::free(buf);
  return st.ok() ? text : "error: " + st.error().message;
}

void put(const std::string& path, const std::string& text) {
  ASSERT_TRUE(writeFileAtomic(path, text).ok());
}

void append(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  ASSERT_NE(f, nullptr);
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

TEST(BoxctlLogs, RotatedFilesComeFirstOldestFirst) {
  TempDir t("logs");
  std::string log = t / "c.log";
  EXPECT_EQ(printed([&](std::FILE* o) { return printLogs(log, false, o); }), "")
      << "nothing written yet";
  put(log + ".2", "one\n");
  put(log + ".1", "two\n");
  put(log, "three\n");
  EXPECT_EQ(currentRunLogFiles(log), (std::vector<std::string>{log + ".2", log + ".1", log}));
  EXPECT_EQ(printed([&](std::FILE* o) { return printLogs(log, false, o); }), "one\ntwo\nthree\n");
}

TEST(BoxctlLogs, PreviousRunOrAClearError) {
  TempDir t("logs");
  std::string log = t / "web.log";
  put(log, "run 2\n");
  EXPECT_EQ(printed([&](std::FILE* o) { return printPreviousLog(log, "web", o); }),
            "error: container web has not been restarted");
  put(t / "web.previous.log", "run 1\n");
  EXPECT_EQ(printed([&](std::FILE* o) { return printPreviousLog(log, "web", o); }), "run 1\n");
}

// -f in a child process (killed by pid if it never returns): it follows the file across a
// rotation and a restart, and stops once the log is gone.
TEST(BoxctlLogs, FollowGoesOnAcrossRotationAndRestartUntilTheLogIsGone) {
  TempDir t("logs");
  std::string log = t / "c.log", out = t / "out";
  put(log, "a\n");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::FILE* f = std::fopen(out.c_str(), "w");
    Status st = printLogs(log, true, f);
    std::fclose(f);
    ::_exit(st.ok() ? 0 : 1);
  }
  auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(500)); };
  pause();
  append(log, "b\n");
  pause();
  append(log, "c\n");  // written just before the rotation: still printed
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  put(log, "d\n");
  pause();
  ASSERT_EQ(::rename(log.c_str(), (t / "c.previous.log").c_str()), 0);  // a restart
  put(log, "e\n");
  pause();
  ASSERT_TRUE(removeAll(t / "c.log").ok());
  ASSERT_TRUE(removeAll(t / "c.log.1").ok());
  int status = -1;
  int64_t deadline = monotonicMs() + 5000;
  while (::waitpid(child, &status, WNOHANG) == 0 && monotonicMs() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (monotonicMs() >= deadline) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "-f did not stop after the log was removed";
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(readFile(out).value(), "a\nb\nc\nd\ne\n");
}

}  // namespace
}  // namespace boxd::agent
