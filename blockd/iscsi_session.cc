#include "blockd/iscsi_session.h"

// clang-format off
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
// clang-format on
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/util.h"

namespace boxd::blockd::iscsi {
namespace {

constexpr size_t kMaxInflight = 64;   // per session; libiscsi also honours the CmdSN window
constexpr int kMaxRetries = 20;       // UNIT ATTENTION / BUSY resends of one command
constexpr int64_t kBusyDelayMs = 20;  // before resending after BUSY / TASK SET FULL
constexpr int64_t kBackoffStartMs = 100;
constexpr int64_t kBackoffMaxMs = 2000;  // between login rounds while the target is away
constexpr int64_t kGraceMs = 2000;       // a caller's backstop past the request deadline

std::chrono::steady_clock::time_point toTimePoint(int64_t monoMs) {
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(monoMs));
}

std::string joinErrors(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += "; ";
    out += p;
  }
  return out;
}

int errnoForLoginError(const std::string& e) {
  if (e.find("Authentication") != std::string::npos || e.find("CHAP") != std::string::npos) {
    return EACCES;
  }
  if (e.find("Target not found") != std::string::npos) return ENOENT;
  if (e.find("connection refused") != std::string::npos) return ECONNREFUSED;
  return EIO;
}

}  // namespace

// ── Request ─────────────────────────────────────────────────────────────────────────────────

bool Request::finish(int result, const Completion& c) {
  {
    std::lock_guard l(m_);
    if (done_) return false;
    done_ = true;
    result_ = result;
    completion_ = c;
  }
  cv_.notify_all();
  return true;
}

bool Request::finished() {
  std::lock_guard l(m_);
  return done_;
}

bool Request::wait(int64_t untilMs) {
  std::unique_lock l(m_);
  return cv_.wait_until(l, toTimePoint(untilMs), [&] { return done_; });
}

int Request::result() {
  std::lock_guard l(m_);
  return done_ ? result_ : -EIO;
}

Completion Request::completion() {
  std::lock_guard l(m_);
  return completion_;
}

// ── Session: lifecycle ──────────────────────────────────────────────────────────────────────

Session::Session(int index, const LoginParams& params, uint32_t isidRandom)
    : index_(index),
      params_(params),
      isidRandom_(isidRandom),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Session::~Session() { stop(false, monotonicMs() + 1000); }

Status Session::start() {
  if (!wake_) return sysError("eventfd for iSCSI session", std::to_string(index_));
  thread_ = std::thread(&Session::run, this);
  return okStatus();
}

Status Session::waitFirstLogin(int64_t deadlineMs) {
  std::unique_lock l(mu_);
  if (!firstCv_.wait_until(l, toTimePoint(deadlineMs), [&] { return firstRoundDone_; })) {
    std::string e = "no login within the connect timeout";
    if (!lastRoundErrors_.empty()) e += " (" + lastRoundErrors_ + ")";
    return makeError(e, ETIMEDOUT);
  }
  if (!firstRoundError_.empty()) {
    return makeError(firstRoundError_, errnoForLoginError(firstRoundError_));
  }
  return okStatus();
}

void Session::submit(const RequestPtr& r) {
  {
    std::lock_guard l(mu_);
    if (stopRequested_) {
      r->finish(-EIO);
      return;
    }
    ++load_;
    incoming_.push_back(r);
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void Session::requestStop(bool logout, int64_t deadlineMs) {
  {
    std::lock_guard l(mu_);
    if (stopRequested_) return;
    stopRequested_ = true;
    logoutRequested_ = logout;
    stopDeadlineMs_ = deadlineMs;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void Session::join() {
  if (thread_.joinable()) thread_.join();
}

void Session::stop(bool logout, int64_t deadlineMs) {
  requestStop(logout, deadlineMs);
  join();
}

void Session::publishFirstRound(const std::string& error) {
  {
    std::lock_guard l(mu_);
    if (firstRoundDone_) return;
    firstRoundDone_ = true;
    firstRoundError_ = error;
  }
  firstCv_.notify_all();
}

// ── Session: the event loop ─────────────────────────────────────────────────────────────────

void Session::run() {
  backoffMs_ = kBackoffStartMs;
  for (;;) {
    int64_t now = monotonicMs();
    if (!takeIncoming(now)) break;
    expire(now);
    if (phase_ == Phase::Down && now >= nextRoundMs_) beginAttempt(now);
    if ((phase_ == Phase::Connecting || phase_ == Phase::LoggingIn) && now >= attemptDeadlineMs_) {
      failAttempt("timed out", now);
    }
    if (phase_ == Phase::Up) submitPending(now);
    pollAndService(now);
    now = monotonicMs();
    if (attemptFailed_) {
      failAttempt(attemptError_, now);
    } else if (broken_) {
      dropConnection(now);
    }
  }
  bool logout;
  int64_t deadline;
  {
    std::lock_guard l(mu_);
    logout = logoutRequested_;
    deadline = stopDeadlineMs_;
  }
  if (logout && phase_ == Phase::Up) runLogout(deadline);
  destroyContext();
  failEverything("session closed");
}

bool Session::takeIncoming(int64_t now) {
  std::deque<RequestPtr> in;
  bool stop;
  {
    std::lock_guard l(mu_);
    in.swap(incoming_);
    stop = stopRequested_;
  }
  uint64_t n;
  (void)!::read(wake_.get(), &n, sizeof n);
  // Down for longer than the I/O timeout: fail new requests at once (replacement_timeout).
  int64_t downSince = downSinceMs_.load();
  bool failFast =
      phase_ != Phase::Up && everUp_ && downSince != 0 && now - downSince > params_.ioTimeoutMs;
  for (auto& r : in) {
    if (failFast) {
      finish(r, -EIO, Completion{SCSI_STATUS_TIMEOUT});
    } else {
      pending_.push_back(std::move(r));
    }
  }
  return !stop;
}

void Session::expire(int64_t now) {
  const Completion timedOut{SCSI_STATUS_TIMEOUT};
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= (*it)->deadlineMs) {
      finish(*it, -EIO, timedOut);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  // In flight past the deadline: the caller gets -EIO now; the entry stays until libiscsi
  // completes or cancels the task (the request owns the buffer libiscsi may still touch).
  for (auto& [task, r] : inflight_) {
    if (now >= r->deadlineMs) finish(r, -EIO, timedOut);
  }
}

void Session::finish(const RequestPtr& r, int result, const Completion& c) {
  if (r->finish(result, c)) --load_;
}

int Session::pollTimeoutMs(int64_t now) const {
  int64_t t = (pending_.empty() && inflight_.empty()) ? 250 : 50;
  if (phase_ == Phase::Down) t = std::min(t, std::max<int64_t>(0, nextRoundMs_ - now));
  if (phase_ == Phase::Connecting || phase_ == Phase::LoggingIn) {
    t = std::min(t, std::max<int64_t>(0, attemptDeadlineMs_ - now));
  }
  return static_cast<int>(t);
}

void Session::pollAndService(int64_t now) {
  pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {-1, 0, 0}};
  nfds_t n = 1;
  if (ctx_ != nullptr && iscsi_get_fd(ctx_) >= 0) {
    fds[1] = {iscsi_get_fd(ctx_), static_cast<short>(iscsi_which_events(ctx_) | POLLRDHUP), 0};
    n = 2;
  }
  (void)::poll(fds, n, pollTimeoutMs(now));
  if (ctx_ == nullptr) return;
  const short rev = n == 2 ? fds[1].revents : 0;
  const short hangup = POLLHUP | POLLERR | POLLRDHUP;
  // Also called with 0: libiscsi runs its command timeouts from iscsi_service.
  if (iscsi_service(ctx_, rev) < 0) {
    if (phase_ == Phase::Connecting || phase_ == Phase::LoggingIn) {
      if (!attemptFailed_) {
        attemptFailed_ = true;
        attemptError_ = iscsi_get_error(ctx_);
      }
    } else {
      broken_ = true;
    }
  }
  if ((rev & hangup) == 0) return;
  switch (phase_) {
    case Phase::Up:
      broken_ = true;
      break;
    case Phase::LoggingOut:
      logoutDone_ = true;  // the target closes the connection after the logout response
      break;
    case Phase::Connecting:
    case Phase::LoggingIn:
      if (!attemptFailed_) {
        attemptFailed_ = true;
        attemptError_ = "connection closed by the target";
      }
      break;
    case Phase::Down:
      break;
  }
}

// ── Session: login, connection loss, logout ─────────────────────────────────────────────────

void Session::beginAttempt(int64_t now) {
  if (roundPos_ == 0) {
    // Every portal in order, the last one that worked first.
    round_.clear();
    if (!lastGoodPortal_.empty()) round_.push_back(lastGoodPortal_);
    for (const auto& p : params_.portals) {
      if (p != lastGoodPortal_) round_.push_back(p);
    }
    roundErrors_.clear();
  }
  currentPortal_ = round_[roundPos_];
  attemptFailed_ = false;
  attemptError_.clear();
  broken_ = false;
  ctx_ = iscsi_create_context(params_.initiatorName.c_str());
  if (ctx_ == nullptr) {
    failAttempt("could not create a libiscsi context", now);
    return;
  }
  // Never libiscsi's own reconnect: with a portal down it spins forever (notes: a 10-minute
  // D state). This loop reconnects, with deadlines.
  iscsi_set_noautoreconnect(ctx_, 1);
  iscsi_set_isid_random(ctx_, isidRandom_, static_cast<uint32_t>(index_));
  iscsi_set_targetname(ctx_, params_.iqn.c_str());
  iscsi_set_session_type(ctx_, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(ctx_, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout(ctx_, static_cast<int>(std::max<int64_t>(1, params_.attemptTimeoutMs / 1000)));
  iscsi_set_tcp_user_timeout(ctx_, static_cast<int>(params_.cmdTimeoutMs));
  if (params_.chap) {
    iscsi_set_initiator_username_pwd(ctx_, params_.chap->username.c_str(),
                                     params_.chap->password.c_str());
    if (!params_.chap->usernameIn.empty()) {
      iscsi_set_target_username_pwd(ctx_, params_.chap->usernameIn.c_str(),
                                    params_.chap->passwordIn.c_str());
    }
  }
  phase_ = Phase::Connecting;
  attemptDeadlineMs_ = now + params_.attemptTimeoutMs;
  if (iscsi_connect_async(ctx_, currentPortal_.c_str(), &Session::connectCb, this) != 0) {
    failAttempt(iscsi_get_error(ctx_), now);
  }
}

void Session::connectCb(iscsi_context* ctx, int status, void*, void* self) {
  auto* s = static_cast<Session*>(self);
  if (status != SCSI_STATUS_GOOD) {
    s->attemptFailed_ = true;
    s->attemptError_ = iscsi_get_error(ctx);
    return;
  }
  s->phase_ = Phase::LoggingIn;
  if (iscsi_login_async(ctx, &Session::loginCb, s) != 0) {
    s->attemptFailed_ = true;
    s->attemptError_ = iscsi_get_error(ctx);
  }
}

void Session::loginCb(iscsi_context* ctx, int status, void*, void* self) {
  auto* s = static_cast<Session*>(self);
  if (status != SCSI_STATUS_GOOD) {
    s->attemptFailed_ = true;
    s->attemptError_ = iscsi_get_error(ctx);
    return;
  }
  s->onLoggedIn(monotonicMs());
}

void Session::onLoggedIn(int64_t) {
  phase_ = Phase::Up;
  iscsi_set_timeout(ctx_, static_cast<int>(std::max<int64_t>(1, params_.cmdTimeoutMs / 1000)));
  lastGoodPortal_ = currentPortal_;
  roundPos_ = 0;
  backoffMs_ = kBackoffStartMs;
  everUp_ = true;
  downSinceMs_ = 0;
  up_ = true;
  publishFirstRound("");
}

void Session::failAttempt(const std::string& libiscsiError, int64_t now) {
  destroyContext();
  phase_ = Phase::Down;
  attemptFailed_ = false;
  roundErrors_.push_back(currentPortal_ + ": " + connectReason(libiscsiError));
  {
    std::lock_guard l(mu_);
    lastRoundErrors_ = joinErrors(roundErrors_);
  }
  if (++roundPos_ < round_.size()) {
    nextRoundMs_ = now;  // the next portal at once
    return;
  }
  publishFirstRound(joinErrors(roundErrors_));
  roundPos_ = 0;
  nextRoundMs_ = now + backoffMs_;
  backoffMs_ = std::min(backoffMs_ * 2, kBackoffMaxMs);
}

void Session::dropConnection(int64_t now) {
  destroyContext();
  phase_ = Phase::Down;
  up_ = false;
  int64_t expected = 0;
  downSinceMs_.compare_exchange_strong(expected, now);
  broken_ = false;
  roundPos_ = 0;
  nextRoundMs_ = now;  // re-login at once; rounds that fail back off
}

void Session::destroyContext() {
  if (ctx_ == nullptr) return;
  dropping_ = true;
  // Cancels every queued and in-flight task through taskCb (requeued to `pending`).
  iscsi_destroy_context(ctx_);
  ctx_ = nullptr;
  dropping_ = false;
  // Tasks libiscsi dropped without a callback (not logged in yet): ours to free and resend.
  for (auto& [task, r] : inflight_) {
    scsi_free_scsi_task(task);
    if (!r->finished()) pending_.push_front(r);
  }
  inflight_.clear();
}

bool Session::runLogout(int64_t deadlineMs) {
  phase_ = Phase::LoggingOut;
  logoutDone_ = false;
  if (iscsi_logout_async(ctx_, &Session::logoutCb, this) != 0) return false;
  for (int64_t now = monotonicMs(); !logoutDone_ && now < deadlineMs; now = monotonicMs()) {
    pollAndService(now);
  }
  return logoutDone_;
}

void Session::logoutCb(iscsi_context*, int, void*, void* self) {
  static_cast<Session*>(self)->logoutDone_ = true;
}

void Session::failEverything(const char*) {
  up_ = false;
  for (auto& r : pending_) finish(r, -EIO);
  pending_.clear();
  std::deque<RequestPtr> in;
  {
    std::lock_guard l(mu_);
    in.swap(incoming_);
  }
  for (auto& r : in) finish(r, -EIO);
  publishFirstRound("session closed before login");
}

// ── Session: commands ───────────────────────────────────────────────────────────────────────

void Session::submitPending(int64_t now) {
  size_t n = pending_.size();
  for (size_t i = 0; i < n && inflight_.size() < kMaxInflight; ++i) {
    RequestPtr r = std::move(pending_.front());
    pending_.pop_front();
    if (r->finished()) continue;
    if (r->notBeforeMs > now) {
      pending_.push_back(std::move(r));
      continue;
    }
    if (!issue(r)) {
      // libiscsi refused to queue: treat the connection as unusable and log in again.
      pending_.push_front(std::move(r));
      broken_ = true;
      return;
    }
  }
}

bool Session::issue(const RequestPtr& r) {
  scsi_task* t = nullptr;
  auto len = static_cast<uint32_t>(r->data.size());
  switch (r->op) {
    case Op::Read:
      r->iov = {r->data.data(), r->data.size()};
      t = iscsi_read16_iov_task(ctx_, r->lun, r->lba, len, static_cast<int>(r->blockSize), 0, 0, 0,
                                0, 0, &Session::taskCb, this,
                                reinterpret_cast<scsi_iovec*>(&r->iov), 1);
      break;
    case Op::Write:
      t = iscsi_write16_task(ctx_, r->lun, r->lba, r->data.data(), len,
                             static_cast<int>(r->blockSize), 0, 0, 0, 0, 0, &Session::taskCb, this);
      break;
    case Op::Sync:
      t = iscsi_synchronizecache16_task(ctx_, r->lun, 0, 0, 0, 0, &Session::taskCb, this);
      break;
    case Op::TestUnitReady:
      t = iscsi_testunitready_task(ctx_, r->lun, &Session::taskCb, this);
      break;
    case Op::Inquiry:
      t = iscsi_inquiry_task(ctx_, r->lun, r->page >= 0 ? 1 : 0, r->page >= 0 ? r->page : 0, 255,
                             &Session::taskCb, this);
      break;
    case Op::ReadCapacity16:
      t = iscsi_readcapacity16_task(ctx_, r->lun, &Session::taskCb, this);
      break;
    case Op::ReadCapacity10:
      t = iscsi_readcapacity10_task(ctx_, r->lun, 0, 0, &Session::taskCb, this);
      break;
    case Op::ModeSense6:
      t = iscsi_modesense6_task(ctx_, r->lun, 1, SCSI_MODESENSE_PC_CURRENT,
                                SCSI_MODEPAGE_RETURN_ALL_PAGES, 0, 255, &Session::taskCb, this);
      break;
  }
  if (t == nullptr) return false;
  inflight_.emplace(t, r);
  return true;
}

void Session::taskCb(iscsi_context*, int status, void* data, void* self) {
  static_cast<Session*>(self)->onTask(static_cast<scsi_task*>(data), status);
}

void Session::onTask(scsi_task* task, int status) {
  if (task == nullptr) return;
  auto it = inflight_.find(task);
  if (it == inflight_.end()) {
    scsi_free_scsi_task(task);
    return;
  }
  RequestPtr r = std::move(it->second);
  inflight_.erase(it);
  Completion c{status};
  if (status == SCSI_STATUS_CHECK_CONDITION) {
    c.senseKey = task->sense.key;
    c.ascq = task->sense.ascq;
  }
  if (!r->finished()) {
    switch (classify(c)) {
      case Outcome::Done:
        if (r->op != Op::Read && task->datain.data != nullptr && task->datain.size > 0) {
          r->data.assign(task->datain.data, task->datain.data + task->datain.size);
        }
        finish(r, 0, c);
        break;
      case Outcome::Retry:
        if (++r->retries > kMaxRetries) {
          finish(r, -EIO, c);
        } else {
          r->notBeforeMs = c.senseKey == kSenseUnitAttention ? 0 : monotonicMs() + kBusyDelayMs;
          pending_.push_front(r);
        }
        break;
      case Outcome::Reconnect:
        // Cancelled (connection lost), timed out or a transport error: resend on a new login.
        pending_.push_front(r);
        if (!dropping_) broken_ = true;
        break;
      case Outcome::Fail:
        finish(r, errnoOf(c), c);
        break;
    }
  }
  scsi_free_scsi_task(task);
}

// ── SessionPool ─────────────────────────────────────────────────────────────────────────────

SessionPool::SessionPool(const LoginParams& params, int sessions) : params_(params) {
  std::random_device rd;
  for (int i = 0; i < std::max(1, sessions); ++i) {
    sessions_.push_back(std::make_unique<Session>(i, params_, rd()));
  }
}

SessionPool::~SessionPool() { stop(false, monotonicMs() + 1000); }

Status SessionPool::start(int64_t deadlineMs) {
  for (auto& s : sessions_) BOXD_TRY(s->start());
  for (auto& s : sessions_) {
    Status st = s->waitFirstLogin(deadlineMs);
    if (!st) {
      stop(true, std::min(deadlineMs, monotonicMs() + 1000));
      return st;
    }
  }
  return okStatus();
}

void SessionPool::submit(const RequestPtr& r) {
  if (stopped_) {
    r->finish(-EIO);
    return;
  }
  Session* best = nullptr;
  for (auto& s : sessions_) {
    if (s->up() && (best == nullptr || s->load() < best->load())) best = s.get();
  }
  // None logged in: queue to one of them anyway; it waits for its re-login (or fails fast).
  if (best == nullptr) best = sessions_[rr_++ % sessions_.size()].get();
  best->submit(r);
}

int SessionPool::wait(const RequestPtr& r) {
  // The session finishes every request by its deadline; the grace period is a backstop only.
  if (!r->wait(r->deadlineMs + kGraceMs)) return -EIO;
  return r->result();
}

int SessionPool::execute(const RequestPtr& r) {
  submit(r);
  return wait(r);
}

int SessionPool::executeAll(const std::vector<RequestPtr>& rs) {
  for (const auto& r : rs) submit(r);
  int first = 0;
  for (const auto& r : rs) {
    int res = wait(r);
    if (res < 0 && first == 0) first = res;
  }
  return first;
}

void SessionPool::stop(bool logout, int64_t deadlineMs) {
  stopped_ = true;
  for (auto& s : sessions_) s->requestStop(logout, deadlineMs);
  for (auto& s : sessions_) s->join();
}

}  // namespace boxd::blockd::iscsi
