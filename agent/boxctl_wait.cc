#include "agent/boxctl_wait.h"

#include <cctype>

#include "common/util.h"

namespace boxd::agent {

namespace {
Error usage(const std::string& what) { return makeError("wait: " + what + "; " + kWaitUsage); }

std::string titleCase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}
}  // namespace

Result<int64_t> parseDurationMs(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) ++i;
  if (i == 0 || i > 9) return makeError("invalid duration \"" + s + "\" (e.g. 30s, 2m, 500ms)");
  int64_t n = std::stoll(s.substr(0, i));
  std::string unit = s.substr(i);
  if (unit.empty() || unit == "s") return n * 1000;
  if (unit == "ms") return n;
  if (unit == "m") return n * 60000;
  if (unit == "h") return n * 3600000;
  return makeError("invalid duration \"" + s + "\" (e.g. 30s, 2m, 500ms)");
}

Result<WaitOptions> parseWaitArgs(const std::vector<std::string>& args) {
  WaitOptions o;
  bool haveFor = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if ((a == "--for" || a == "--timeout") && i + 1 < args.size()) a += "=" + args[++i];
    if (startsWith(a, "--for=")) {
      std::string what = a.substr(6);
      haveFor = true;
      if (startsWith(what, "condition=")) {
        std::string c = what.substr(10);
        if (auto eq = c.find('='); eq != std::string::npos) {
          o.status = titleCase(c.substr(eq + 1));
          c = c.substr(0, eq);
          if (o.status != "True" && o.status != "False")
            return usage("a condition's status is true or false, got " + a);
        }
        if (c.empty()) return usage("no condition named in " + a);
        o.condition = c;
      } else if (startsWith(what, "phase=") && what.size() > 6) {
        o.phase = what.substr(6);
      } else {
        return usage("unknown --for " + what);
      }
    } else if (startsWith(a, "--timeout=")) {
      Result<int64_t> ms = parseDurationMs(a.substr(10));
      if (!ms.ok()) return usage(ms.error().message);
      o.timeoutMs = *ms;
    } else if (!a.empty() && a[0] != '-' && o.pod.empty()) {
      o.pod = startsWith(a, "pod/") ? a.substr(4) : startsWith(a, "pods/") ? a.substr(5) : a;
    } else {
      return usage("unexpected argument " + a);
    }
  }
  if (o.pod.empty()) return usage("no pod given");
  if (!haveFor) return usage("--for is required");
  return o;
}

bool waitMet(const nlohmann::json& pod, const WaitOptions& o) {
  if (!pod.is_object()) return false;
  if (!o.phase.empty()) return pod.value("phase", "") == o.phase;
  for (const auto& c : pod.value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == o.condition) return c.value("status", "") == o.status;
  }
  return false;
}

}  // namespace boxd::agent
