#include "agent/boxctl_pull.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>

#include "agent/boxctl_commands.h"
#include "agent/boxctl_format.h"
#include "agent/config.h"
#include "common/util.h"
#include "images/registry/pull.h"

namespace boxd::agent {

namespace {

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

// Into boxd's store: boxd pulls (joining a pull its pods wait for) and answers once.
int pullIntoBoxd(const PullArgs& a, const std::string& socket) {
  std::printf("pulling %s into boxd's image store\n", a.ref.c_str());
  std::fflush(stdout);
  auto r = boxdCall(socket, {{"op", "image-pull"}, {"ref", a.ref}}, 31 * 60 * 1000);
  if (!r.ok()) {
    std::fprintf(stderr, "boxctl: %s\n", r.error().message.c_str());
    return 1;
  }
  const nlohmann::json& j = *r;
  const int layers = j.value("layers", 0), skipped = j.value("skippedLayers", 0);
  std::printf(
      "pulled %s (id %s, digest %s): %d layers (%d present, %d new), %s downloaded in "
      "%.3fs\n",
      j.value("image", "").c_str(), shortImageId(j.value("id", "")).c_str(),
      j.value("digest", "").c_str(), layers, skipped, j.value("newLayers", 0),
      formatBytes(j.value("fetchedBytes", int64_t{0})).c_str(),
      static_cast<double>(j.value("elapsedMs", int64_t{0})) / 1000.0);
  return 0;
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
