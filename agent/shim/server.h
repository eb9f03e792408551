// The shim's event loop: one thread, epoll over the listening socket, the client connections and
// a signalfd (SIGCHLD, SIGTERM, SIGINT). Stop timers are deadlines folded into the epoll timeout,
// so a container's grace period never blocks requests about the others.
//
// Requests are handled in order per connection; a stop or shutdown holds its connection's later
// requests until it has replied. Subscribers get every exit event; one that stops reading (more
// than kMaxPendingOutput buffered) or goes away is dropped.
//
// Each container run's stdout+stderr pipe is in the same epoll set and copied to its log file
// (log_writer.h) as it becomes readable. When the container exits, what its pipe holds is
// drained before the exit is reported, so its last output is in the file by then; a pipe that
// something else still holds open is read for kLogLingerMs more, then closed.
//
// Stopping a container is told to subscribers as it happens ("stopping" at SIGTERM, "killing"
// when the grace period ran out), so boxd can say why a container died. A run that exits
// non-zero after the OOM kill count of its cgroup (ContainerLaunch::oomEventsFile) grew is
// reported oomKilled: the count is read before the run starts and again when it exits.
//
// SIGTERM/SIGINT to the shim: the same as {"op":"shutdown","graceSeconds":<--term-grace>}
// (default 10 s): containers get SIGTERM, then SIGKILL after the grace, then socket and pidfile
// are removed and the shim exits 0. A second SIGTERM/SIGINT kills the containers at once.
#pragma once

#include <sys/epoll.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/shim/log_writer.h"
#include "agent/shim/startup.h"
#include "common/fd.h"
#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"

namespace boxd::shim {

class Server {
 public:
  // Blocks SIGCHLD/SIGTERM/SIGINT and sets up epoll + signalfd.
  static Result<std::unique_ptr<Server>> create(Options opts, Fd listen, ino_t socketInode);
  // Serves until shut down; returns the process exit code.
  int run();

 private:
  struct Conn {
    uint64_t id = 0;
    Fd fd;
    std::string in, out;
    bool subscriber = false;
    bool pending = false;  // a stop/shutdown is in flight; later lines wait
    bool eof = false;
    bool wantOut = false;                    // EPOLLOUT wanted (unsent output)
    uint32_t events = EPOLLIN | EPOLLRDHUP;  // as registered with epoll
  };
  struct Container {
    reconcilers::ContainerStatus status;
    int64_t killAtMs = 0;  // monotonic SIGKILL deadline of a graceful stop, 0 = none
    int graceSeconds = 0;  // of the stop in progress, for the "killing" event
    std::string oomEventsFile;
    std::optional<int64_t> oomKillsAtStart;  // the cgroup's count before this run started
    std::vector<uint64_t> stopWaiters;
    uint64_t logId = 0;  // its run's output in logs_ (gone once drained)
  };
  struct LogOutput {
    LogWriter writer;
    std::string container;
    int64_t closeAtMs = 0;  // monotonic: the run has exited, the pipe is still open
  };

  Server(Options opts, Fd listen, ino_t socketInode)
      : opts_(std::move(opts)), listen_(std::move(listen)), socketInode_(socketInode) {}

  void onAccept();
  void onSignals();
  void onConnEvent(uint64_t id, uint32_t events);
  void readFrom(uint64_t id);
  void processLines(uint64_t id);
  void maybeClose(uint64_t id);
  void handle(uint64_t id, const std::string& line);
  void dispatch(uint64_t id, const nlohmann::json& req);

  nlohmann::json doStart(const nlohmann::json& req);
  nlohmann::json doState() const;
  void doStop(uint64_t id, const nlohmann::json& req);
  void doShutdown(uint64_t id, int graceSeconds);
  void doSubscribe(uint64_t id);

  void beginStop(Container& c, int graceSeconds);
  void stopAll(int graceSeconds);
  void reap();
  void onExit(Container& c, int waitStatus);
  void publish(const nlohmann::json& event);  // to every subscriber
  void fireTimers();
  int nextTimeoutMs() const;
  void maybeFinishShutdown();
  void finish();

  Status attachLog(Container& c, const reconcilers::ContainerLaunch& l, Fd pipe, bool restarted);
  void keepFailedStart(const reconcilers::ContainerLaunch& l, bool restarted,
                       const std::string& error);
  void onLogEvent(uint64_t id);
  void drainLog(uint64_t id, bool closeNow);  // at exit: what the pipe holds now, bounded
  void closeLog(uint64_t id);

  void reply(uint64_t id, const nlohmann::json& msg);
  void release(uint64_t id, const nlohmann::json& msg);  // reply to a pending request, go on
  bool flush(uint64_t id);                               // false = the connection was closed
  void updateEvents(Conn& c);  // EPOLLIN until EOF, EPOLLOUT while output waits
  void closeConn(uint64_t id);

  Options opts_;
  Fd listen_, epoll_, signals_;
  ino_t socketInode_;
  std::map<uint64_t, Conn> conns_;
  uint64_t nextId_ = 2;  // 0 = listening socket, 1 = signalfd
  std::map<std::string, Container> containers_;
  // Containers whose last start failed: that run's "output" is the error (logs --previous).
  std::set<std::string> failedStarts_;
  std::map<uint64_t, LogOutput> logs_;
  static constexpr uint64_t kFirstLogId = uint64_t{1} << 62;  // apart from the connections' ids
  uint64_t nextLogId_ = kFirstLogId;
  bool shuttingDown_ = false;
  int terminateSignals_ = 0;
  std::vector<uint64_t> shutdownWaiters_;
  bool done_ = false;
};

// One line on the shim's stderr (its log file), with a timestamp.
void shimLog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace boxd::shim
