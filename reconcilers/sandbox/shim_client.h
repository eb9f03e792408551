// Talking to a pod's boxd-shim: blocking calls for worker threads, one connection per call,
// every call bounded by a deadline (stop/shutdown: the grace period plus the client timeout).
#pragma once

#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::reconcilers {

// An open {"op":"subscribe"} connection. fd() may be watched by an event loop instead of next().
class ShimSubscription {
 public:
  explicit ShimSubscription(Fd fd, std::string buffered = {})
      : fd_(std::move(fd)), buffer_(std::move(buffered)) {}
  // The next exit event; an error on timeout (ETIMEDOUT) or when the shim closes the connection.
  Result<ExitEvent> next(int timeoutMs);
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  std::string buffer_;
};

class ShimClient {
 public:
  explicit ShimClient(std::string socketPath, int timeoutMs = 5000);

  // Returns once the container's execve succeeded: name, pid, running, startedAtMs.
  Result<ContainerStatus> start(const ContainerLaunch& launch);
  Result<std::vector<ContainerStatus>> state();
  // SIGTERM, SIGKILL after graceSeconds; returns once the container has exited.
  Status stop(const std::string& name, int graceSeconds);
  // Stops every container like stop(); the shim then removes its socket + pidfile and exits.
  Status shutdown(int graceSeconds);
  Result<ShimSubscription> subscribe();

 private:
  Result<Fd> connect(int64_t deadline) const;
  Result<nlohmann::json> call(const nlohmann::json& request, int timeoutMs) const;

  std::string socketPath_;
  int timeoutMs_;
};

}  // namespace boxd::reconcilers
