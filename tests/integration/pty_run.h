// Runs a program on a new pseudo-terminal (its stdin, stdout and stderr) and returns what the
// terminal got: how a user at a terminal sees boxctl's output (progress redrawn in place).
#pragma once

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::testing {

struct PtyResult {
  std::string output;
  int status = -1;
  bool timedOut = false;
};

// Killed (SIGKILL) after timeoutMs; waited for either way.
inline PtyResult runOnPty(const std::vector<std::string>& argv, int64_t timeoutMs) {
  PtyResult r;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 120;
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, &ws);
  if (pid < 0) return r;
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execv(args[0], args.data());
    _exit(127);
  }
  Fd m(master);
  int64_t deadline = monotonicMs() + timeoutMs;
  for (;;) {
    int64_t left = deadline - monotonicMs();
    if (left <= 0) {
      r.timedOut = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{m.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 200))) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(m.get(), buf, sizeof buf);
    if (n <= 0) break;  // EIO: the child closed the terminal's last descriptor
    r.output.append(buf, static_cast<size_t>(n));
  }
  ::waitpid(pid, &r.status, 0);
  return r;
}

}  // namespace boxd::testing
