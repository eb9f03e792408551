// One request line to a unix stream socket, one reply line back, with a deadline: how boxctl,
// the tests and the benchmark talk to boxd.
#pragma once

#include <string>

#include "common/result.h"

namespace boxd {

// Sends line + '\n' to the socket at path and returns the first reply line (without '\n').
// Errors name what failed: connect (errno kept, e.g. ENOENT/ECONNREFUSED), send, a reply
// missing after timeoutMs (ETIMEDOUT), or a connection closed without one.
Result<std::string> requestLine(const std::string& path, const std::string& line, int timeoutMs);

}  // namespace boxd
