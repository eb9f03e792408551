// boxctl metrics: boxd's metrics in the Prometheus text format, over boxd's socket (the same text
// the metricsAddress endpoint serves).
#include <cstdio>

#include "agent/boxctl_commands.h"

namespace boxd::agent {

int cmdMetrics(const std::string& socket, const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "boxctl: usage: boxctl metrics\n");
    return 1;
  }
  auto r = boxdCall(socket, {{"op", "metrics"}});
  if (!r.ok()) {
    std::fprintf(stderr, "boxctl: %s\n", r.error().message.c_str());
    return 1;
  }
  std::fputs((*r)["text"].get<std::string>().c_str(), stdout);
  return 0;
}

}  // namespace boxd::agent
