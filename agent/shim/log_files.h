// A container's log files, named alike for the shim that writes them and boxctl that reads them:
//
//   <c>.log            the current run, being written
//   <c>.log.1 … .log.N older parts of the current run (.1 the newest), N = logMaxFiles - 1
//   <c>.previous.log   the last file of the run before, kept when the container is restarted
#pragma once

#include <string>

#include "common/util.h"

namespace boxd::shim {

inline std::string rotatedLogPath(const std::string& log, int n) {
  return log + "." + std::to_string(n);
}

inline std::string previousLogPath(const std::string& log) {
  if (endsWith(log, ".log")) return log.substr(0, log.size() - 4) + ".previous.log";
  return log + ".previous";
}

}  // namespace boxd::shim
