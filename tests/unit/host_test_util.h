// Shared by the host unit and privileged tests: a child process that is killed and reaped (by pid) at scope exit.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {

// A forked child that sleeps until killed; dies with the test process (PDEATHSIG).
class SleepingChild {
 public:
  SleepingChild() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (;;) ::pause();
    }
  }
  ~SleepingChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  SleepingChild(const SleepingChild&) = delete;
  SleepingChild& operator=(const SleepingChild&) = delete;
  pid_t pid() const { return pid_; }
  // Reaps the child if it has exited; returns its wait status, or -1 while it runs.
  int reap(int timeoutMs = 2000) {
    int64_t deadline = monotonicMs() + timeoutMs;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return status;
      }
      if (monotonicMs() >= deadline) return -1;
      ::usleep(5000);
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace boxd::testing
