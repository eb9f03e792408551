// boxctl image pull: a pull from a registry into an OCI image layout directory, run in boxctl
// itself (no boxd needed), with per-layer progress on a terminal and plain lines otherwise.
#pragma once

#include <string>
#include <vector>

namespace boxd::agent {

// args: REF --layout DIR [--config FILE] [--platform OS/ARCH[/VARIANT]]. Returns the exit code.
int imagePullCommand(const std::vector<std::string>& args);

}  // namespace boxd::agent
