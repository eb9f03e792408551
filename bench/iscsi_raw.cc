#include "bench/iscsi_raw.h"

// clang-format off
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
// clang-format on
#include <poll.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "bench/proc.h"
#include "common/util.h"

namespace boxd::bench {

namespace {

struct ContextDeleter {
  void operator()(iscsi_context* c) const {
    if (iscsi_is_logged_in(c)) (void)iscsi_logout_sync(c);
    iscsi_destroy_context(c);
  }
};
using Context = std::unique_ptr<iscsi_context, ContextDeleter>;

struct TaskDeleter {
  void operator()(scsi_task* t) const { scsi_free_scsi_task(t); }
};
using Task = std::unique_ptr<scsi_task, TaskDeleter>;

class Session {
 public:
  Session(const RawIscsiTarget& t, int timeoutMs) : t_(t) {
    ctx_.reset(iscsi_create_context(t.initiatorName.c_str()));
    if (!ctx_) fail("iscsi_create_context failed");
    iscsi_set_targetname(ctx_.get(), t.iqn.c_str());
    iscsi_set_session_type(ctx_.get(), ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(ctx_.get(), ISCSI_HEADER_DIGEST_NONE_CRC32C);  // as boxd-blockd
    iscsi_set_noautoreconnect(ctx_.get(), 1);
    iscsi_set_timeout(ctx_.get(), std::max(1, timeoutMs / 1000));
    if (!t.chapUser.empty() && iscsi_set_initiator_username_pwd(ctx_.get(), t.chapUser.c_str(),
                                                                t.chapPassword.c_str()) != 0)
      fail("set CHAP credentials");
    if (iscsi_full_connect_sync(ctx_.get(), t.portal.c_str(), t.lun) != 0) fail("login");
    Task cap(iscsi_readcapacity16_sync(ctx_.get(), t.lun));
    if (!cap || cap->status != SCSI_STATUS_GOOD) fail("READ CAPACITY16");
    auto* rc = static_cast<scsi_readcapacity16*>(scsi_datain_unmarshall(cap.get()));
    if (rc == nullptr || rc->block_length == 0) fail("READ CAPACITY16: no data");
    blockSize_ = rc->block_length;
    capacity_ = (rc->returned_lba + 1) * blockSize_;
  }

  iscsi_context* ctx() const { return ctx_.get(); }
  uint32_t blockSize() const { return blockSize_; }
  uint64_t capacity() const { return capacity_; }

  [[noreturn]] void fail(const std::string& what) const {
    throwIfInterrupted();  // a signal interrupts libiscsi's poll: say why, not "Poll failed"
    std::string why = ctx_ ? iscsi_get_error(ctx_.get()) : "";
    throw BenchError("raw iSCSI " + t_.portal + " " + t_.iqn + " LUN " + std::to_string(t_.lun) +
                     ": " + what + (why.empty() ? "" : ": " + why));
  }
  void check(const Task& task, const char* what) const {
    if (!task) fail(what);
    if (task->status != SCSI_STATUS_GOOD)
      fail(std::string(what) + ": SCSI status " + std::to_string(task->status));
  }

 private:
  const RawIscsiTarget& t_;
  Context ctx_;
  uint32_t blockSize_ = 0;
  uint64_t capacity_ = 0;
};

void syncCache(const Session& s, int lun) {
  Task t(iscsi_synchronizecache16_sync(s.ctx(), lun, 0, 0, 0, 0));
  s.check(t, "SYNCHRONIZE CACHE16");
}

void runSync(const Session& s, const RawIscsiTarget& t, const RawIscsiRun& r,
             std::vector<unsigned char>& buf) {
  const auto bs = static_cast<int>(s.blockSize());
  for (uint64_t off = 0; off < r.bytes; off += r.ioBytes) {
    uint64_t lba = off / s.blockSize();
    Task task(
        r.op == RawOp::Write
            ? iscsi_write16_sync(s.ctx(), t.lun, lba, buf.data(), r.ioBytes, bs, 0, 0, 0, 0, 0)
            : iscsi_read16_sync(s.ctx(), t.lun, lba, r.ioBytes, bs, 0, 0, 0, 0, 0));
    s.check(task, r.op == RawOp::Write ? "WRITE16" : "READ16");
  }
}

struct AsyncState {
  int inflight = 0;
  int failedStatus = -1;  // the first bad SCSI status, -1 = none
};

void taskDone(iscsi_context*, int status, void* data, void* priv) {
  auto* st = static_cast<AsyncState*>(priv);
  st->inflight--;
  if (status != SCSI_STATUS_GOOD && st->failedStatus < 0) st->failedStatus = status;
  if (data != nullptr) scsi_free_scsi_task(static_cast<scsi_task*>(data));
}

void runAsync(const Session& s, const RawIscsiTarget& t, const RawIscsiRun& r,
              std::vector<unsigned char>& buf, int64_t deadline) {
  AsyncState st;
  const auto bs = static_cast<int>(s.blockSize());
  uint64_t next = 0;
  while (next < r.bytes || st.inflight > 0) {
    while (next < r.bytes && st.inflight < r.queueDepth && st.failedStatus < 0) {
      uint64_t lba = next / s.blockSize();
      scsi_task* task =
          r.op == RawOp::Write
              ? iscsi_write16_task(s.ctx(), t.lun, lba, buf.data(), r.ioBytes, bs, 0, 0, 0, 0, 0,
                                   taskDone, &st)
              : iscsi_read16_task(s.ctx(), t.lun, lba, r.ioBytes, bs, 0, 0, 0, 0, 0, taskDone, &st);
      if (task == nullptr) s.fail(r.op == RawOp::Write ? "queue WRITE16" : "queue READ16");
      st.inflight++;
      next += r.ioBytes;
    }
    if (st.failedStatus >= 0 && st.inflight == 0) break;
    int64_t left = deadline - monotonicMs();
    if (left <= 0) s.fail("no completion within the run's deadline");
    throwIfInterrupted();
    pollfd p{iscsi_get_fd(s.ctx()), static_cast<short>(iscsi_which_events(s.ctx())), 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (rc < 0 && errno != EINTR) s.fail("poll");
    if (iscsi_service(s.ctx(), rc > 0 ? p.revents : 0) < 0) s.fail("iscsi_service");
  }
  if (st.failedStatus >= 0)
    s.fail(std::string(r.op == RawOp::Write ? "WRITE16" : "READ16") + ": SCSI status " +
           std::to_string(st.failedStatus));
}

}  // namespace

double rawIscsiMiBps(const RawIscsiTarget& t, const RawIscsiRun& r) {
  if (r.ioBytes == 0 || r.bytes % r.ioBytes != 0 || r.queueDepth < 1)
    throw BenchError("raw iSCSI: bytes must be a multiple of ioBytes, queue depth >= 1");
  const int64_t deadline = monotonicMs() + r.timeoutMs;
  Session s(t, r.timeoutMs);
  if (r.ioBytes % s.blockSize() != 0 || r.bytes > s.capacity())
    s.fail("LUN of " + std::to_string(s.capacity()) + " bytes (blocks of " +
           std::to_string(s.blockSize()) + ") cannot take " + std::to_string(r.bytes) +
           " bytes in commands of " + std::to_string(r.ioBytes));
  std::vector<unsigned char> buf(r.ioBytes, 0);
  throwIfInterrupted();
  int64_t t0 = monotonicUs();
  if (r.queueDepth == 1)
    runSync(s, t, r, buf);
  else
    runAsync(s, t, r, buf, deadline);
  if (r.op == RawOp::Write) syncCache(s, t.lun);
  int64_t us = monotonicUs() - t0;
  return static_cast<double>(r.bytes) / (1 << 20) / (static_cast<double>(us) / 1e6);
}

}  // namespace boxd::bench
