// Running host tools (iscsiadm, mkfs, fsck, multipath), behind an interface so the command lines
// are unit-tested as golden lines with a recording fake, and the real runner is bounded in time.
// Secrets never go on an argv: a tool that needs one gets it on stdin (`input`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct CommandResult {
  int exitCode = 0;  // 128+signal when killed (a timeout kills with SIGKILL)
  bool timedOut = false;
  std::string out, err;  // each capped at 64 KiB
};

class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // Runs argv[0] (searched in PATH) with stdin fed from `input`, a clean environment
  // (PATH=/usr/sbin:/usr/bin:/sbin:/bin, LC_ALL=C), no inherited fds; kills the process group
  // at the deadline. An error only when it could not be started at all.
  virtual Result<CommandResult> run(const std::vector<std::string>& argv, int64_t timeoutMs,
                                    const std::string& input = "") = 0;
};

// The host's runner: posix_spawn of the resolved program in its own process group, stdin a pipe
// pre-filled with `input` (at most 1 MiB), stdout/stderr read with poll, SIGKILL to the group at
// the deadline. Thread-safe (no shared state): called from the agent's thread pool.
class RealCommandRunner : public CommandRunner {
 public:
  Result<CommandResult> run(const std::vector<std::string>& argv, int64_t timeoutMs,
                            const std::string& input = "") override;
};

// "iscsiadm -m node ...: exit 15: <first line of stderr>" for error messages.
std::string describeFailure(const std::vector<std::string>& argv, const CommandResult& r);

}  // namespace boxd::reconcilers
