// boxctl top [--containers] [--interval SECONDS] [-o json]: CPU, memory working set and pids of
// each pod (or container), from two samples of their cgroups taken by boxd.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "agent/boxctl_commands.h"
#include "agent/top_format.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
int fail(const std::string& msg) {
  std::fprintf(stderr, "boxctl: %s\n", msg.c_str());
  return 1;
}
}  // namespace

int cmdTop(const std::string& socket, const std::vector<std::string>& args) {
  bool containers = false, asJson = false;
  double interval = 1.0;
  for (size_t i = 0; i < args.size(); ++i) {
    auto flag = takeJsonFlag(args, i);
    if (!flag.ok()) return fail("top: " + flag.error().message);
    if (*flag) {
      asJson = true;
    } else if (args[i] == "--containers") {
      containers = true;
    } else if (args[i] == "--interval" && i + 1 < args.size()) {
      char* end = nullptr;
      interval = std::strtod(args[++i].c_str(), &end);
      if (end == nullptr || *end != '\0' || !(interval >= 0.1 && interval <= 60))
        return fail("top: --interval takes seconds from 0.1 to 60");
    } else {
      return fail("top: unexpected argument " + args[i] +
                  " (usage: boxctl top [--containers] [--interval SECONDS] [-o json])");
    }
  }
  auto first = boxdCall(socket, {{"op", "usage"}});
  if (!first.ok()) return fail(first.error().message);
  ::usleep(static_cast<useconds_t>(interval * 1e6));
  auto second = boxdCall(socket, {{"op", "usage"}});
  if (!second.ok()) return fail(second.error().message);
  json rows = topRows(*first, *second);
  if (asJson)
    std::printf("%s\n", rows.dump(2).c_str());
  else
    std::fputs(formatTop(rows, containers).c_str(), stdout);
  return 0;
}

}  // namespace boxd::agent
