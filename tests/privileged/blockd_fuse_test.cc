// boxd-blockd's FUSE server on a real FUSE mount, in this process, over an in-memory fake
// backend: the file API a loop device sees, errors as EIO, the queue depth through a direct-io
// loop device, a refused unmount while the loop device is attached, the watchdog's abort of
// a request that a broken Disk never finishes, and the same for an asynchronous Disk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "blockd/fuse_server.h"
#include "common/fd.h"
#include "common/util.h"
#include "tests/fixtures/block_tools.h"
#include "tests/fixtures/process.h"
#include "tests/support/temp_dir.h"

namespace boxd::blockd {
namespace {

using testing::Teardown;

class FakeDisk : public Disk {
 public:
  explicit FakeDisk(size_t bytes, bool ro = false) : data_(bytes), ro_(ro) {}
  uint64_t sizeBytes() const override { return data_.size(); }
  uint32_t blockSize() const override { return 512; }
  bool readOnly() const override { return ro_; }
  ssize_t read(char* buf, size_t len, uint64_t off) override {
    Busy b(*this);
    if (off >= data_.size()) return 0;
    len = std::min<size_t>(len, data_.size() - off);
    std::lock_guard lock(mu_);
    std::memcpy(buf, data_.data() + off, len);
    return static_cast<ssize_t>(len);
  }
  ssize_t write(const char* buf, size_t len, uint64_t off) override {
    Busy b(*this);
    if (failWrites) return -EIO;
    if (hang) {  // a broken Disk: ignores its deadline until the test lets it go
      std::unique_lock lock(mu_);
      hangCv_.wait(lock, [&] { return !hang; });
      return -EIO;
    }
    if (off > data_.size() || len > data_.size() - off) return -ENOSPC;
    std::lock_guard lock(mu_);
    std::memcpy(data_.data() + off, buf, len);
    return static_cast<ssize_t>(len);
  }
  int flush() override { return 0; }

  // Asynchronous mode: each request runs on a thread of its own and answers from there, after
  // the handler returned (a write reads its data from `owner`, the server's buffer, only then).
  bool async() const override { return asyncMode; }
  void readAsync(size_t len, uint64_t off, IoDone done) override {
    std::thread([this, len, off, done = std::move(done)] {
      std::vector<char> b(len);
      ssize_t n = read(b.data(), len, off);
      done(n, b.data());
    }).detach();
  }
  void writeAsync(IoBuffer owner, const char* data, size_t len, uint64_t off,
                  IoDone done) override {
    std::thread([this, owner = std::move(owner), data, len, off, done = std::move(done)] {
      done(write(data, len, off), nullptr);
    }).detach();
  }
  void flushAsync(IoDone done) override {
    std::thread([done = std::move(done)] { done(0, nullptr); }).detach();
  }

  void release() {
    {
      std::lock_guard lock(mu_);
      hang = false;
    }
    hangCv_.notify_all();
  }

  std::atomic<bool> failWrites{false};
  bool asyncMode = false;  // set before serve()
  bool hang = false;       // set before the I/O starts
  int delayMs = 0;
  std::atomic<int> busy{0}, peak{0};

 private:
  struct Busy {  // counts calls in progress, with the configured delay inside
    explicit Busy(FakeDisk& d) : d_(d) {
      int now = ++d_.busy;
      int p = d_.peak.load();
      while (now > p && !d_.peak.compare_exchange_weak(p, now)) {
      }
      if (d_.delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d_.delayMs));
    }
    ~Busy() { --d_.busy; }
    FakeDisk& d_;
  };
  std::mutex mu_;
  std::condition_variable hangCv_;
  std::vector<char> data_;
  bool ro_;
};

class FakeBackend : public Backend {
 public:
  Status connect() override { return okStatus(); }
  Result<std::shared_ptr<Disk>> open(const std::string& name) override {
    if (name == "disk") return std::shared_ptr<Disk>(disk);
    if (name == "ro") return std::shared_ptr<Disk>(ro);
    return makeError(name + ": no such disk", ENOENT);
  }
  std::vector<std::string> names() override { return {"disk", "ro"}; }
  void close() override {}

  std::shared_ptr<FakeDisk> disk = std::make_shared<FakeDisk>(32 << 20);
  std::shared_ptr<FakeDisk> ro = std::make_shared<FakeDisk>(1 << 20, true);
};

class BlockdFuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/fuse";
    }
    mp_ = tmp_ / "mnt";
    ASSERT_TRUE(mkdirAll(mp_, 0700).ok());
  }

  // Mounts and serves on a thread; the Teardown unmounts (abort as the last resort) and joins.
  void serve(int64_t ioTimeoutMs = 30000, int64_t marginMs = 5000, int threads = 8) {
    FuseServerOptions o;
    o.mountpoint = mp_;
    o.threads = threads;
    o.ioTimeoutMs = ioTimeoutMs;
    o.watchdogMarginMs = marginMs;
    server_ = std::make_unique<FuseServer>(backend_, o);
    Status st = server_->mount();
    ASSERT_TRUE(st.ok()) << st.error().message;
    done_ = std::async(std::launch::async, [this] { return server_->run(); });
    td_.add([this] {
      backend_.disk->release();
      (void)testing::unmountBounded(mp_);
      if (done_.valid()) done_.wait();
    });
  }

  std::string file(const std::string& name) { return mp_ + "/" + name; }

  testing::TempDir tmp_{"blockd-fuse"};
  std::string mp_;
  FakeBackend backend_;
  std::unique_ptr<FuseServer> server_;
  std::future<Status> done_;
  Teardown td_;  // declared last: runs first
};

std::unique_ptr<char, decltype(&::free)> aligned(size_t n, char fill) {
  void* p = nullptr;
  if (::posix_memalign(&p, 4096, n) != 0 || p == nullptr) std::abort();
  std::memset(p, fill, n);
  return {static_cast<char*>(p), ::free};
}

TEST_F(BlockdFuseTest, ServesTheBackendsDisksAsFiles) {
  serve();
  struct stat st {};
  ASSERT_EQ(::stat(file("disk").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 32 << 20);
  EXPECT_NE(::stat(file("nope").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  auto ls = testing::runCommand({"ls", mp_}, 5000);
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->output, "disk\nro\n");

  Fd fd(::open(file("disk").c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  auto buf = aligned(1 << 20, 'x');
  ASSERT_EQ(::pwrite(fd.get(), buf.get(), 1 << 20, 4 << 20), 1 << 20);
  EXPECT_EQ(::fsync(fd.get()), 0);
  auto back = aligned(1 << 20, 0);
  ASSERT_EQ(::pread(fd.get(), back.get(), 1 << 20, 4 << 20), 1 << 20);
  EXPECT_EQ(std::memcmp(buf.get(), back.get(), 1 << 20), 0);
  // Reads stop at the end of the disk; writes past it fail.
  EXPECT_EQ(::pread(fd.get(), back.get(), 1 << 20, (32 << 20) - 4096), 4096);
  EXPECT_EQ(::pwrite(fd.get(), buf.get(), 8192, (32 << 20) - 4096), -1);
  EXPECT_EQ(errno, ENOSPC);

  errno = 0;
  Fd ro(::open(file("ro").c_str(), O_RDWR | O_CLOEXEC));
  EXPECT_FALSE(ro.valid());
  EXPECT_EQ(errno, EROFS);
}

TEST_F(BlockdFuseTest, DiskErrorsReachTheWriterAsEio) {
  serve();
  backend_.disk->failWrites = true;
  Fd fd(::open(file("disk").c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  auto buf = aligned(4096, 'y');
  EXPECT_EQ(::pwrite(fd.get(), buf.get(), 4096, 0), -1);
  EXPECT_EQ(errno, EIO);
}

// A direct-io loop device sends several FUSE requests at once (the queue depth), and while it
// is attached the server refuses to unmount (a SIGTERM must not kill a volume in use).
TEST_F(BlockdFuseTest, LoopDeviceKeepsRequestsInFlightAndBlocksUnmount) {
  serve();
  backend_.disk->delayMs = 20;
  auto loop = testing::attachLoop(file("disk"));
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  std::string dev = *loop;
  td_.add([dev] { EXPECT_TRUE(testing::detachLoop(dev).ok()); });

  auto dd = testing::runCommand(
      {"dd", "if=/dev/zero", "of=" + dev, "bs=8M", "count=2", "oflag=direct", "status=none"},
      30000);
  ASSERT_TRUE(dd.ok() && dd->ok()) << (dd ? dd->output : dd.error().message);
  std::printf("peak concurrent Disk calls: %d\n", backend_.disk->peak.load());
  EXPECT_GE(backend_.disk->peak.load(), 2);

  Status st = server_->unmount();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, EBUSY) << st.error().message;
  EXPECT_TRUE(testing::mountedAt(mp_));
  EXPECT_EQ(done_.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);

  ASSERT_TRUE(testing::detachLoop(dev).ok());
  st = server_->unmount();
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(done_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(done_.get().ok());
  EXPECT_FALSE(server_->aborted());
  EXPECT_FALSE(testing::mountedAt(mp_));
}

// An asynchronous Disk: requests answered from the Disk's own threads, after their handlers
// returned. The loop device keeps more of them in flight than the server has threads, and the
// data arrives intact although each write is read from the server's receive buffer after the
// worker went on to the next request (the buffer is handed over, not reused).
TEST_F(BlockdFuseTest, AsyncDiskAnswersFromItsCompletionsWithMoreInFlightThanThreads) {
  backend_.disk->asyncMode = true;
  backend_.disk->delayMs = 20;
  serve(30000, 5000, /*threads=*/2);
  auto loop = testing::attachLoop(file("disk"));
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  std::string dev = *loop;
  td_.add([dev] { EXPECT_TRUE(testing::detachLoop(dev).ok()); });

  const size_t n = 8 << 20;
  auto buf = aligned(n, 0);
  for (size_t i = 0; i < n; i += sizeof(uint64_t)) {
    uint64_t v = i * 0x9e3779b97f4a7c15ull;
    std::memcpy(buf.get() + i, &v, sizeof v);
  }
  Fd fd(::open(dev.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd.get(), buf.get(), n, 1 << 20), static_cast<ssize_t>(n));
  EXPECT_EQ(::fsync(fd.get()), 0);
  std::printf("peak concurrent Disk calls with 2 threads: %d\n", backend_.disk->peak.load());
  EXPECT_GT(backend_.disk->peak.load(), 2);
  auto back = aligned(n, 0);
  ASSERT_EQ(::pread(fd.get(), back.get(), n, 1 << 20), static_cast<ssize_t>(n));
  EXPECT_EQ(std::memcmp(buf.get(), back.get(), n), 0);
}

// An asynchronous Disk that never answers: the watchdog aborts the connection as for a
// synchronous one, and the server ends once the Disk answered at last.
TEST_F(BlockdFuseTest, WatchdogAbortsAnAsyncRequestPastTheDeadline) {
  backend_.disk->asyncMode = true;
  backend_.disk->hang = true;
  serve(/*ioTimeoutMs=*/200, /*marginMs=*/300);
  auto writer = std::async(std::launch::async, [this] {
    Fd fd(::open(file("disk").c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!fd) return errno;
    auto buf = aligned(4096, 'z');
    return ::pwrite(fd.get(), buf.get(), 4096, 0) < 0 ? errno : 0;
  });
  ASSERT_EQ(writer.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the writer is still blocked";
  EXPECT_NE(writer.get(), 0);
  EXPECT_TRUE(server_->aborted());
  EXPECT_EQ(done_.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "run() returned while a request was still unanswered";
  backend_.disk->release();
  ASSERT_EQ(done_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(testing::unmountBounded(mp_).ok());
}

// A Disk that ignores its deadline: the watchdog aborts the FUSE connection, so the writer gets
// an error instead of waiting (in D state) for the Disk.
TEST_F(BlockdFuseTest, WatchdogAbortsARequestPastTheDeadline) {
  serve(/*ioTimeoutMs=*/200, /*marginMs=*/300);
  backend_.disk->hang = true;
  int64_t t0 = monotonicMs();
  auto writer = std::async(std::launch::async, [this] {
    Fd fd(::open(file("disk").c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!fd) return errno;
    auto buf = aligned(4096, 'z');
    return ::pwrite(fd.get(), buf.get(), 4096, 0) < 0 ? errno : 0;
  });
  ASSERT_EQ(writer.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the writer is still blocked";
  int err = writer.get();
  int64_t took = monotonicMs() - t0;
  EXPECT_NE(err, 0);
  std::printf("writer got %s after %lld ms\n", std::strerror(err), static_cast<long long>(took));
  EXPECT_LT(took, 5000);
  EXPECT_TRUE(server_->aborted());
  backend_.disk->release();  // the broken Disk returns at last; the session can end
  ASSERT_EQ(done_.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(testing::unmountBounded(mp_).ok());  // the stale mount still needs its umount
}

}  // namespace
}  // namespace boxd::blockd
