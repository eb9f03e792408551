// LogWriter: a container's output pipe copied into its log file, with size-bounded rotation,
// and keepPreviousRun, the restart hand-over. Real pipes and files in a temp dir.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "agent/shim/log_files.h"
#include "agent/shim/log_writer.h"
#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::shim {
namespace {

using boxd::testing::TempDir;

struct TestPipe {
  Fd read, write;
};

TestPipe makePipe() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  EXPECT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  return {Fd(fds[0]), Fd(fds[1])};
}

void put(const Fd& fd, const std::string& s) {
  ASSERT_EQ(::write(fd.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

std::string content(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? *r : "<missing>";
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// "00001\n00002\n..." lines from..to, 6 bytes each.
std::string numbered(int from, int to) {
  std::string out;
  char line[16];
  for (int i = from; i <= to; ++i) {
    std::snprintf(line, sizeof line, "%05d\n", i);
    out += line;
  }
  return out;
}

TEST(LogWriter, CopiesThePipeInOrderAndSeesTheEnd) {
  TempDir t("log");
  TestPipe p = makePipe();
  auto w = LogWriter::open(t / "c.log", {}, std::move(p.read));
  ASSERT_TRUE(w.ok()) << w.error().message;
  put(p.write, "out\n");
  put(p.write, "err\npartial");
  auto first = w->pump(1 << 20);
  EXPECT_EQ(first.bytes, 15u);
  EXPECT_FALSE(first.eof);
  EXPECT_EQ(content(t / "c.log"), "out\nerr\npartial");
  put(p.write, " line\n");
  p.write.reset();
  auto last = w->pump(1 << 20);
  EXPECT_TRUE(last.eof);
  EXPECT_TRUE(w->eof());
  EXPECT_EQ(content(t / "c.log"), "out\nerr\npartial line\n");
  EXPECT_EQ(w->droppedBytes(), 0u);
}

TEST(LogWriter, PumpStopsAtItsBudget) {
  TempDir t("log");
  TestPipe p = makePipe();
  auto w = LogWriter::open(t / "c.log", {}, std::move(p.read));
  ASSERT_TRUE(w.ok());
  put(p.write, std::string(5000, 'x'));
  EXPECT_EQ(w->pump(1000).bytes, 1000u);
  EXPECT_EQ(w->pump(1 << 20).bytes, 4000u);
  EXPECT_FALSE(w->eof());
}

TEST(LogWriter, RotatesAtTheBoundKeepingWholeLinesAndMaxFiles) {
  TempDir t("log");
  std::string log = t / "c.log";
  ASSERT_TRUE(writeFileAtomic(log, numbered(1, 100)).ok());  // 600 bytes from before: appended
  TestPipe p = makePipe();
  auto w = LogWriter::open(log, {1000, 3}, std::move(p.read));
  ASSERT_TRUE(w.ok());
  for (int from = 101; from <= 2000; from += 100) {
    put(p.write, numbered(from, from + 99));
    w->pump(1 << 20);
  }
  EXPECT_FALSE(exists(rotatedLogPath(log, 3))) << "at most maxFiles files";
  std::string all;
  for (const std::string& f : {rotatedLogPath(log, 2), rotatedLogPath(log, 1), log}) {
    std::string c = content(f);
    EXPECT_LE(c.size(), 1000u) << f;
    if (f != log) {
      EXPECT_GT(c.size(), 900u) << f;  // the rotated ones are full
    }
    EXPECT_EQ(c.size() % 6, 0u) << f << ": whole lines";
    all += c;
  }
  // The newest lines, in order, without a gap.
  EXPECT_EQ(all, numbered(2001 - static_cast<int>(all.size() / 6), 2000));
}

// The shim writes logs as root: a symlink at a log's path (planted to lead it to a host file)
// is never written through, neither when the log is opened nor when it is rotated.
TEST(LogWriter, NeverWritesThroughASymlinkAtTheLogPath) {
  TempDir t("log");
  std::string log = t / "c.log", victim = t / "victim";
  ASSERT_TRUE(writeFileAtomic(victim, "host data\n").ok());
  ASSERT_EQ(::symlink(victim.c_str(), log.c_str()), 0);
  TestPipe p = makePipe();
  auto refused = LogWriter::open(log, {100, 2}, std::move(p.read));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ELOOP) << refused.error().message;

  ASSERT_EQ(::unlink(log.c_str()), 0);
  TestPipe q = makePipe();
  auto w = LogWriter::open(log, {60, 2}, std::move(q.read));
  ASSERT_TRUE(w.ok()) << w.error().message;
  put(q.write, numbered(1, 5));
  w->pump(1 << 20);
  // Swapped for a symlink behind the writer's back, then rotated: the rotation renames the
  // link, and the new file is created in its place, never opened through it.
  ASSERT_EQ(::unlink(log.c_str()), 0);
  ASSERT_EQ(::symlink(victim.c_str(), log.c_str()), 0);
  put(q.write, numbered(6, 20));
  w->pump(1 << 20);
  EXPECT_EQ(content(victim), "host data\n");
  struct stat st {};
  ASSERT_EQ(::lstat(log.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "a fresh file replaced the link";
}

TEST(LogWriter, OneFileMeansStartingOver) {
  TempDir t("log");
  std::string log = t / "c.log";
  TestPipe p = makePipe();
  auto w = LogWriter::open(log, {100, 1}, std::move(p.read));
  ASSERT_TRUE(w.ok());
  put(p.write, numbered(1, 30));
  w->pump(1 << 20);
  EXPECT_FALSE(exists(rotatedLogPath(log, 1)));
  std::string c = content(log);
  EXPECT_LE(c.size(), 100u);
  EXPECT_EQ(c, numbered(31 - static_cast<int>(c.size() / 6), 30));
}

TEST(LogWriter, ALineEndsInTheFileThatBeganItUnlessItIsVeryLong) {
  TempDir t("log");
  std::string log = t / "c.log";
  TestPipe p = makePipe();
  ASSERT_GE(::fcntl(p.write.get(), F_SETPIPE_SZ, 1 << 20), 1 << 20);
  auto w = LogWriter::open(log, {100, 2}, std::move(p.read));
  ASSERT_TRUE(w.ok());
  put(p.write, std::string(70, 'a'));  // a line begun...
  w->pump(1 << 20);
  put(p.write, std::string(70, 'a') + "\nnext\n");  // ...ends past the bound, in the same file
  w->pump(1 << 20);
  EXPECT_EQ(content(rotatedLogPath(log, 1)), std::string(140, 'a') + "\n");
  EXPECT_EQ(content(log), "next\n");

  put(p.write, std::string(70000, 'x') + "\nend\n");  // longer than the slack: split
  w->pump(1 << 20);
  EXPECT_EQ(content(log), "end\n");
  std::string older = content(rotatedLogPath(log, 1));
  EXPECT_LE(older.size(), 100u + (64 << 10));
  EXPECT_EQ(older, std::string(older.size() - 1, 'x') + "\n");
}

TEST(LogWriter, AFullDiskDropsOutputButNeverStopsTheWriter) {
  ::signal(SIGPIPE, SIG_IGN);  // the writer thread gets EPIPE if the test gives up early
  TestPipe p = makePipe();
  auto w = LogWriter::open("/dev/full", {}, std::move(p.read));
  ASSERT_TRUE(w.ok()) << w.error().message;
  constexpr size_t kTotal = 1 << 20;
  std::atomic<bool> done{false};
  std::thread container([&] {
    std::string chunk(4096, 'y');
    for (size_t sent = 0; sent < kTotal; sent += chunk.size()) {
      if (::write(p.write.get(), chunk.data(), chunk.size()) != 4096) break;
    }
    done = true;
  });
  int errors = 0;
  int64_t deadline = monotonicMs() + 10000;
  while (!done && monotonicMs() < deadline) {
    auto r = w->pump(1 << 20);
    if (r.newError) {
      ++errors;
      EXPECT_NE(r.newError->message.find("No space left on device"), std::string::npos)
          << r.newError->message;
    }
  }
  bool finished = done;
  w->pump(1 << 20);
  auto last = std::move(*w);  // closing the read end frees the thread if it is stuck
  { LogWriter gone = std::move(last); }
  container.join();
  EXPECT_TRUE(finished) << "the container blocked on a full disk";
  EXPECT_EQ(errors, 1) << "reported once, not per write";
}

TEST(KeepPreviousRun, MovesTheLastFileAndDropsTheRotatedOnes) {
  TempDir t("log");
  std::string log = t / "c.log";
  ASSERT_TRUE(writeFileAtomic(log, "run 1 end\n").ok());
  ASSERT_TRUE(writeFileAtomic(rotatedLogPath(log, 1), "run 1 middle\n").ok());
  ASSERT_TRUE(writeFileAtomic(rotatedLogPath(log, 2), "from a larger logMaxFiles\n").ok());
  ASSERT_TRUE(writeFileAtomic(t / "c.previous.log", "run 0\n").ok());
  ASSERT_TRUE(keepPreviousRun(log, 2).ok());
  EXPECT_EQ(previousLogPath(log), t / "c.previous.log");
  EXPECT_EQ(content(t / "c.previous.log"), "run 1 end\n");
  EXPECT_FALSE(exists(log));
  EXPECT_FALSE(exists(rotatedLogPath(log, 1)));
  EXPECT_FALSE(exists(rotatedLogPath(log, 2)));
  ASSERT_TRUE(keepPreviousRun(log, 2).ok()) << "no log yet: nothing to keep";
  EXPECT_EQ(content(t / "c.previous.log"), "run 1 end\n");
}

}  // namespace
}  // namespace boxd::shim
