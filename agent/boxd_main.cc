// boxd: the node agent daemon.
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "common/util.h"
#include "reconcilers/cgroup/kernel_cgroups.h"
#include "reconcilers/host/real_mounter.h"
#include "state/reserve_store.h"

using namespace boxd;

namespace {

std::string selfDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "boxd: %s\n", msg.c_str());
  return 1;
}

}  // namespace

// Memory boxd frees goes back to the system. boxd runs each blocking operation on a thread of its
// own, and glibc gives threads malloc arenas of their own (up to 8 per core) that keep what was
// freed in them: pod churn left a dozen arenas of about 3.5 MB each, nearly all free (RSS 37 ->
// 56 MB after 860 pods, 2 MB in use). Two arenas bound that. And glibc raises its mmap and trim
// thresholds after a large block is freed (up to 32 and 64 MB), after which big buffers, such as
// a spec file's text, stay in the heap: fixed thresholds keep them mmapped and returned. An
// operator's MALLOC_* environment still wins.
void tuneMalloc() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) ::mallopt(M_ARENA_MAX, 2);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) ::mallopt(M_MMAP_THRESHOLD, 256 << 10);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) ::mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

int main(int argc, char** argv) {
  tuneMalloc();
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--version") {
      std::printf("boxd %s\n", BOXD_VERSION);
      return 0;
    }
  }
  agent::Config cfg;
  auto cli = agent::parseBoxdArgs(argc, argv, cfg);
  if (cli.exit) {
    std::fprintf(cli.code == 0 ? stdout : stderr, "%s\n", cli.message.c_str());
    return cli.code;
  }
  spdlog::set_level(spdlog::level::from_str(cfg.logLevel));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (cfg.paths.shimBinary.empty()) {
    // Next to boxd in a build tree; <prefix>/lib/boxd/boxd-shim when installed.
    cfg.paths.shimBinary = selfDir() + "/boxd-shim";
    if (::access(cfg.paths.shimBinary.c_str(), X_OK) != 0)
      cfg.paths.shimBinary = selfDir() + "/../lib/boxd/boxd-shim";
  }
  if (::access(cfg.paths.shimBinary.c_str(), X_OK) != 0)
    return fail("shim binary " + cfg.paths.shimBinary + " not found");
  // boxd-blockd (block volumes on hosts without a kernel initiator or krbd) sits next to boxd.
  if (cfg.block.helperBinary.empty()) cfg.block.helperBinary = selfDir() + "/boxd-blockd";
  ::signal(SIGPIPE, SIG_IGN);

  for (const auto& dir : {cfg.paths.stateDir, cfg.paths.runDir}) {
    Status st = mkdirAll(dir, 0700);
    if (!st.ok()) return fail(st.error().message);
  }
  auto opened = state::Store::open(cfg.paths.stateDir + "/boxd.db");
  if (!opened.ok()) return fail(opened.error().message);
  // Room for a teardown's journal on a full state disk (state/reserve_store.h).
  state::SpaceReserve reserve(cfg.paths.stateDir + "/reserve", cfg.stateReserveBytes);
  if (Status held = reserve.ensure(); !held.ok())
    spdlog::warn("state dir reserve not held (taken later when there is room): {}",
                 held.error().message);
  std::unique_ptr<state::Store> store = std::make_unique<state::ReserveStore>(
      std::move(*opened), std::move(reserve),
      [](const std::string& note) { spdlog::warn("{}", note); });
  auto cgroups = reconcilers::detectCgroups();
  if (!cgroups.ok()) return fail(cgroups.error().message);

  uv_loop_t* loop = uv_default_loop();
  agent::Agent agent(loop, cfg, std::move(store), std::make_unique<reconcilers::RealMounter>(),
                     std::move(*cgroups));
  agent::ApiServer api(
      loop,
      [&agent](const nlohmann::json& req, std::function<void(nlohmann::json)> reply) {
        agent.handleRequest(req, std::move(reply));
      },
      {cfg.apiMaxConnections, cfg.apiIdleTimeoutMs, 0,
       static_cast<size_t>(cfg.apiWatchQueueBytes)});
  api.setStreamHandler([&agent](const nlohmann::json& req, std::shared_ptr<agent::ApiStream> s) {
    return agent.handleWatch(req, std::move(s));
  });
  Status st = agent.start();
  if (!st.ok()) return fail(st.error().message);
  st = api.listen(cfg.socketPath());
  if (!st.ok()) return fail(st.error().message);
  spdlog::info("boxd {} started: specs {}, state {}, run {}", BOXD_VERSION, cfg.specsDir,
               cfg.paths.stateDir, cfg.paths.runDir);

  // SIGTERM/SIGINT stop boxd only: pods and their shims keep running and are re-adopted later.
  uv_signal_t sigterm, sigint;
  auto stop = [](uv_signal_t* h, int signum) {
    spdlog::info("signal {}: stopping boxd; pods keep running", signum);
    uv_stop(h->loop);
  };
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, stop, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, stop, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  api.close();
  spdlog::default_logger()->flush();
  // Blocking operations may still be in flight on their threads; the journal makes stopping
  // here safe, so leave without running destructors under them.
  std::_Exit(0);
}
