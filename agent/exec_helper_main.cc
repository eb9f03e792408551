// boxd-exec: runs one command in a running container for boxd (exec probes and lifecycle hooks),
// as `boxctl exec` does (exec.h), with a deadline that kills the command's process group.
//
//   boxd-exec '{"label": "web/a", "pid": 4242, "cgroupProcs": [...], "security": {...},
//               "argv": ["cat", "/tmp/ready"], "timeoutMs": 1000}'
//
// The command's stdout and stderr are ours (boxd reads them); the result is one JSON line on
// fd 3: {"exitCode": N} or {"error": "what failed"} or {"timedOut": true}. Exit code 0 when the
// result was written.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/exec.h"

using namespace boxd;
using nlohmann::json;

namespace {

constexpr int kResultFd = 3;

int report(const json& result) {
  std::string line = result.dump() + "\n";
  return ::write(kResultFd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // fd 3 is boxd's, not the command's.
  if (::fcntl(kResultFd, F_SETFD, FD_CLOEXEC) != 0) {
    std::fprintf(stderr, "boxd-exec: fd 3 (the result pipe) is not open\n");
    return 2;
  }
  if (argc != 2) return report({{"error", "boxd-exec: expected one JSON argument"}});
  json in = json::parse(argv[1], nullptr, false);
  if (!in.is_object()) return report({{"error", "boxd-exec: the argument is not a JSON object"}});
  agent::ExecOptions opts;
  agent::ExecTarget target;
  try {
    target.label = in.value("label", "");
    target.pid = in.value("pid", 0);
    target.cgroupProcs = in.value("cgroupProcs", std::vector<std::string>{});
    opts.argv = in.value("argv", std::vector<std::string>{});
    opts.timeoutMs = in.value("timeoutMs", int64_t{1000});
  } catch (const json::exception& e) {
    return report({{"error", std::string("boxd-exec: ") + e.what()}});
  }
  auto security = reconcilers::shimproto::securityFromJson(in.value("security", json()));
  if (!security.ok()) return report({{"error", security.error().message}});
  target.security = std::move(*security);
  agent::ExecOutcome out = agent::runExec(opts, target);
  if (out.timedOut) return report({{"timedOut", true}});
  if (!out.error.empty()) return report({{"error", out.error}, {"exitCode", out.exitCode}});
  return report({{"exitCode", out.exitCode}});
}
