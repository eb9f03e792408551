#include "blockd/rbd_backend.h"

#include <rados/librados.h>
#include <rbd/librbd.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "blockd/ceph_client.h"

namespace boxd::blockd {

namespace {

using Clock = std::chrono::steady_clock;

std::string errnoText(int negErr) { return std::strerror(negErr < 0 ? -negErr : negErr); }

// librados takes whole seconds; a deadline under a second still gets one.

// One asynchronous librbd request. Shared between the waiting FUSE thread and the completion
// callback, so it (and the read buffer librbd fills) outlives a waiter that gave up.
struct AioOp {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  ssize_t ret = 0;
  std::vector<char> buffer;  // reads land here, never in the caller's buffer
  std::atomic<int>* pending = nullptr;
};

// The completion callback: records the result, releases the completion (librbd allows this
// inside the callback) and drops the callback's reference to the op.
void onComplete(rbd_completion_t c, void* arg) {
  auto* holder = static_cast<std::shared_ptr<AioOp>*>(arg);
  std::shared_ptr<AioOp> op = std::move(*holder);
  delete holder;
  ssize_t ret = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  {
    std::lock_guard lock(op->mu);
    op->done = true;
    op->ret = ret;
  }
  op->cv.notify_all();
  op->pending->fetch_sub(1);
}

class RbdDisk : public Disk {
 public:
  RbdDisk(rbd_image_t image, uint64_t size, bool readOnly, int64_t ioTimeoutMs, std::string what)
      : image_(image),
        size_(size),
        readOnly_(readOnly),
        ioTimeoutMs_(ioTimeoutMs),
        what_(std::move(what)) {}

  uint64_t sizeBytes() const override { return size_; }
  uint32_t blockSize() const override { return 512; }
  bool readOnly() const override { return readOnly_; }

  ssize_t read(char* buf, size_t len, uint64_t off) override {
    if (off >= size_) return 0;
    len = static_cast<size_t>(std::min<uint64_t>(len, size_ - off));
    if (len == 0) return 0;
    auto op = std::make_shared<AioOp>();
    op->buffer.resize(len);
    ssize_t r = submitAndWait(op, "read", off, len, [&](rbd_completion_t c) {
      return rbd_aio_read(image_, off, len, op->buffer.data(), c);
    });
    if (r < 0) return r;
    std::memcpy(buf, op->buffer.data(), static_cast<size_t>(r));
    return r;
  }

  ssize_t write(const char* buf, size_t len, uint64_t off) override {
    if (readOnly_) return -EROFS;
    if (off > size_ || len > size_ - off) return -ENOSPC;
    if (len == 0) return 0;
    // librbd copies the data at submission (rbd_disable_zero_copy_writes, set explicitly in
    // connect), so the caller's buffer is free again when rbd_aio_write returns, even if the
    // wait below gives up.
    ssize_t r =
        submitAndWait(std::make_shared<AioOp>(), "write", off, len,
                      [&](rbd_completion_t c) { return rbd_aio_write(image_, off, len, buf, c); });
    return r < 0 ? r : static_cast<ssize_t>(len);
  }

  int flush() override {
    if (readOnly_) return 0;
    ssize_t r = submitAndWait(std::make_shared<AioOp>(), "flush", 0, 0,
                              [&](rbd_completion_t c) { return rbd_aio_flush(image_, c); });
    return r < 0 ? static_cast<int>(r) : 0;
  }

  // Waits (at most `ms`) until no request is left inside librbd.
  bool drain(int64_t ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(ms);
    while (pending_.load() > 0) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  int pending() const { return pending_.load(); }

 private:
  template <typename Submit>
  ssize_t submitAndWait(const std::shared_ptr<AioOp>& op, const char* kind, uint64_t off,
                        size_t len, Submit submit) {
    op->pending = &pending_;
    auto* holder = new std::shared_ptr<AioOp>(op);
    rbd_completion_t c = nullptr;
    int rc = rbd_aio_create_completion(holder, onComplete, &c);
    if (rc < 0) {
      delete holder;
      return rc;
    }
    pending_.fetch_add(1);
    rc = submit(c);
    if (rc < 0) {  // not queued: no callback will come
      pending_.fetch_sub(1);
      rbd_aio_release(c);
      delete holder;
      logFailure(kind, off, len, rc);
      return rc;
    }
    std::unique_lock lock(op->mu);
    if (!op->cv.wait_for(lock, std::chrono::milliseconds(ioTimeoutMs_), [&] { return op->done; })) {
      spdlog::error("{}: {} of {} bytes at {} did not finish within {} ms: EIO", what_, kind, len,
                    off, ioTimeoutMs_);
      return -EIO;
    }
    if (op->ret < 0) {
      logFailure(kind, off, len, static_cast<int>(op->ret));
      return op->ret == -EROFS ? -EROFS : -EIO;
    }
    return op->ret;
  }

  void logFailure(const char* kind, uint64_t off, size_t len, int rc) {
    spdlog::error("{}: {} of {} bytes at {}: {}", what_, kind, len, off, errnoText(rc));
  }

  rbd_image_t image_;
  uint64_t size_;
  bool readOnly_;
  int64_t ioTimeoutMs_;
  std::string what_;  // "image pool/name"
  std::atomic<int> pending_{0};
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
