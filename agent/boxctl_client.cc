#include <cstring>

#include "agent/boxctl_commands.h"
#include "common/line_client.h"

namespace boxd::agent {

using nlohmann::json;

Result<json> boxdCall(const std::string& socket, const json& req, int timeoutMs) {
  auto line = requestLine(socket, req.dump(), timeoutMs);
  if (!line.ok()) {
    const Error& e = line.error();
    if (e.code == ENOENT || e.code == ECONNREFUSED)
      return makeError("cannot reach boxd at " + socket + ": " + std::strerror(e.code) +
                       " (is boxd running?)");
    if (e.code == ETIMEDOUT)
      return makeError("boxd did not answer within " + std::to_string(timeoutMs / 1000) + "s");
    return e;
  }
  auto reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) return makeError("malformed answer from boxd");
  if (!reply.value("ok", false)) return makeError(reply.value("error", "request failed"));
  return reply;
}

Result<bool> takeJsonFlag(const std::vector<std::string>& args, size_t& i) {
  const std::string& a = args[i];
  std::string format;
  if ((a == "-o" || a == "--output") && i + 1 < args.size()) {
    format = args[++i];
  } else if (a.rfind("--output=", 0) == 0) {
    format = a.substr(9);
  } else if (a.rfind("-o", 0) == 0 && a.size() > 2) {
    format = a.substr(a[2] == '=' ? 3 : 2);
  } else {
    return false;
  }
  if (format != "json") return makeError("unknown output format " + format + " (json)");
  return true;
}

}  // namespace boxd::agent
