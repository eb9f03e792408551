// boxctl image pull: with --layout, a pull from a registry into an OCI image layout directory,
// run in boxctl itself (no boxd needed), with per-layer progress on a terminal and plain lines
// otherwise; without, a request to boxd to pull into its store (one summary line at the end).
#pragma once

#include <string>
#include <vector>

namespace boxd::agent {

// args: REF [--layout DIR [--config FILE] [--platform OS/ARCH[/VARIANT]]]. socket: boxd's.
// Returns the exit code.
int imagePullCommand(const std::vector<std::string>& args, const std::string& socket);

}  // namespace boxd::agent
