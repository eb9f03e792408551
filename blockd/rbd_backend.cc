#include "blockd/rbd_backend.h"

#include <rados/librados.h>
#include <rbd/librbd.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "blockd/ceph_client.h"
#include "blockd/deadline.h"

namespace boxd::blockd {

namespace {

using Clock = std::chrono::steady_clock;

std::string errnoText(int negErr) { return std::strerror(negErr < 0 ? -negErr : negErr); }

// One asynchronous librbd request. The librbd completion holds it until librbd fires (with the
// buffer librbd reads into or writes from), the DeadlineQueue holds it weakly; whichever of the
// completion and the deadline comes first calls `done`, exactly once.
enum class OpKind { Read, Write, Flush };

const char* opName(OpKind k) {
  return k == OpKind::Read ? "read" : k == OpKind::Write ? "write" : "flush";
}

struct AioOp : Expirable {
  OpKind kind = OpKind::Read;
  uint64_t off = 0;
  size_t len = 0;
  IoDone done;
  std::vector<char> readBuf;  // reads land here, never in memory the caller may reuse
  IoBuffer writeBuf;          // a zero-copy write's data, kept until librbd lets go of it
  std::shared_ptr<std::atomic<int>> pending;  // requests librbd still holds
  std::shared_ptr<const std::string> what;    // "image pool/name", for the log
  std::atomic<bool> ended{false};

  bool finished() const override { return ended.load(); }

  void expire(int64_t timeoutMs) override {
    if (ended.exchange(true)) return;
    spdlog::error("{}: {} of {} bytes at {} did not finish within {} ms: EIO", *what, opName(kind),
                  len, off, timeoutMs);
    std::exchange(done, nullptr)(-EIO, nullptr);
  }

  // librbd's result (bytes read, 0 for a write or flush, or -errno) → the Disk's result.
  void complete(ssize_t ret) {
    if (ended.exchange(true)) return;  // the deadline already answered
    ssize_t r = ret;
    if (ret < 0) {
      spdlog::error("{}: {} of {} bytes at {}: {}", *what, opName(kind), len, off,
                    errnoText(static_cast<int>(ret)));
      r = ret == -EROFS ? -EROFS : -EIO;
    } else if (kind == OpKind::Write) {
      r = static_cast<ssize_t>(len);
    }
    std::exchange(done, nullptr)(r, readBuf.data());
  }
};

// The completion callback (on a librbd thread): releases the completion (librbd allows this
// inside the callback), ends the op and drops librbd's reference to it.
void onComplete(rbd_completion_t c, void* arg) {
  auto* holder = static_cast<std::shared_ptr<AioOp>*>(arg);
  std::shared_ptr<AioOp> op = std::move(*holder);
  delete holder;
  ssize_t ret = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  op->complete(ret);
  op->pending->fetch_sub(1);
}

// Waits for an asynchronous request: the synchronous Disk calls. The wait needs no deadline of
// its own: the DeadlineQueue ends the request in time.
class SyncWait {
 public:
  IoDone done(char* readInto = nullptr) {
    return [this, readInto](ssize_t r, const char* data) {
      if (readInto != nullptr && r > 0) std::memcpy(readInto, data, static_cast<size_t>(r));
      std::lock_guard lock(mu_);
      result_ = r;
      done_ = true;
      cv_.notify_all();  // under the lock: the waiter may destroy us right after
    };
  }
  ssize_t wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return result_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  ssize_t result_ = 0;
};

class RbdDisk : public Disk {
 public:
  RbdDisk(rbd_image_t image, uint64_t size, bool readOnly, int64_t ioTimeoutMs, std::string what)
      : image_(image),
        size_(size),
        readOnly_(readOnly),
        deadlines_(ioTimeoutMs),
        what_(std::make_shared<const std::string>(std::move(what))) {}

  uint64_t sizeBytes() const override { return size_; }
  uint32_t blockSize() const override { return 512; }
  bool readOnly() const override { return readOnly_; }
  bool async() const override { return true; }

  ssize_t read(char* buf, size_t len, uint64_t off) override {
    SyncWait w;
    readAsync(len, off, w.done(buf));
    return w.wait();
  }

  // The caller's buffer is free again when this returns, even after a timeout: librbd writes
  // from a copy of our own.
  ssize_t write(const char* buf, size_t len, uint64_t off) override {
    IoBuffer copy(static_cast<char*>(std::malloc(std::max<size_t>(len, 1))), std::free);
    if (!copy) return -ENOMEM;
    std::memcpy(copy.get(), buf, len);
    SyncWait w;
    writeAsync(copy, copy.get(), len, off, w.done());
    return w.wait();
  }

  int flush() override {
    SyncWait w;
    flushAsync(w.done());
    return static_cast<int>(w.wait());
  }

  void readAsync(size_t len, uint64_t off, IoDone done) override {
    if (off >= size_) return done(0, nullptr);
    len = static_cast<size_t>(std::min<uint64_t>(len, size_ - off));
    if (len == 0) return done(0, nullptr);
    auto op = newOp(OpKind::Read, off, len, std::move(done));
    op->readBuf.resize(len);
    submit(op, [&](rbd_completion_t c) {
      return rbd_aio_read(image_, off, len, op->readBuf.data(), c);
    });
  }

  // Zero copy: librbd sends from `data` itself (rbd_disable_zero_copy_writes=false) and fires
  // the completion only once the messenger has let go of it; the op keeps `owner` until then.
  void writeAsync(IoBuffer owner, const char* data, size_t len, uint64_t off,
                  IoDone done) override {
    if (readOnly_) return done(-EROFS, nullptr);
    if (off > size_ || len > size_ - off) return done(-ENOSPC, nullptr);
    if (len == 0) return done(0, nullptr);
    auto op = newOp(OpKind::Write, off, len, std::move(done));
    op->writeBuf = std::move(owner);
    submit(op, [&](rbd_completion_t c) { return rbd_aio_write(image_, off, len, data, c); });
  }

  void flushAsync(IoDone done) override {
    if (readOnly_) return done(0, nullptr);
    auto op = newOp(OpKind::Flush, 0, 0, std::move(done));
    submit(op, [&](rbd_completion_t c) { return rbd_aio_flush(image_, c); });
  }

  // Waits (at most `ms`) until no request is left inside librbd.
  bool drain(int64_t ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (pending_->load() > 0) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  int pending() const { return pending_->load(); }

 private:
  std::shared_ptr<AioOp> newOp(OpKind kind, uint64_t off, size_t len, IoDone done) {
    auto op = std::make_shared<AioOp>();
    op->kind = kind;
    op->off = off;
    op->len = len;
    op->done = std::move(done);
    op->pending = pending_;
    op->what = what_;
    return op;
  }

  // Enters the op's deadline before librbd sees it, so no request escapes its deadline.
  template <typename Submit>
  void submit(const std::shared_ptr<AioOp>& op, Submit start) {
    auto* holder = new std::shared_ptr<AioOp>(op);
    rbd_completion_t c = nullptr;
    int rc = rbd_aio_create_completion(holder, onComplete, &c);
    if (rc < 0) {
      delete holder;
      return op->complete(rc);
    }
    pending_->fetch_add(1);
    deadlines_.add(op);
    rc = start(c);
    if (rc < 0) {  // not queued: no callback will come
      rbd_aio_release(c);
      delete holder;
      op->complete(rc);
      pending_->fetch_sub(1);
    }
  }

  rbd_image_t image_;
  uint64_t size_;
  bool readOnly_;
  DeadlineQueue deadlines_;
  std::shared_ptr<const std::string> what_;
  std::shared_ptr<std::atomic<int>> pending_ = std::make_shared<std::atomic<int>>(0);
};

class RbdBackend : public Backend {
 public:
  explicit RbdBackend(const Config& config)
      : rbd_(*config.rbd),
        connectTimeoutMs_(config.connectTimeoutMs),
        ioTimeoutMs_(config.ioTimeoutMs),
        what_("image " + rbd_.pool + "/" + rbd_.image) {}
  ~RbdBackend() override { close(); }

  Status connect() override {
    client_ = std::make_unique<CephClient>();
    BOXD_TRY(
        client_->connect({rbd_.monHost, rbd_.user, rbd_.key, connectTimeoutMs_, ioTimeoutMs_}));
    cluster_ = client_->get();
    spdlog::info("connected to ceph monitors {} as client.{}", rbd_.monHost, rbd_.user);
    int rc = rados_ioctx_create(cluster_, rbd_.pool.c_str(), &ioctx_);
    if (rc < 0) return makeError("open pool " + rbd_.pool + ": " + errnoText(rc), -rc);
    BOXD_TRY(openImage());
    uint64_t size = 0;
    rc = rbd_get_size(image_, &size);
    if (rc < 0) return makeError("size of " + what_ + ": " + errnoText(rc), -rc);
    disk_ = std::make_shared<RbdDisk>(image_, size, rbd_.readOnly, ioTimeoutMs_, what_);
    spdlog::info("{}: open {} ({} bytes){}", what_, rbd_.readOnly ? "read-only" : "read-write",
                 size, locked_ ? ", exclusive lock held" : "");
    return okStatus();
  }

  Result<std::shared_ptr<Disk>> open(const std::string& name) override {
    if (name != kRbdImageFile || !disk_) return makeError(name + ": no such disk", ENOENT);
    return std::shared_ptr<Disk>(disk_);
  }

  std::vector<std::string> names() override {
    if (!disk_) return {};
    return {kRbdImageFile};
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (disk_) {
      if (!disk_->drain(ioTimeoutMs_)) {
        spdlog::warn("{}: {} requests still in flight at close", what_, disk_->pending());
      }
      if (!rbd_.readOnly && disk_->flush() < 0) spdlog::warn("{}: flush at close failed", what_);
    }
    if (locked_) {
      int rc = rbd_lock_release(image_);
      if (rc < 0) spdlog::warn("{}: release the exclusive lock: {}", what_, errnoText(rc));
      locked_ = false;
    }
    if (image_ != nullptr) {
      int rc = rbd_close(image_);
      if (rc < 0) spdlog::warn("{}: close: {}", what_, errnoText(rc));
      image_ = nullptr;
    }
    if (ioctx_ != nullptr) rados_ioctx_destroy(ioctx_);
    ioctx_ = nullptr;
    client_.reset();
    cluster_ = nullptr;
    spdlog::info("{}: closed", what_);
  }

 private:
  Status openImage() {
    int rc = rbd_.readOnly ? rbd_open_read_only(ioctx_, rbd_.image.c_str(), &image_, nullptr)
                           : rbd_open(ioctx_, rbd_.image.c_str(), &image_, nullptr);
    if (rc < 0) {
      image_ = nullptr;
      return makeError("open " + what_ + ": " + errnoText(rc), -rc);
    }
    if (rbd_.readOnly || !rbd_.exclusive) return okStatus();
    // Waits for a crashed previous owner's watch to time out (osd_client_watch_timeout).
    spdlog::info("{}: taking the exclusive lock", what_);
    rc = rbd_lock_acquire(image_, RBD_LOCK_MODE_EXCLUSIVE);
    if (rc == 0) {
      locked_ = true;
      return okStatus();
    }
    if (rc == -EINVAL || rc == -EOPNOTSUPP) {
      return makeError(what_ + " lacks the exclusive-lock feature (needed for an exclusive attach)",
                       EINVAL);
    }
    std::string holders = describeHolders();
    if (!holders.empty()) {
      return makeError(what_ + " is in use by another client (" + holders + ")", EBUSY);
    }
    return makeError("take the exclusive lock of " + what_ + ": " + errnoText(rc), -rc);
  }

  // "locked by auto 1234, watched by 127.0.0.1:0/5678": who holds the image, for the error.
  std::string describeHolders() {
    std::string out;
    rbd_lock_mode_t mode;
    char* owners[8];
    size_t count = 8;
    if (rbd_lock_get_owners(image_, &mode, owners, &count) == 0 && count > 0) {
      out = "locked by";
      for (size_t i = 0; i < count; ++i) out += std::string(i ? ", " : " ") + owners[i];
      rbd_lock_get_owners_cleanup(owners, count);
    }
    rbd_image_watcher_t watchers[16];
    size_t n = 16;
    if (rbd_watchers_list(image_, watchers, &n) == 0) {
      std::string list;
      for (size_t i = 0; i < n; ++i) {
        if (watchers[i].id == static_cast<int64_t>(rados_get_instance_id(cluster_))) continue;
        list += std::string(list.empty() ? "" : ", ") + watchers[i].addr;
      }
      rbd_watchers_list_cleanup(watchers, n);
      if (!list.empty()) out += std::string(out.empty() ? "" : "; ") + "watched by " + list;
    }
    return out;
  }

  RbdConfig rbd_;
  int64_t connectTimeoutMs_, ioTimeoutMs_;
  std::string what_;
  std::unique_ptr<CephClient> client_;
  rados_t cluster_ = nullptr;  // client_'s
  rados_ioctx_t ioctx_ = nullptr;
  rbd_image_t image_ = nullptr;
  bool locked_ = false;
  bool closed_ = false;
  std::shared_ptr<RbdDisk> disk_;
};

}  // namespace

std::unique_ptr<Backend> makeRbdBackend(const Config& config) {
  return std::make_unique<RbdBackend>(config);
}

}  // namespace boxd::blockd
