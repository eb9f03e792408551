// Process and timing helpers for boxd-bench: children with deadlines, Ctrl-C, /proc figures.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace boxd::bench {

// The bench is a command-line tool: a failed measurement unwinds to main, and every
// resource owner's destructor (or the explicit cleanup path) removes what it created.
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// SIGINT/SIGTERM/SIGHUP set a flag; every wait checks it and throws BenchError("interrupted").
void installSignalHandlers();
bool interrupted();
void throwIfInterrupted();

struct CmdResult {
  int code = -1;  // exit status, 128+signal, or -1 when it could not run / timed out
  bool timedOut = false;
  std::string out;  // stdout and stderr together
  int64_t ms = 0;   // wall time, spawn to exit
};

struct CmdOptions {
  int timeoutMs = 60000;
  std::map<std::string, std::string> env;  // added to the bench's environment
  bool discardOutput = false;              // stdout/stderr to /dev/null
  bool ignoreInterrupt = false;            // cleanup commands run to completion (still bounded)
};

// Runs argv in its own process group (so a terminal Ctrl-C reaches only the bench); at the
// deadline (timedOut) or on interrupt (throws BenchError) the group is killed by its id and
// the child reaped.
CmdResult runCmd(const std::vector<std::string>& argv, const CmdOptions& opt = {});

// Starts a long-running child (boxd, perf) in its own process group, stdout+stderr appended to
// logPath; argv[0] is looked up in PATH, as with runCmd.
pid_t spawnDaemon(const std::vector<std::string>& argv, const std::string& logPath);
// True while our child `pid` has not exited (reaps it when it has).
bool childRunning(pid_t pid);
// SIGTERM, wait up to graceMs, then SIGKILL; always reaps.
void stopChild(pid_t pid, int graceMs);

// Polls cond every pollMs until it holds; throws BenchError naming `what` at the deadline.
void waitUntil(const std::function<bool()>& cond, int timeoutMs, const std::string& what,
               int pollMs = 5);
// Like waitUntil but returns false at the deadline instead of throwing (cleanup paths).
bool waitQuietly(const std::function<bool()>& cond, int timeoutMs, int pollMs = 20);
void sleepMs(int ms);  // interruptible

// /proc figures.
int64_t rssKb(pid_t pid);     // VmRSS, -1 if the process is gone
int64_t cpuTicks(pid_t pid);  // utime + stime, -1 if gone
// The CPU time of the whole process (every thread, also those that have exited) in ns: the
// scheduler's count behind utime + stime, read through the process's CPU-time clock instead of
// /proc/PID/stat's 10 ms ticks; -1 if gone.
int64_t cpuNs(pid_t pid);
std::vector<pid_t> pidsWhoseCmdlineContains(const std::string& needle);
std::string selfDir();  // the directory of the running binary

// Reads a bench program's options one at a time:
//   for (ArgReader r(argc, argv); r.next();) if (r.arg() == "--pods") o.pods = r.positive();
// A missing value or a number below 1 throws BenchError naming the option.
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool next();  // to the next option; false past the last
  const std::string& arg() const { return arg_; }
  std::string value();  // the option's value
  int positive();       // the option's value, a number >= 1

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string arg_;
};
bool commandExists(const std::string& name);  // on PATH and executable
// Entries of dir without the dot files (empty if dir cannot be read).
std::vector<std::string> listDirNames(const std::string& dir, bool dirsOnly = false);

// Statistics over samples (ms).
double median(std::vector<double> v);
double percentileNearestRank(std::vector<double> v, double p);

}  // namespace boxd::bench
