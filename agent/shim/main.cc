// boxd-shim: one per pod. Holds the pod's net/ipc/uts namespaces, starts its containers, reaps
// them, keeps their exit status and outlives boxd. See startup.h for the start-up sequence,
// server.h for the event loop and reconcilers/sandbox/shim_protocol.h for the protocol.
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/shim/server.h"
#include "agent/shim/startup.h"
#include "common/util.h"

namespace {

// The long-lived half: stderr to the log, subreaper, loop set up, pidfile, then "ready".
int runShim(boxd::shim::Options opts, boxd::shim::Sandbox sb, boxd::Fd ready) {
  using namespace boxd;
  ::dup2(sb.log.get(), STDOUT_FILENO);
  ::dup2(sb.log.get(), STDERR_FILENO);
  sb.log.reset();
  std::string failure;
  std::unique_ptr<shim::Server> server;
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    failure = "prctl CHILD_SUBREAPER: " + std::string(strerror(errno));
  if (failure.empty()) {
    auto created = shim::Server::create(opts, std::move(sb.listen), sb.socketInode);
    if (created.ok())
      server = std::move(*created);
    else
      failure = created.error().message;
  }
  if (failure.empty()) {
    Status st = writeFileAtomic(opts.pidFile, std::to_string(::getpid()) + "\n", 0644,
                                Durability::ProcessLifetime);  // a pid means nothing after a reboot
    if (!st.ok()) failure = st.error().message;
  }
  Status told = shim::reportReady(ready, failure);
  if (!failure.empty() || !told.ok()) {
    shim::shimLog("start-up failed: %s",
                  failure.empty() ? told.error().message.c_str() : failure.c_str());
    shim::removeRuntimeFiles(opts, sb.socketInode);
    return 1;
  }
  return server->run();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace boxd;
  ::close_range(3, ~0U, 0);  // nothing of the launcher's leaks into the pod
  ::umask(022);
  auto opts = shim::parseOptions(argc, argv);
  if (!opts.ok()) {
    std::fprintf(stderr, "boxd-shim: %s\n", opts.error().message.c_str());
    return 2;
  }
  auto sandbox = shim::prepareSandbox(*opts);
  if (!sandbox.ok()) {
    std::fprintf(stderr, "%s\n", sandbox.error().message.c_str());
    return 1;
  }
  Fd ready;
  int rc = shim::detach(&ready);
  if (rc >= 0) return rc;  // the intermediate: the child's verdict
  return runShim(std::move(*opts), std::move(*sandbox), std::move(ready));
}
