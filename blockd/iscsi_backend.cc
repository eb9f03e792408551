#include "blockd/iscsi_backend.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "blockd/iscsi_discovery.h"
#include "blockd/iscsi_scsi.h"
#include "blockd/iscsi_session.h"
#include "common/util.h"

namespace boxd::blockd {
namespace {

using iscsi::Op;
using iscsi::Request;
using iscsi::RequestPtr;
using iscsi::SessionPool;

constexpr uint64_t kDefaultMaxTransferBytes = 1 << 20;  // when the target reports no limit
constexpr uint64_t kMaxTransferCapBytes = 8 << 20;      // memory bound of one command
constexpr int kMaxSessions = 16;

// libiscsi writes to its sockets with writev() (no MSG_NOSIGNAL): a target that closes the
// connection mid-write would kill the process with SIGPIPE instead of giving EPIPE.
void ignoreSigpipe() {
  struct sigaction old {};
  if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

RequestPtr makeRequest(Op op, int lun, int64_t deadlineMs) {
  auto r = std::make_shared<Request>();
  r->op = op;
  r->lun = lun;
  r->deadlineMs = deadlineMs;
  return r;
}

class IscsiDisk final : public Disk {
 public:
  IscsiDisk(std::shared_ptr<SessionPool> pool, int lun, iscsi::Capacity cap, uint32_t maxXferBlocks,
            bool readOnly)
      : pool_(std::move(pool)),
        lun_(lun),
        cap_(cap),
        maxXferBlocks_(maxXferBlocks),
        readOnly_(readOnly) {}

  uint64_t sizeBytes() const override { return cap_.blocks * cap_.blockSize; }
  uint32_t blockSize() const override { return cap_.blockSize; }
  bool readOnly() const override { return readOnly_; }

  ssize_t read(char* buf, size_t len, uint64_t off) override {
    if (off >= sizeBytes() || len == 0) return 0;
    len = static_cast<size_t>(std::min<uint64_t>(len, sizeBytes() - off));
    const int64_t deadline = monotonicMs() + pool_->ioTimeoutMs();
    const uint64_t bs = cap_.blockSize;
    if (off % bs == 0 && len % bs == 0) {
      int rc = readBlocks(off / bs, len / bs, reinterpret_cast<uint8_t*>(buf), deadline);
      return rc < 0 ? rc : static_cast<ssize_t>(len);
    }
    // Unaligned: read the covering blocks, hand out the part asked for.
    uint64_t first = off / bs, last = (off + len + bs - 1) / bs;
    std::vector<uint8_t> tmp((last - first) * bs);
    int rc = readBlocks(first, last - first, tmp.data(), deadline);
    if (rc < 0) return rc;
    std::memcpy(buf, tmp.data() + (off - first * bs), len);
    return static_cast<ssize_t>(len);
  }

  ssize_t write(const char* buf, size_t len, uint64_t off) override {
    if (readOnly_) return -EROFS;
    if (len == 0) return 0;
    if (off >= sizeBytes()) return -ENOSPC;
    len = static_cast<size_t>(std::min<uint64_t>(len, sizeBytes() - off));  // short write
    const int64_t deadline = monotonicMs() + pool_->ioTimeoutMs();
    const uint64_t bs = cap_.blockSize;
    const auto* in = reinterpret_cast<const uint8_t*>(buf);
    if (off % bs == 0 && len % bs == 0) {
      int rc = writeBlocks(off / bs, len / bs, in, deadline);
      return rc < 0 ? rc : static_cast<ssize_t>(len);
    }
    int rc = readModifyWrite(in, len, off, deadline);
    return rc < 0 ? rc : static_cast<ssize_t>(len);
  }

  int flush() override {
    auto r = makeRequest(Op::Sync, lun_, monotonicMs() + pool_->ioTimeoutMs());
    return pool_->execute(r);
  }

 private:
  // The edge blocks are read, patched and written back whole. Serialised per disk, so two
  // unaligned writes into one block cannot lose each other's bytes.
  int readModifyWrite(const uint8_t* in, size_t len, uint64_t off, int64_t deadline) {
    const uint64_t bs = cap_.blockSize;
    const uint64_t first = off / bs, last = (off + len + bs - 1) / bs;
    std::vector<uint8_t> tmp((last - first) * bs);
    std::lock_guard l(rmwMu_);
    if (off % bs != 0) {
      int rc = readBlocks(first, 1, tmp.data(), deadline);
      if (rc < 0) return rc;
    }
    if ((off + len) % bs != 0 && (last - 1 != first || off % bs == 0)) {
      int rc = readBlocks(last - 1, 1, tmp.data() + (last - 1 - first) * bs, deadline);
      if (rc < 0) return rc;
    }
    std::memcpy(tmp.data() + (off - first * bs), in, len);
    return writeBlocks(first, last - first, tmp.data(), deadline);
  }

  std::vector<RequestPtr> split(Op op, uint64_t lba, uint64_t blocks, int64_t deadline) {
    std::vector<RequestPtr> rs;
    for (uint64_t done = 0; done < blocks;) {
      uint64_t n = std::min<uint64_t>(maxXferBlocks_, blocks - done);
      auto r = makeRequest(op, lun_, deadline);
      r->lba = lba + done;
      r->blocks = static_cast<uint32_t>(n);
      r->blockSize = cap_.blockSize;
      r->data.resize(n * cap_.blockSize);
      rs.push_back(std::move(r));
      done += n;
    }
    return rs;
  }

  int readBlocks(uint64_t lba, uint64_t blocks, uint8_t* out, int64_t deadline) {
    auto rs = split(Op::Read, lba, blocks, deadline);
    int rc = pool_->executeAll(rs);
    if (rc < 0) return rc;
    for (const auto& r : rs) {
      std::memcpy(out + (r->lba - lba) * cap_.blockSize, r->data.data(), r->data.size());
    }
    return 0;
  }

  int writeBlocks(uint64_t lba, uint64_t blocks, const uint8_t* in, int64_t deadline) {
    auto rs = split(Op::Write, lba, blocks, deadline);
    for (const auto& r : rs) {
      std::memcpy(r->data.data(), in + (r->lba - lba) * cap_.blockSize, r->data.size());
    }
    return pool_->executeAll(rs);
  }

  const std::shared_ptr<SessionPool> pool_;
  const int lun_;
  const iscsi::Capacity cap_;
  const uint32_t maxXferBlocks_;
  const bool readOnly_;
  std::mutex rmwMu_;
};

class IscsiBackend final : public Backend {
 public:
  explicit IscsiBackend(const Config& config) : config_(config) {}
  ~IscsiBackend() override { close(); }

  Status connect() override;
  Result<std::shared_ptr<Disk>> open(const std::string& name) override;
  std::vector<std::string> names() override;
  void close() override;

 private:
  Status validate() const;
  std::string lunName(int lun) const {
    return "LUN " + std::to_string(lun) + " of " + config_.iscsi->iqn;
  }
  // Runs one control command on a LUN; the error names the command, the LUN and the outcome.
  Result<RequestPtr> control(Op op, int lun, const char* what, int page = -1);
  Result<iscsi::Capacity> capacity(int lun);
  Result<std::shared_ptr<Disk>> probe(int lun);

  const Config config_;
  std::shared_ptr<SessionPool> pool_;
  std::mutex mu_;  // disks_, closed_; held across a LUN probe (lookups of one name wait)
  std::map<std::string, std::shared_ptr<Disk>> disks_;
  bool closed_ = false;
};

Status IscsiBackend::validate() const {
  if (!config_.iscsi)
    return makeError("blockd config: backend iscsi without an iscsi section", EINVAL);
  const IscsiConfig& ic = *config_.iscsi;
  if (ic.portals.empty()) return makeError("blockd config: iscsi.portals is empty", EINVAL);
  if (ic.iqn.empty()) return makeError("blockd config: iscsi.iqn is empty", EINVAL);
  if (ic.initiatorName.empty()) {
    return makeError("blockd config: iscsi.initiatorName is empty", EINVAL);
  }
  if (ic.sessions < 1 || ic.sessions > kMaxSessions) {
    return makeError("blockd config: iscsi.sessions must be 1.." + std::to_string(kMaxSessions) +
                         ", not " + std::to_string(ic.sessions),
                     EINVAL);
  }
  if (config_.connectTimeoutMs <= 0 || config_.ioTimeoutMs <= 0) {
    return makeError("blockd config: connectTimeoutMs and ioTimeoutMs must be positive", EINVAL);
  }
  return okStatus();
}

Status IscsiBackend::connect() {
  if (pool_) return okStatus();
  BOXD_TRY(validate());
  ignoreSigpipe();
  const IscsiConfig& ic = *config_.iscsi;
  const int64_t deadline = monotonicMs() + config_.connectTimeoutMs;
  const auto nPortals = static_cast<int64_t>(ic.portals.size());
  const int64_t attemptMs = std::clamp<int64_t>(config_.connectTimeoutMs / nPortals, 1000,
                                                std::max<int64_t>(1000, config_.connectTimeoutMs));
  std::vector<std::string> portals = ic.portals;
  if (ic.discovery) {
    iscsi::DiscoveryParams dp{ic.portals, ic.iqn, ic.initiatorName, ic.discoveryChap, attemptMs};
    auto found = iscsi::discoverPortals(dp, deadline);
    if (!found) return found.error();
    portals = std::move(*found);
  }
  iscsi::LoginParams lp;
  lp.portals = std::move(portals);
  lp.iqn = ic.iqn;
  lp.initiatorName = ic.initiatorName;
  lp.chap = ic.chap;
  lp.attemptTimeoutMs = attemptMs;
  lp.cmdTimeoutMs = std::max<int64_t>(1000, config_.ioTimeoutMs / 3);
  lp.ioTimeoutMs = config_.ioTimeoutMs;
  auto pool = std::make_shared<SessionPool>(lp, ic.sessions);
  Status st = pool->start(deadline);
  if (!st) return st.error().wrap("login to " + ic.iqn);
  std::lock_guard l(mu_);
  pool_ = std::move(pool);
  return okStatus();
}

Result<RequestPtr> IscsiBackend::control(Op op, int lun, const char* what, int page) {
  auto r = makeRequest(op, lun, monotonicMs() + config_.ioTimeoutMs);
  r->page = page;
  int rc = pool_->execute(r);
  if (rc == 0) return r;
  return makeError(
      std::string(what) + " of " + lunName(lun) + ": " + iscsi::describe(r->completion()), -rc);
}

Result<iscsi::Capacity> IscsiBackend::capacity(int lun) {
  auto rc16 = control(Op::ReadCapacity16, lun, "READ CAPACITY(16)");
  if (rc16) {
    auto c = iscsi::parseReadCapacity16((*rc16)->data);
    if (!c) return makeError("READ CAPACITY(16) of " + lunName(lun) + ": short data", EIO);
    return *c;
  }
  if (rc16.error().code != EINVAL) return rc16.error();  // only "not supported" falls back
  auto rc10 = control(Op::ReadCapacity10, lun, "READ CAPACITY(10)");
  if (!rc10) return rc10.error();
  auto c = iscsi::parseReadCapacity10((*rc10)->data);
  if (!c) return makeError("READ CAPACITY(10) of " + lunName(lun) + ": short data", EIO);
  if (c->blocks == 0x100000000ULL) {
    return makeError(lunName(lun) +
                         " is larger than READ CAPACITY(10) can tell, and READ "
                         "CAPACITY(16) is not supported",
                     EIO);
  }
  return *c;
}

Result<std::shared_ptr<Disk>> IscsiBackend::probe(int lun) {
  auto inq = control(Op::Inquiry, lun, "INQUIRY");
  if (!inq) {
    if (inq.error().code == ENOENT) return makeError("no " + lunName(lun), ENOENT);
    return inq.error();
  }
  auto info = iscsi::parseInquiry((*inq)->data);
  if (!info) return makeError("INQUIRY of " + lunName(lun) + ": no data", EIO);
  if (info->qualifier != 0) return makeError("no " + lunName(lun), ENOENT);
  if (info->deviceType != 0) {
    return makeError(lunName(lun) + " is a " + iscsi::deviceTypeName(info->deviceType) +
                         ", not a direct-access disk",
                     ENODEV);
  }
  // UNIT ATTENTION (power on, reset, re-login) is retried by the session.
  auto tur = control(Op::TestUnitReady, lun, "TEST UNIT READY");
  if (!tur) return tur.error();
  auto cap = capacity(lun);
  if (!cap) return cap.error();
  uint64_t maxBytes = kDefaultMaxTransferBytes;
  if (auto vpd = control(Op::Inquiry, lun, "Block Limits VPD", 0xb0)) {
    uint64_t blocks = iscsi::parseMaxTransferBlocks((*vpd)->data);
    if (blocks != 0) maxBytes = blocks * cap->blockSize;
  }
  maxBytes = std::min(maxBytes, kMaxTransferCapBytes);
  auto maxBlocks = static_cast<uint32_t>(std::max<uint64_t>(1, maxBytes / cap->blockSize));
  bool readOnly = false;
  if (auto ms = control(Op::ModeSense6, lun, "MODE SENSE(6)")) {
    readOnly = iscsi::parseWriteProtect((*ms)->data);
  }
  return std::shared_ptr<Disk>(std::make_shared<IscsiDisk>(pool_, lun, *cap, maxBlocks, readOnly));
}

Result<std::shared_ptr<Disk>> IscsiBackend::open(const std::string& name) {
  auto lun = iscsi::parseLunFile(name);
  if (!lun) return makeError("no disk " + name + " (the files are lun<N>)", ENOENT);
  std::lock_guard l(mu_);
  if (closed_ || !pool_) return makeError("open " + name + ": the backend is not connected", EIO);
  auto it = disks_.find(name);
  if (it != disks_.end()) return it->second;
  auto disk = probe(*lun);
  if (!disk) return disk.error();
  disks_.emplace(name, *disk);
  return *disk;
}

std::vector<std::string> IscsiBackend::names() {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& [name, disk] : disks_) out.push_back(name);
  return out;
}

void IscsiBackend::close() {
  std::map<std::string, std::shared_ptr<Disk>> disks;
  std::shared_ptr<SessionPool> pool;
  {
    std::lock_guard l(mu_);
    if (closed_) return;
    closed_ = true;
    disks = disks_;
    pool = pool_;
  }
  if (!pool) return;
  for (const auto& [name, disk] : disks) {
    if (!disk->readOnly()) (void)disk->flush();
  }
  pool->stop(true, monotonicMs() + std::min<int64_t>(config_.ioTimeoutMs, 5000));
}

}  // namespace

std::unique_ptr<Backend> makeIscsiBackend(const Config& config) {
  return std::make_unique<IscsiBackend>(config);
}

}  // namespace boxd::blockd
