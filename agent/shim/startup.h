// boxd-shim start-up, split in two halves around the detaching fork:
//
//   launcher (boxd) ─posix_spawn─▶ intermediate                         long-lived shim
//                                  parse flags, open own log
//                                  join pod cgroups
//                                  unshare NET|IPC|UTS, sethostname, lo up
//                                  (--netns PATH: join that netns instead of a new one;
//                                   --netns host: keep the host's net and uts)
//                                  bind+listen socket (0600, stale removed)
//                                  ignore SIGPIPE/SIGHUP, setsid
//                                  fork ───────────────────────────────▶ stderr → log, subreaper
//                                                                        signalfd + epoll
//                                                                        write pidfile (atomic)
//                                  exit 0 on "ok", else 1 + message ◀── "ok" | error line (ready
//                                  pipe)
//
// Everything before the fork fails with the intermediate's non-zero exit and one stderr line,
// which the launcher reports. If the intermediate is killed (launcher timeout), the shim sees
// EPIPE on the ready pipe, removes what it created and exits.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace boxd::shim {

struct Options {
  std::string podName, podUid;
  std::string socketPath, pidFile, logFile;
  std::string hostname;
  std::string netns;  // "", "host" or the path of a pinned network namespace
  std::vector<std::string> cgroupProcs;
  int termGraceSeconds = 10;  // grace given to containers when the shim gets SIGTERM/SIGINT
};

Result<Options> parseOptions(int argc, char** argv);

// The intermediate's half. The listening socket and the shim's log stay open across the fork.
struct Sandbox {
  Fd listen;
  Fd log;
  ino_t socketInode = 0;  // to remove only our own socket at exit
};
Result<Sandbox> prepareSandbox(const Options& opts);

// Forks; the parent (intermediate) waits for the child's verdict and returns its exit code,
// the child returns -1 holding the write end of the ready pipe in *ready.
int detach(Fd* ready);

// Child side: tells the intermediate that the shim is ready (or why it is not).
Status reportReady(Fd& ready, const std::string& errorOrEmpty);

// Removes the socket (if it is still ours) and the pidfile (if it still names us).
void removeRuntimeFiles(const Options& opts, ino_t socketInode);

}  // namespace boxd::shim
