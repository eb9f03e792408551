#include "agent/boxctl_pull.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "agent/boxctl_commands.h"
#include "agent/boxctl_format.h"
#include "agent/boxctl_pull_view.h"
#include "agent/boxctl_watch.h"
#include "agent/config.h"
#include "common/fd.h"
#include "common/util.h"
#include "images/registry/pull.h"

namespace boxd::agent {

namespace {

using nlohmann::json;

constexpr const char* kUsage =
    "usage: boxctl image pull REF [--layout DIR [--config FILE] [--platform "
    "OS/ARCH[/VARIANT]]]";

struct PullArgs {
  std::string ref, layout, configPath = "/etc/boxd/boxd.yaml", platform;
  bool configExplicit = false;
};

bool parseArgs(const std::vector<std::string>& args, PullArgs& out, std::string& err) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool hasValue = i + 1 < args.size();
    if (a == "--layout" && hasValue) {
      out.layout = args[++i];
    } else if (a == "--config" && hasValue) {
      out.configPath = args[++i];
      out.configExplicit = true;
    } else if (a == "--platform" && hasValue) {
      out.platform = args[++i];
    } else if (out.ref.empty() && !a.empty() && a[0] != '-') {
      out.ref = a;
    } else {
      err = "image pull: unexpected argument " + a + "\n" + kUsage;
      return false;
    }
  }
  if (out.ref.empty())
    err = kUsage;
  else if (out.layout.empty() && (out.configExplicit || !out.platform.empty()))
    err =
        "image pull: --config and --platform go with --layout (boxd pulls with its own "
        "config, for this host's platform)\n" +
        std::string(kUsage);
  return err.empty();
}

std::string shortDigest(const std::string& d) { return d.substr(7, 12); }

// SIGINT/SIGTERM cancel the pull: the transfers stop, the pull removes what it wrote, and
// boxctl exits 128+signal. A second signal gets the default action.
std::atomic<bool> gCancel{false};
volatile sig_atomic_t gSignal = 0;
static_assert(std::atomic<bool>::is_always_lock_free);

void onSignal(int sig) {
  gSignal = sig;
  gCancel.store(true);
}

class CancelOnSignals {
 public:
  CancelOnSignals() {
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &oldInt_);
    ::sigaction(SIGTERM, &sa, &oldTerm_);
  }
  ~CancelOnSignals() {
    ::sigaction(SIGINT, &oldInt_, nullptr);
    ::sigaction(SIGTERM, &oldTerm_, nullptr);
  }
  CancelOnSignals(const CancelOnSignals&) = delete;
  CancelOnSignals& operator=(const CancelOnSignals&) = delete;

 private:
  struct sigaction oldInt_ {
  }, oldTerm_{};
};

// Progress: one line per blob, redrawn in place on a terminal; start/done lines otherwise.
class Progress {
 public:
  explicit Progress(bool tty) : tty_(tty) {}

  void operator()(const images::PullEvent& e) {
    using K = images::PullEvent::Kind;
    if (e.kind == K::Resolved) {
      std::printf("resolved %s from %s\n", e.digest.c_str(), e.endpoint.c_str());
      std::fflush(stdout);
      return;
    }
    auto [it, added] = rows_.try_emplace(e.digest, Row{order_.size(), e.size, 0, "waiting"});
    if (added) order_.push_back(e.digest);
    Row& row = it->second;
    row.done = e.done;
    if (e.kind == K::BlobQueued) return;  // a "waiting" row, drawn with the next change
    row.state = e.kind == K::BlobDone      ? "done"
                : e.kind == K::BlobRetry   ? "retrying"
                : e.kind == K::BlobSkipped ? "present"
                                           : "downloading";
    if (!tty_) {
      if (e.kind != K::BlobProgress) {
        std::printf("%s: %s (%s)\n", shortDigest(e.digest).c_str(), row.state.c_str(),
                    formatBytes(e.size).c_str());
        std::fflush(stdout);
      }
      return;
    }
    int64_t now = monotonicMs();
    if (e.kind == K::BlobProgress && now - lastDraw_ < 100) return;
    lastDraw_ = now;
    redraw();
  }

 private:
  struct Row {
    size_t index;
    int64_t size, done;
    std::string state;
  };
  void redraw() {
    if (drawn_ > 0) std::printf("\033[%zuA", drawn_);
    for (const auto& d : order_) {
      const Row& r = rows_[d];
      std::printf("\r\033[K%s: %-11s %s / %s\n", shortDigest(d).c_str(), r.state.c_str(),
                  formatBytes(r.done).c_str(), formatBytes(r.size).c_str());
    }
    drawn_ = order_.size();
    std::fflush(stdout);
  }
  bool tty_;
  std::map<std::string, Row> rows_;
  std::vector<std::string> order_;
  size_t drawn_ = 0;
  int64_t lastDraw_ = 0;
};

// One line of a pull boxd streams; the exit code once the pull ended, else -1.
int pullLine(const std::string& text, const std::string& ref, PullView& view) {
  json line = json::parse(text, nullptr, false);
  if (!line.is_object()) {
    std::fprintf(stderr, "boxctl: malformed line from boxd\n");
    return 1;
  }
  const std::string type = line.value("type", "");
  if ((line.contains("ok") && !line.value("ok", false)) || type == "ERROR") {
    std::fprintf(stderr, "boxctl: %s\n", line.value("error", "image pull refused").c_str());
    return 1;
  }
  if (type == "PULL") {
    std::printf("pulling %s into boxd's image store%s\n", ref.c_str(),
                line.value("joined", false) ? " (joining the pull under way)" : "");
  } else if (type == "LAYER") {
    std::fputs(view.feed(line).c_str(), stdout);
  } else if (type == "PULLED") {
    const int layers = line.value("layers", 0), skipped = line.value("skippedLayers", 0);
    std::printf(
        "pulled %s (id %s, digest %s): %d layers (%d present, %d new), %s downloaded in "
        "%.3fs\n",
        line.value("image", "").c_str(), shortImageId(line.value("id", "")).c_str(),
        line.value("digest", "").c_str(), layers, skipped, line.value("newLayers", 0),
        formatBytes(line.value("fetchedBytes", int64_t{0})).c_str(),
        static_cast<double>(line.value("elapsedMs", int64_t{0})) / 1000.0);
    std::fflush(stdout);
    return 0;
  }
  std::fflush(stdout);
  return -1;
}

// Into boxd's store: boxd pulls (or joins the pull under way, a pod's too) and streams each
// layer's progress until the pull ends. Ctrl-C ends boxctl only: boxd goes on while a pod
// needs the image, and cancels the pull when nobody does.
int pullIntoBoxd(const PullArgs& a, const std::string& socket) {
  Fd sock(
      openWatchConnection(socket, {{"op", "image-pull"}, {"watch", "image-pull"}, {"ref", a.ref}}));
  if (!sock) return 1;
  PullView view(::isatty(1) == 1);
  const int64_t deadline = monotonicMs() + 31LL * 60 * 1000;
  std::string in;
  char buf[65536];
  for (;;) {
    const int64_t left = deadline - monotonicMs();
    if (left <= 0) {
      std::fprintf(stderr, "boxctl: boxd did not finish the pull within 31 minutes\n");
      return 1;
    }
    pollfd p{sock.get(), POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (rc < 0 && errno != EINTR) {
      std::fprintf(stderr, "boxctl: poll: %s\n", std::strerror(errno));
      return 1;
    }
    if (rc <= 0) continue;
    ssize_t n = ::read(sock.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "boxctl: boxd closed the connection before the pull ended (%s)\n",
                   n < 0 ? std::strerror(errno) : "boxd stopped or restarted");
      return 1;
    }
    in.append(buf, static_cast<size_t>(n));
    for (size_t pos; (pos = in.find('\n')) != std::string::npos;) {
      int code = pullLine(in.substr(0, pos), a.ref, view);
      in.erase(0, pos + 1);
      if (code >= 0) return code;
    }
  }
}

}  // namespace

int imagePullCommand(const std::vector<std::string>& args, const std::string& socket) {
  PullArgs a;
  std::string err;
  if (!parseArgs(args, a, err)) {
    std::fprintf(stderr, "boxctl: %s\n", err.c_str());
    return 2;
  }
  if (a.layout.empty()) return pullIntoBoxd(a, socket);
  Config cfg;
  if (a.configExplicit || std::filesystem::exists(a.configPath)) {
    Status st = loadConfigFile(a.configPath, cfg);
    if (!st.ok()) {
      std::fprintf(stderr, "boxctl: %s\n", st.error().message.c_str());
      return 2;
    }
  }
  auto ref = images::parseReference(a.ref);
  if (!ref.ok()) {
    std::fprintf(stderr, "boxctl: %s\n", ref.error().message.c_str());
    return 2;
  }
  images::PullOptions o;
  o.config = cfg.images;
  if (!cfg.images.authFile.empty()) {
    auto ring = images::loadAuthFile(cfg.images.authFile);
    if (!ring.ok()) {
      std::fprintf(stderr, "boxctl: %s\n", ring.error().message.c_str());
      return 1;
    }
    o.keyring = std::move(*ring);
  }
  if (!a.platform.empty()) {
    auto parts = split(a.platform, '/');
    if (parts.size() < 2 || parts.size() > 3) {
      std::fprintf(stderr, "boxctl: --platform must be OS/ARCH[/VARIANT]\n");
      return 2;
    }
    o.platform = {parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  }
  Progress progress(::isatty(1) == 1);
  o.progress = [&](const images::PullEvent& e) { progress(e); };
  o.cancel = &gCancel;
  Result<images::PulledImage> img = makeError("not pulled");
  {
    CancelOnSignals signals;
    img = images::pullImage(*ref, a.layout, o);
  }
  if (!img.ok()) {
    std::fprintf(stderr, "boxctl: %s\n", img.error().message.c_str());
    return gCancel.load() ? 128 + static_cast<int>(gSignal) : 1;
  }
  std::printf("pulled %s (%s, %s) into %s: %zu layers, %s\n", ref->str().c_str(),
              img->manifestDigest.c_str(), img->platform.str().c_str(), a.layout.c_str(),
              img->layers.size(), formatBytes(img->sizeBytes).c_str());
  return 0;
}

}  // namespace boxd::agent
