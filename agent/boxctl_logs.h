// boxctl logs: a container's log files (agent/shim/log_files.h names them) printed in order,
// optionally followed across rotations and restarts.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::agent {

// The current run's files that exist, oldest first: <c>.log.N … <c>.log.1, then <c>.log (listed
// even when it does not exist yet).
std::vector<std::string> currentRunLogFiles(const std::string& logPath);

// Copies the current run's files to out. With follow, goes on copying what is appended, moving
// to the new <c>.log whenever the shim rotates it or the container restarts, until the log has
// been gone (the pod deleted) for a second. Before the log exists, follow waits for it.
Status printLogs(const std::string& logPath, bool follow, std::FILE* out);

// Copies <c>.previous.log; "container C has not been restarted" when there is none.
Status printPreviousLog(const std::string& logPath, const std::string& container, std::FILE* out);

}  // namespace boxd::agent
