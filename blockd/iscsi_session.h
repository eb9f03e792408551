// iSCSI sessions of the backend: each one an event thread that owns one libiscsi context (the
// async API: iscsi_get_fd / iscsi_which_events / iscsi_service / iscsi_*_task), and a pool that
// spreads requests over the sessions.
//
//   FUSE threads ──submit──▶ Session::incoming ──(eventfd)──▶ session thread
//        │                                                     │ pending ─▶ iscsi_*_task ─▶
//        inflight └── wait (deadline + grace) ◀── Request::finish ◀─────┘ callbacks
//
// Connection loss (POLLHUP / POLLRDHUP / POLLERR, a cancelled or timed-out task): the context is
// destroyed (libiscsi auto-reconnect is always OFF: it spins forever when a portal stays down),
// in-flight commands go back to `pending`, and the thread logs in again through the portals in
// order (last good one first). Every request carries its deadline: past it, it is finished with
// -EIO wherever it is (pending, in flight, or waiting for a login). A session that has been down
// for longer than the I/O timeout fails new requests at once, like the kernel's
// replacement_timeout, while it keeps trying to log in with backoff.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "blockd/iscsi_scsi.h"
#include "blockd/protocol.h"
#include "common/fd.h"
#include "common/result.h"

struct iscsi_context;
struct scsi_task;

namespace boxd::blockd::iscsi {

struct LoginParams {
  std::vector<std::string> portals;  // "host:port", in order
  std::string iqn;
  std::string initiatorName;
  std::optional<Chap> chap;
  int64_t attemptTimeoutMs = 5000;  // one portal: TCP connect + login
  int64_t cmdTimeoutMs = 10000;     // libiscsi's per-command timeout (then reconnect)
  int64_t ioTimeoutMs = 30000;      // a request's deadline; also the fail-fast threshold
};

enum class Op {
  Read,
  Write,
  Sync,
  TestUnitReady,
  Inquiry,
  ReadCapacity16,
  ReadCapacity10,
  ModeSense6
};

// One SCSI command and its wait. Shared by the caller and the session (whichever lets go last
// frees it), so a caller that gave up never leaves libiscsi writing into freed memory.
struct Request {
  Op op = Op::Read;
  int lun = 0;
  uint64_t lba = 0;
  uint32_t blocks = 0;
  uint32_t blockSize = 512;
  int page = -1;              // INQUIRY: -1 standard data, else the VPD page code
  std::vector<uint8_t> data;  // WRITE payload; READ data; data-in of control commands
  int64_t deadlineMs = 0;     // monotonic

  // Session thread only.
  int retries = 0;
  int64_t notBeforeMs = 0;
  iovec iov{};  // READ: where libiscsi puts the data-in (into `data`)

  // Result: 0 or -errno, and the SCSI completion that produced it.
  bool finish(int result, const Completion& c = {});  // false if already finished
  bool finished();
  // Waits until finished or untilMs (monotonic); true if finished.
  bool wait(int64_t untilMs);
  int result();
  Completion completion();

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  int result_ = 0;
  Completion completion_;
};
using RequestPtr = std::shared_ptr<Request>;

class Session {
 public:
  Session(int index, const LoginParams& params, uint32_t isidRandom);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the thread, which logs in (every portal in order) at once.
  Status start();
  // stop() in two halves, so a pool logs all its sessions out in parallel.
  void requestStop(bool logout, int64_t deadlineMs);
  void join();
  // Waits for the outcome of the first login round. The error names every portal and why.
  Status waitFirstLogin(int64_t deadlineMs);
  void submit(const RequestPtr& r);
  // Logs out (when `logout` and logged in; bounded by deadlineMs), fails what is left with -EIO,
  // ends the thread. Idempotent.
  void stop(bool logout, int64_t deadlineMs);

  bool up() const { return up_.load(); }
  int load() const { return load_.load(); }
  int index() const { return index_; }

 private:
  enum class Phase { Down, Connecting, LoggingIn, Up, LoggingOut };

  void run();
  bool takeIncoming(int64_t now);  // false when asked to stop
  void beginAttempt(int64_t now);
  void failAttempt(const std::string& libiscsiError, int64_t now);
  void onLoggedIn(int64_t now);
  void dropConnection(int64_t now);
  void destroyContext();
  void submitPending(int64_t now);
  bool issue(const RequestPtr& r);
  void expire(int64_t now);
  void finish(const RequestPtr& r, int result, const Completion& c = {});
  int pollTimeoutMs(int64_t now) const;
  void pollAndService(int64_t now);
  bool runLogout(int64_t deadlineMs);
  void failEverything(const char* why);
  void publishFirstRound(const std::string& error);

  static void connectCb(iscsi_context* ctx, int status, void* data, void* self);
  static void loginCb(iscsi_context* ctx, int status, void* data, void* self);
  static void logoutCb(iscsi_context* ctx, int status, void* data, void* self);
  static void taskCb(iscsi_context* ctx, int status, void* data, void* self);
  void onTask(scsi_task* task, int status);

  const int index_;
  const LoginParams params_;
  const uint32_t isidRandom_;
  Fd wake_;  // eventfd
  std::thread thread_;

  // Shared with callers, under mu_.
  std::mutex mu_;
  std::condition_variable firstCv_;
  std::deque<RequestPtr> incoming_;
  bool stopRequested_ = false;
  bool logoutRequested_ = false;
  int64_t stopDeadlineMs_ = 0;
  bool firstRoundDone_ = false;
  std::string firstRoundError_;  // empty = logged in
  std::string lastRoundErrors_;  // for a connect() that times out mid-round
  std::atomic<bool> up_{false};
  std::atomic<int> load_{0};
  std::atomic<int64_t> downSinceMs_{0};  // 0 = up, or never logged in yet
  bool stopped_ = false;

  // Session thread only.
  iscsi_context* ctx_ = nullptr;
  Phase phase_ = Phase::Down;
  std::vector<std::string> round_;  // portals of the current round
  size_t roundPos_ = 0;
  std::vector<std::string> roundErrors_;
  std::string currentPortal_, lastGoodPortal_;
  int64_t attemptDeadlineMs_ = 0;
  int64_t nextRoundMs_ = 0;
  int64_t backoffMs_ = 0;
  bool attemptFailed_ = false;
  std::string attemptError_;
  bool broken_ = false;    // a callback saw the connection fail
  bool dropping_ = false;  // inside destroyContext: cancelled tasks are requeued quietly
  bool logoutDone_ = false;
  bool everUp_ = false;
  std::deque<RequestPtr> pending_;
  std::unordered_map<scsi_task*, RequestPtr> inflight_;
};

// The sessions of one target; requests go to the least loaded logged-in session.
class SessionPool {
 public:
  SessionPool(const LoginParams& params, int sessions);
  ~SessionPool();
  // Starts every session and waits for their first login (all must log in).
  Status start(int64_t deadlineMs);
  // Submits and waits until the request finishes, or its deadline plus a grace period passes
  // (-EIO then). Returns the request's result.
  int execute(const RequestPtr& r);
  // Submits several requests at once (the queue depth) and waits for all; the first error.
  int executeAll(const std::vector<RequestPtr>& rs);
  void stop(bool logout, int64_t deadlineMs);
  int64_t ioTimeoutMs() const { return params_.ioTimeoutMs; }

 private:
  void submit(const RequestPtr& r);
  int wait(const RequestPtr& r);

  const LoginParams params_;
  std::vector<std::unique_ptr<Session>> sessions_;
  std::atomic<bool> stopped_{false};
  std::atomic<unsigned> rr_{0};
};

}  // namespace boxd::blockd::iscsi
