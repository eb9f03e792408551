#include "agent/shim/server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "agent/shim/container.h"
#include "common/util.h"

namespace boxd::shim {

namespace proto = reconcilers::shimproto;
using nlohmann::json;

namespace {

constexpr uint64_t kListenId = 0;
constexpr uint64_t kSignalId = 1;
constexpr size_t kMaxPendingOutput = 4 << 20;
constexpr size_t kLogPumpBytes = 256 << 10;  // per wake-up; then the other fds get their turn
constexpr size_t kLogDrainBytes = 4 << 20;   // at exit: more than a pipe holds, yet bounded
constexpr int64_t kLogLingerMs = 2000;

Status epollAdd(int epfd, int fd, uint64_t id, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
    return sysError("epoll_ctl add", std::to_string(fd));
  return {};
}

// The OOM kill count in a cgroup's memory events file; nullopt when it cannot be read (no
// memory controller, a kernel before 4.13 on v1).
std::optional<int64_t> oomKills(const std::string& file) {
  if (file.empty()) return std::nullopt;
  auto content = readFile(file);
  if (!content.ok()) return std::nullopt;
  return keyedValue(*content, "oom_kill");
}

// Copies what the pipe holds (up to budget) and reports a new write failure once; true at EOF.
bool pumpLog(LogWriter& w, const std::string& container, size_t budget) {
  LogWriter::Pumped p = w.pump(budget);
  if (p.newError) {
    shimLog("%s: %s; dropping its output until writing works again", container.c_str(),
            p.newError->message.c_str());
  }
  return p.eof;
}

}  // namespace

void shimLog(const char* fmt, ...) {
  char when[32];
  time_t now = ::time(nullptr);
  tm local{};
  ::localtime_r(&now, &local);
  ::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &local);
  std::fprintf(stderr, "%s boxd-shim[%d]: ", when, static_cast<int>(::getpid()));
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

Result<std::unique_ptr<Server>> Server::create(Options opts, Fd listen, ino_t socketInode) {
  std::unique_ptr<Server> s(new Server(std::move(opts), std::move(listen), socketInode));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return sysError("sigprocmask", "");
  s->signals_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!s->signals_) return sysError("signalfd", "");
  s->epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!s->epoll_) return sysError("epoll_create", "");
  BOXD_TRY(epollAdd(s->epoll_.get(), s->listen_.get(), kListenId, EPOLLIN));
  BOXD_TRY(epollAdd(s->epoll_.get(), s->signals_.get(), kSignalId, EPOLLIN));
  return s;
}

int Server::run() {
  shimLog("serving pod %s (uid %s) on %s", opts_.podName.c_str(), opts_.podUid.c_str(),
          opts_.socketPath.c_str());
  epoll_event events[32];
  while (!done_) {
    int n = ::epoll_wait(epoll_.get(), events, 32, nextTimeoutMs());
    if (n < 0 && errno != EINTR) {
      shimLog("epoll_wait: %s", std::strerror(errno));
      return 1;
    }
    for (int i = 0; i < n && !done_; ++i) {
      uint64_t id = events[i].data.u64;
      if (id == kListenId)
        onAccept();
      else if (id == kSignalId)
        onSignals();
      else if (id >= kFirstLogId)
        onLogEvent(id);
      else
        onConnEvent(id, events[i].events);
    }
    fireTimers();
  }
  shimLog("shut down");
  return 0;
}

// ---- connections ----

void Server::onAccept() {
  for (;;) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // EAGAIN, or a transient error: the next event retries
    uint64_t id = nextId_++;
    Conn c;
    c.id = id;
    c.fd.reset(fd);
    if (!epollAdd(epoll_.get(), fd, id, EPOLLIN | EPOLLRDHUP).ok()) continue;  // c closes fd
    conns_.emplace(id, std::move(c));
  }
}

void Server::onConnEvent(uint64_t id, uint32_t events) {
  if (events & (EPOLLHUP | EPOLLERR)) {
    // The peer is gone both ways: nobody can read a reply. A stop it asked for still completes.
    return closeConn(id);
  }
  if (events & EPOLLOUT) {
    if (!flush(id)) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP)) readFrom(id);
}

void Server::readFrom(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    c.eof = true;  // EOF (maybe a half-close: a reply can still be written) or a reset
    updateEvents(c);
    break;
  }
  if (c.subscriber && c.eof) return closeConn(id);
  if (c.in.size() > reconcilers::kShimMaxLineBytes && c.in.find('\n') == std::string::npos) {
    c.in.clear();
    c.eof = true;
    reply(id, proto::errorReply("request line too long"));
  }
  processLines(id);
}

void Server::processLines(uint64_t id) {
  for (;;) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    Conn& c = it->second;
    auto nl = c.in.find('\n');
    if (c.pending || c.subscriber || nl == std::string::npos) break;
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    handle(id, line);
  }
  maybeClose(id);
}

void Server::maybeClose(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  const Conn& c = it->second;
  if (c.eof && !c.pending && c.out.empty()) closeConn(id);
}

void Server::reply(uint64_t id, const json& msg) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.out += proto::line(msg);
  flush(id);
}

void Server::release(uint64_t id, const json& msg) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  it->second.pending = false;
  reply(id, msg);
  processLines(id);
}

bool Server::flush(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return false;
  Conn& c = it->second;
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && c.out.size() <= kMaxPendingOutput) {
      c.wantOut = true;
      updateEvents(c);
      return true;
    }
    closeConn(id);  // gone, or not reading: dropped
    return false;
  }
  c.wantOut = false;
  updateEvents(c);
  if (c.eof && !c.pending) {
    closeConn(id);
    return false;
  }
  return true;
}

void Server::updateEvents(Conn& c) {
  uint32_t want = (c.eof ? 0u : EPOLLIN | EPOLLRDHUP) | (c.wantOut ? EPOLLOUT : 0u);
  if (want == c.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) == 0) c.events = want;
}

void Server::closeConn(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
  conns_.erase(it);  // stop waiters naming this id are skipped when the container exits
}

// ---- requests ----

void Server::handle(uint64_t id, const std::string& line) {
  if (trim(line).empty()) return;
  auto req = proto::parseObject(line);
  if (!req.ok()) return reply(id, proto::errorReply(req.error().message));
  try {
    dispatch(id, *req);
  } catch (const std::exception& e) {  // the shim must outlive any bad request
    reply(id, proto::errorReply(std::string("internal error: ") + e.what()));
  }
}

void Server::dispatch(uint64_t id, const json& req) {
  std::string op;
  if (Status st = proto::getString(req, "op", op, true); !st.ok())
    return reply(id, proto::errorReply(st.error().message));
  if (op == "start") return reply(id, doStart(req));
  if (op == "state") return reply(id, doState());
  if (op == "stop") return doStop(id, req);
  if (op == "subscribe") return doSubscribe(id);
  if (op == "shutdown") {
    int grace = 10;
    if (Status st = proto::getInt(req, "graceSeconds", grace); !st.ok())
      return reply(id, proto::errorReply(st.error().message));
    return doShutdown(id, grace);
  }
  reply(id, proto::errorReply("unknown op \"" + op + "\""));
}

json Server::doStart(const json& req) {
  auto launch = reconcilers::shimproto::launchFromJson(req);
  if (!launch.ok()) return proto::errorReply(launch.error().message);
  if (shuttingDown_) return proto::errorReply("the shim is shutting down");
  auto existing = containers_.find(launch->name);
  if (existing != containers_.end() && existing->second.status.running)
    return proto::errorReply("container \"" + launch->name + "\" is already running");
  bool restarted = existing != containers_.end() || failedStarts_.count(launch->name) > 0;
  if (existing != containers_.end())
    drainLog(existing->second.logId, true);  // the last run's file is complete
  std::optional<int64_t> oomBefore = oomKills(launch->oomEventsFile);
  auto started = startContainer(*launch, opts_.hostname);
  if (!started.ok()) {
    shimLog("start %s: %s", launch->name.c_str(), started.error().message.c_str());
    keepFailedStart(*launch, restarted, started.error().message);
    return proto::errorReply(started.error().message);
  }
  failedStarts_.erase(launch->name);
  Container c;
  c.status.name = launch->name;
  c.status.pid = started->pid;
  c.status.running = true;
  c.status.startedAtMs = started->startedAtMs;
  c.oomEventsFile = launch->oomEventsFile;
  c.oomKillsAtStart = oomBefore;
  if (Status st = attachLog(c, *launch, std::move(started->output), restarted); !st.ok()) {
    ::kill(started->pid, SIGKILL);  // our child, in no table yet: reap() collects it
    shimLog("start %s: %s", launch->name.c_str(), st.error().message.c_str());
    return proto::errorReply(st.error().message);
  }
  containers_[launch->name] = std::move(c);
  shimLog("started %s as pid %d", launch->name.c_str(), static_cast<int>(started->pid));
  return {{"ok", true}, {"pid", started->pid}, {"startedAtMs", started->startedAtMs}};
}

json Server::doState() const {
  json list = json::array();
  for (const auto& [name, c] : containers_) list.push_back(proto::statusToJson(c.status));
  return {{"ok", true}, {"containers", std::move(list)}};
}

void Server::doStop(uint64_t id, const json& req) {
  std::string name;
  int grace = 10;
  Status st = proto::getString(req, "name", name, true);
  if (st.ok()) st = proto::getInt(req, "graceSeconds", grace);
  if (!st.ok()) return reply(id, proto::errorReply(st.error().message));
  auto it = containers_.find(name);
  if (it == containers_.end()) return reply(id, proto::errorReply("no container \"" + name + "\""));
  if (!it->second.status.running) return reply(id, proto::okReply());
  conns_[id].pending = true;
  it->second.stopWaiters.push_back(id);
  beginStop(it->second, grace);
}

void Server::doShutdown(uint64_t id, int graceSeconds) {
  conns_[id].pending = true;
  shutdownWaiters_.push_back(id);
  if (!shuttingDown_) shimLog("shutdown requested, grace %d s", graceSeconds);
  shuttingDown_ = true;
  stopAll(graceSeconds);
  maybeFinishShutdown();
}

void Server::doSubscribe(uint64_t id) {
  conns_[id].subscriber = true;
  reply(id, proto::okReply());
}

// ---- container output ----

// A start that failed is a run whose output is its error, as kubelet shows a failed exec: the
// run before it becomes the previous one, and `boxctl logs` (then --previous) reads the error.
void Server::keepFailedStart(const reconcilers::ContainerLaunch& l, bool restarted,
                             const std::string& error) {
  failedStarts_.insert(l.name);
  if (restarted) {
    if (Status st = keepPreviousRun(l.logPath, l.logMaxFiles); !st.ok())
      shimLog("%s: %s", l.name.c_str(), st.error().message.c_str());
  }
  Status st =
      writeFileAtomic(l.logPath, "boxd: the container did not start: " + error + "\n", 0640);
  if (!st.ok()) shimLog("%s: %s", l.name.c_str(), st.error().message.c_str());
}

Status Server::attachLog(Container& c, const reconcilers::ContainerLaunch& l, Fd pipe,
                         bool restarted) {
  if (!pipe) return {};
  if (restarted) {
    if (Status st = keepPreviousRun(l.logPath, l.logMaxFiles); !st.ok())
      shimLog("%s: %s; the new run goes on in the old log", l.name.c_str(),
              st.error().message.c_str());
  }
  auto writer = LogWriter::open(l.logPath, {l.logMaxBytes, l.logMaxFiles}, std::move(pipe));
  if (!writer.ok()) return writer.error();
  uint64_t id = nextLogId_++;
  BOXD_TRY(epollAdd(epoll_.get(), writer->pipeFd(), id, EPOLLIN));
  logs_.emplace(id, LogOutput{std::move(*writer), l.name, 0});
  c.logId = id;
  return {};
}

void Server::onLogEvent(uint64_t id) {
  auto it = logs_.find(id);
  if (it == logs_.end()) return;
  if (pumpLog(it->second.writer, it->second.container, kLogPumpBytes)) closeLog(id);
}

void Server::drainLog(uint64_t id, bool closeNow) {
  auto it = logs_.find(id);
  if (it == logs_.end()) return;
  bool eof = pumpLog(it->second.writer, it->second.container, kLogDrainBytes);
  if (eof || closeNow) return closeLog(id);
  if (it->second.closeAtMs == 0) it->second.closeAtMs = monotonicMs() + kLogLingerMs;
}

void Server::closeLog(uint64_t id) {
  auto it = logs_.find(id);
  if (it == logs_.end()) return;
  const LogWriter& w = it->second.writer;
  if (!w.eof()) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.pipeFd(), nullptr);
  if (w.droppedBytes() > 0) {
    shimLog("%s: %llu bytes of output could not be written to %s", it->second.container.c_str(),
            static_cast<unsigned long long>(w.droppedBytes()), w.path().c_str());
  }
  logs_.erase(it);
}

// ---- containers ----

void Server::beginStop(Container& c, int graceSeconds) {
  if (!c.status.running) return;
  pid_t pid = c.status.pid;  // our unreaped child: the pid cannot have been recycled
  if (graceSeconds <= 0) {
    shimLog("killing %s (no grace period)", c.status.name.c_str());
    publish(proto::stopEventToJson({"killing", c.status.name, 0}));
    ::kill(pid, SIGKILL);
    c.killAtMs = 0;
    return;
  }
  int64_t deadline = monotonicMs() + int64_t{graceSeconds} * 1000;
  if (c.killAtMs == 0) {
    shimLog("stopping %s: SIGTERM, grace period %d s", c.status.name.c_str(), graceSeconds);
    publish(proto::stopEventToJson({"stopping", c.status.name, graceSeconds}));
  }
  ::kill(pid, SIGTERM);
  if (c.killAtMs == 0 || deadline < c.killAtMs) c.graceSeconds = graceSeconds;
  c.killAtMs = c.killAtMs == 0 ? deadline : std::min(c.killAtMs, deadline);
}

void Server::stopAll(int graceSeconds) {
  for (auto& [name, c] : containers_) beginStop(c, graceSeconds);
}

void Server::onSignals() {
  signalfd_siginfo info{};
  while (::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGCHLD) continue;  // reaped below, whatever the count
    ++terminateSignals_;
    shimLog("got signal %u", info.ssi_signo);
    shuttingDown_ = true;
    stopAll(terminateSignals_ == 1 ? opts_.termGraceSeconds : 0);
  }
  reap();
  maybeFinishShutdown();
}

void Server::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (auto& [name, c] : containers_) {
      if (c.status.running && c.status.pid == pid) {
        onExit(c, status);
        break;
      }
    }
  }
}

void Server::onExit(Container& c, int waitStatus) {
  drainLog(c.logId, false);  // before anyone hears of the exit
  c.status.running = false;
  c.killAtMs = 0;
  c.status.finishedAtMs = nowMs();
  if (WIFSIGNALED(waitStatus)) {
    c.status.signal = WTERMSIG(waitStatus);
    c.status.exitCode = 128 + c.status.signal;
  } else {
    c.status.signal = 0;
    c.status.exitCode = WEXITSTATUS(waitStatus);
  }
  // The OOM killer may have killed the main process or one of its children (a shell then
  // exits 137): either way the run failed for want of memory, as kubelet reports it.
  std::optional<int64_t> oomAfter =
      c.status.exitCode != 0 ? oomKills(c.oomEventsFile) : std::nullopt;
  c.status.oomKilled = oomAfter && c.oomKillsAtStart && *oomAfter > *c.oomKillsAtStart;
  shimLog("%s (pid %d) exited: code %d signal %d%s", c.status.name.c_str(), c.status.pid,
          c.status.exitCode, c.status.signal, c.status.oomKilled ? " (OOM killed)" : "");
  reconcilers::ExitEvent ev{c.status.name, c.status.exitCode, c.status.signal, c.status.oomKilled,
                            c.status.finishedAtMs};
  publish(proto::exitEventToJson(ev));
  std::vector<uint64_t> waiters = std::move(c.stopWaiters);
  c.stopWaiters.clear();
  for (uint64_t id : waiters) release(id, proto::okReply());
}

void Server::publish(const json& event) {
  std::vector<uint64_t> subscribers;
  for (const auto& [id, conn] : conns_) {
    if (conn.subscriber) subscribers.push_back(id);
  }
  for (uint64_t id : subscribers) reply(id, event);
}

void Server::fireTimers() {
  int64_t now = monotonicMs();
  for (auto it = logs_.begin(); it != logs_.end();) {
    auto next = std::next(it);
    if (it->second.closeAtMs != 0 && now >= it->second.closeAtMs) {
      shimLog("%s: its output pipe is still open %lld ms after it exited, closing it",
              it->second.container.c_str(), static_cast<long long>(kLogLingerMs));
      drainLog(it->first, true);
    }
    it = next;
  }
  for (auto& [name, c] : containers_) {
    if (c.status.running && c.killAtMs != 0 && now >= c.killAtMs) {
      shimLog("%s did not stop within its grace period of %d s, killing it with SIGKILL",
              name.c_str(), c.graceSeconds);
      publish(proto::stopEventToJson({"killing", name, c.graceSeconds}));
      ::kill(c.status.pid, SIGKILL);
      c.killAtMs = 0;
    }
  }
}

int Server::nextTimeoutMs() const {
  int64_t next = -1;
  for (const auto& [name, c] : containers_) {
    if (c.status.running && c.killAtMs != 0)
      next = next < 0 ? c.killAtMs : std::min(next, c.killAtMs);
  }
  for (const auto& [id, log] : logs_) {
    if (log.closeAtMs != 0) next = next < 0 ? log.closeAtMs : std::min(next, log.closeAtMs);
  }
  if (next < 0) return -1;
  return static_cast<int>(std::clamp<int64_t>(next - monotonicMs(), 0, 60000));
}

void Server::maybeFinishShutdown() {
  if (!shuttingDown_) return;
  for (const auto& [name, c] : containers_) {
    if (c.status.running) return;
  }
  finish();
}

// Every container has exited: remove the runtime files first (a caller that got the reply may
// check them at once), then answer, then leave the loop.
void Server::finish() {
  while (!logs_.empty()) drainLog(logs_.begin()->first, true);
  removeRuntimeFiles(opts_, socketInode_);
  for (uint64_t id : shutdownWaiters_) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    int fd = it->second.fd.get();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    it->second.out += proto::line(proto::okReply());
    ssize_t n = ::send(fd, it->second.out.data(), it->second.out.size(), MSG_NOSIGNAL);
    (void)n;
  }
  done_ = true;
}

}  // namespace boxd::shim
