// boxctl image pull: with --layout, a pull from a registry into an OCI image layout directory,
// run in boxctl itself (no boxd needed), with per-blob progress on a terminal and plain lines
// otherwise; without, boxd pulls into its store and streams each layer's progress, shown as
// agent/boxctl_pull_view.h says, then one summary line.
#pragma once

#include <string>
#include <vector>

namespace boxd::agent {

// args: REF [--layout DIR [--config FILE] [--platform OS/ARCH[/VARIANT]]]. socket: boxd's.
// Returns the exit code.
int imagePullCommand(const std::vector<std::string>& args, const std::string& socket);

}  // namespace boxd::agent
