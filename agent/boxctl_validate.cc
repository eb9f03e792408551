// boxctl validate PATH...: boxd's checks on spec files and directories, without boxd.
#include <cstdio>

#include "agent/boxctl_commands.h"
#include "agent/validate_tree.h"

namespace boxd::agent {

using nlohmann::json;

int cmdValidate(const std::vector<std::string>& args) {
  bool asJson = false;
  std::vector<std::string> paths;
  for (size_t i = 0; i < args.size(); ++i) {
    auto flag = takeJsonFlag(args, i);
    if (!flag.ok()) {
      std::fprintf(stderr, "boxctl: validate: %s\n", flag.error().message.c_str());
      return 1;
    }
    if (*flag) {
      asJson = true;
    } else if (args[i] == "-h" || args[i] == "--help") {
      std::printf(
          "usage: boxctl validate [-o json] PATH...\n"
          "Checks spec files and directories with boxd's own rules and across files; no boxd\n"
          "needed. Exit 0: clean; 1: every problem as file:line:column: field: message.\n");
      return 0;
    } else if (args[i] == "--") {
      paths.insert(paths.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      std::fprintf(stderr, "boxctl: validate: unknown option %s\n", args[i].c_str());
      return 1;
    } else {
      paths.push_back(args[i]);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "boxctl: usage: boxctl validate [-o json] PATH...\n");
    return 1;
  }
  ValidateReport report = validatePaths(paths);
  if (asJson) {
    json problems = json::array();
    for (const auto& d : report.problems) {
      problems.push_back({{"file", d.file},
                          {"line", d.line},
                          {"column", d.column},
                          {"field", d.field},
                          {"message", d.message},
                          {"text", d.str()}});
    }
    json out = {{"valid", report.problems.empty()},
                {"files", report.files},
                {"pods", report.pods},
                {"secrets", report.secrets},
                {"problems", problems}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& d : report.problems) std::printf("%s\n", d.str().c_str());
    std::fprintf(stderr, "%d file(s), %d pod(s), %d secret(s): %zu problem(s)\n", report.files,
                 report.pods, report.secrets, report.problems.size());
  }
  return report.problems.empty() ? 0 : 1;
}

}  // namespace boxd::agent
