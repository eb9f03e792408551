// boxctl plan [DIR] [-o json]: what boxd would change if DIR (default: the specs dir as it is)
// became the desired state. Exit 0: no change; 2: changes; 1: an error (spec errors included).
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/boxctl_commands.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

int fail(const std::string& msg) {
  std::fprintf(stderr, "boxctl: %s\n", msg.c_str());
  return 1;
}

std::string indent(const std::string& text, const std::string& pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out += pad + text.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return out;
}

void printPlan(const json& plan) {
  std::printf("plan for %s (revision %s):\n", plan["dir"].get<std::string>().c_str(),
              plan["revision"].get<std::string>().c_str());
  int create = 0, replace = 0, remove = 0, keep = 0;
  for (const auto& p : plan["pods"]) {
    std::string action = p["action"], name = p["name"], file = p["sourceFile"];
    if (action == "create") {
      create++;
      std::printf("  + pod/%s will be created (%s)\n", name.c_str(), file.c_str());
    } else if (action == "delete") {
      remove++;
      std::printf("  - pod/%s will be deleted (no spec declares it; it came from %s)\n",
                  name.c_str(), file.c_str());
    } else if (action == "replace") {
      replace++;
      std::string fields;
      for (const auto& f : p["fields"])
        fields += (fields.empty() ? "" : ", ") + f.get<std::string>();
      std::printf("  ~ pod/%s will be replaced (%s)%s%s\n", name.c_str(), file.c_str(),
                  fields.empty() ? "" : ": ", fields.c_str());
      std::fputs(indent(p["diff"].get<std::string>(), "      ").c_str(), stdout);
    } else {
      keep++;
    }
  }
  for (const auto& s : plan["secrets"]) {
    std::string action = s["action"];
    const char* mark = action == "added" ? "+" : action == "removed" ? "-" : "~";
    std::printf("  %s secret/%s will be %s (%s)\n", mark, s["name"].get<std::string>().c_str(),
                action.c_str(), s["sourceFile"].get<std::string>().c_str());
  }
  std::printf("%d to create, %d to replace, %d to delete, %d unchanged; %zu secret change(s)\n",
              create, replace, remove, keep, plan["secrets"].size());
}

}  // namespace

int cmdPlan(const std::string& socket, const std::vector<std::string>& args) {
  bool asJson = false;
  std::string dir;
  for (size_t i = 0; i < args.size(); ++i) {
    auto flag = takeJsonFlag(args, i);
    if (!flag.ok()) return fail("plan: " + flag.error().message);
    if (*flag) {
      asJson = true;
    } else if (dir.empty() && !args[i].empty() && args[i][0] != '-') {
      dir = args[i];
    } else {
      return fail("plan: unexpected argument " + args[i] + " (usage: boxctl plan [DIR] [-o json])");
    }
  }
  json req = {{"op", "plan"}};
  if (!dir.empty()) {
    // Absolute, but links kept: boxd resolves a git-sync link itself and names its revision.
    if (dir[0] != '/') {
      char cwd[PATH_MAX];
      if (::getcwd(cwd, sizeof cwd) == nullptr)
        return fail(std::string("getcwd: ") + std::strerror(errno));
      dir = std::string(cwd) + "/" + dir;
    }
    req["dir"] = dir;
  }
  auto plan = boxdCall(socket, req, 120000);
  if (!plan.ok()) return fail(plan.error().message);
  (*plan).erase("ok");
  if (asJson)
    std::printf("%s\n", plan->dump(2).c_str());
  else
    printPlan(*plan);
  for (const auto& e : (*plan)["specErrors"])
    std::fprintf(stderr, "error: %s\n", e.get<std::string>().c_str());
  if (!(*plan)["specErrors"].empty()) return 1;
  return (*plan)["changes"].get<bool>() ? 2 : 0;
}

}  // namespace boxd::agent
