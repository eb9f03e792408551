#include "agent/boxctl_watch.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "agent/boxctl_format.h"
#include "common/fd.h"
#include "common/util.h"

namespace boxd::agent {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::string clockText(int64_t ms) {
  time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int64_t wallMs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

struct WatchArgs {
  bool json = false;
  std::string pod;
};

int usage(const std::string& cmd, const std::string& why) {
  std::fprintf(stderr, "boxctl: %s\nusage: boxctl %s\n", why.c_str(),
               cmd == "events" ? "events [POD] -w [-o json]" : "status -w [-o json]");
  return 2;
}

// Connects and sends the watch request; -1 with a message printed on failure.
int openWatch(const std::string& socket, const json& req) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd || socket.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "boxctl: socket %s: %s\n", socket.c_str(), std::strerror(errno));
    return -1;
  }
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "boxctl: cannot reach boxd at %s: %s (is boxd running?)\n", socket.c_str(),
                 std::strerror(errno));
    return -1;
  }
  std::string line = req.dump() + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    std::fprintf(stderr, "boxctl: send to %s: %s\n", socket.c_str(), std::strerror(errno));
    return -1;
  }
  return fd.release();
}

// One line from boxd. Returns the exit code when the watch ends with it, else -1.
int handleLine(const std::string& text, const WatchArgs& a, WatchTable& table) {
  json line = json::parse(text, nullptr, false);
  if (line.is_discarded() || !line.is_object()) {
    std::fprintf(stderr, "boxctl: malformed line from boxd\n");
    return 1;
  }
  if (line.contains("ok") && !line.value("ok", false)) {  // the watch was refused
    std::fprintf(stderr, "boxctl: %s\n", line.value("error", "watch refused").c_str());
    return 1;
  }
  if (str(line, "type") == "ERROR") {
    std::fprintf(stderr, "boxctl: %s\n", str(line, "error").c_str());
    return 1;
  }
  std::string out = a.json ? line.dump() + "\n" : table.feed(line);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  return -1;
}

// Relays lines until boxd closes the connection or a signal asks to stop.
int relay(int sock, int sigfd, const WatchArgs& a, WatchTable& table) {
  std::string in;
  char buf[65536];
  for (;;) {
    pollfd p[2] = {{sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "boxctl: poll: %s\n", std::strerror(errno));
      return 1;
    }
    if (p[1].revents != 0) return 0;  // Ctrl-C: the watch did what was asked
    ssize_t n = ::read(sock, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "boxctl: boxd closed the watch (%s)\n",
                   n < 0 ? std::strerror(errno) : "boxd stopped or restarted");
      return 1;
    }
    in.append(buf, static_cast<size_t>(n));
    for (size_t pos; (pos = in.find('\n')) != std::string::npos;) {
      int code = handleLine(in.substr(0, pos), a, table);
      in.erase(0, pos + 1);
      if (code >= 0) return code;
    }
  }
}

}  // namespace

int openWatchConnection(const std::string& socket, const json& req) {
  return openWatch(socket, req);
}

bool wantsWatch(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(),
                     [](const std::string& a) { return a == "-w" || a == "--watch"; });
}

int runWatch(const std::string& socket, const std::string& cmd,
             const std::vector<std::string>& args) {
  WatchArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-w" || args[i] == "--watch") continue;
    if ((args[i] == "-o" || args[i] == "--output") && i + 1 < args.size()) {
      if (args[++i] != "json") return usage(cmd, "unknown output format " + args[i] + " (json)");
      a.json = true;
    } else if (args[i] == "-ojson" || args[i] == "-o=json") {
      a.json = true;
    } else if (cmd == "events" && a.pod.empty() && !args[i].empty() && args[i][0] != '-') {
      a.pod = args[i];
    } else {
      return usage(cmd, cmd + ": unexpected argument " + args[i]);
    }
  }
  json req = {{"op", "watch"}, {"watch", cmd == "events" ? "events" : "pods"}};
  if (!a.pod.empty()) req["name"] = a.pod;

  // The signals that end a watch arrive on a descriptor, between lines.
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&mask, s);
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return 1;
  Fd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC));
  if (!sigfd) {
    std::fprintf(stderr, "boxctl: signalfd: %s\n", std::strerror(errno));
    return 1;
  }
  int sock = openWatch(socket, req);
  if (sock < 0) return 1;
  Fd owned(sock);
  WatchTable table(cmd == "events" ? WatchTable::Kind::Events : WatchTable::Kind::Pods, wallMs);
  return relay(sock, sigfd.get(), a, table);
}

// The columns start at least this wide, so rows of pods that come later mostly line up.
WatchTable::WatchTable(Kind kind, int64_t (*clock)()) : kind_(kind), clock_(clock) {
  if (kind_ == Kind::Pods) {
    initial_.push_back({"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP"});
    width_ = {16, 5, 17, 8, 4, 15};
  } else {
    initial_.push_back({"TIME", "POD", "TYPE", "REASON", "MESSAGE"});
    width_ = {19, 16, 7, 16, 0};
  }
}

std::vector<std::string> WatchTable::row(const json& line) const {
  if (kind_ == Kind::Events) {
    const json& e = line["event"];
    return {clockText(e.value("timeMs", int64_t{0})), str(e, "pod").empty() ? "-" : str(e, "pod"),
            str(e, "type"), str(e, "reason"), str(e, "message")};
  }
  const json& p = line["pod"];
  std::string ip = p.value("hostNetwork", false) ? "host" : str(p, "podIP");
  int64_t now = clock_();
  return {str(p, "name"),
          str(p, "ready"),
          str(line, "type") == "DELETED" ? "Deleted" : statusColumn(p),
          std::to_string(p.value("restarts", 0)),
          formatAge(now - p.value("createdAtMs", now)),
          ip.empty() ? "-" : ip};
}

std::string WatchTable::render(const std::vector<std::string>& r) const {
  std::string out;
  for (size_t i = 0; i < r.size(); ++i) {
    out += r[i];
    size_t w = i < width_.size() ? width_[i] : r[i].size();
    if (i + 1 < r.size()) out += std::string(std::max(w, r[i].size()) - r[i].size() + 3, ' ');
  }
  return out + "\n";
}

namespace {
std::string specsText(const json& s) {
  std::string out = "specs: " + str(s, "specsDir");
  if (!str(s, "revision").empty()) out += " (revision " + str(s, "revision") + ")";
  out += "\n";
  if (!s.contains("specErrors") || !s["specErrors"].is_array()) return out;
  for (const auto& e : s["specErrors"]) {
    if (!e.contains("errors") || e["errors"].empty())
      out += "spec error: " + str(e, "file") + ": " + str(e, "error") + "\n";
    else
      for (const auto& d : e["errors"]) out += "spec error: " + str(d, "text") + "\n";
  }
  return out;
}
}  // namespace

std::string WatchTable::feed(const json& line) {
  std::string type = str(line, "type");
  if (type == "SPECS" && kind_ == Kind::Pods && line.contains("specs")) {
    if (synced_) return specsText(line["specs"]);
    preamble_ = specsText(line["specs"]);
    return "";
  }
  if (type == "SYNCED") {
    if (synced_) return "";
    synced_ = true;
    for (const auto& r : initial_) {
      for (size_t i = 0; i < r.size(); ++i) {
        if (width_.size() <= i) width_.push_back(0);
        width_[i] = std::max(width_[i], r[i].size());
      }
    }
    std::string out = preamble_;
    for (const auto& r : initial_) out += render(r);
    initial_.clear();
    return out;
  }
  if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") return "";
  if (!line.contains(kind_ == Kind::Pods ? "pod" : "event")) return "";
  if (!synced_) {
    initial_.push_back(row(line));
    return "";
  }
  return render(row(line));
}

}  // namespace boxd::agent
