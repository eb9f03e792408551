#define FUSE_USE_VERSION 314
#include "blockd/fuse_server.h"

#include <fuse3/fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

#include "blockd/mountinfo.h"
#include "blockd/protocol.h"
#include "blockd/watchdog.h"

namespace boxd::blockd {

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr double kAttrTimeoutS = 1.0;

struct File {
  std::string name;
  std::shared_ptr<Disk> disk;
};

}  // namespace

struct FuseServer::State {
  Backend& backend;
  FuseServerOptions options;
  fuse_session* session = nullptr;
  bool mounted = false;
  unsigned connection = 0;
  timespec startTime{};
  InflightTable inflight;
  std::atomic<bool> aborted{false};

  // Asynchronous requests handed to a Disk and not yet answered: run() waits for them before
  // it returns (the session must outlive every reply).
  std::mutex asyncMu;
  std::condition_variable asyncCv;
  size_t asyncOpen = 0;

  uint64_t beginAsync(const char* op, uint64_t off, size_t len) {
    {
      std::lock_guard lock(asyncMu);
      ++asyncOpen;
    }
    return inflight.begin(op, off, len);
  }
  void endAsync(uint64_t id) {
    inflight.end(id);
    std::lock_guard lock(asyncMu);
    if (--asyncOpen == 0) asyncCv.notify_all();
  }

  std::mutex mu;
  std::vector<File> files;  // inode = index + 2

  State(Backend& b, FuseServerOptions o) : backend(b), options(std::move(o)) {}

  std::shared_ptr<Disk> disk(fuse_ino_t ino) {
    std::lock_guard lock(mu);
    if (ino < 2 || ino - 2 >= files.size()) return nullptr;
    return files[ino - 2].disk;
  }

  // The inode of `name`, opening it through the backend the first time.
  Result<fuse_ino_t> inodeOf(const std::string& name) {
    {
      std::lock_guard lock(mu);
      for (size_t i = 0; i < files.size(); ++i) {
        if (files[i].name == name) return static_cast<fuse_ino_t>(i + 2);
      }
    }
    auto d = backend.open(name);  // may talk to the peer: not under the lock
    if (!d) return d.error();
    std::lock_guard lock(mu);
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].name == name) return static_cast<fuse_ino_t>(i + 2);
    }
    files.push_back(File{name, *d});
    return static_cast<fuse_ino_t>(files.size() + 1);
  }

  struct stat attrOf(fuse_ino_t ino) {
    struct stat st {};
    st.st_ino = ino;
    st.st_uid = 0;
    st.st_gid = 0;
    st.st_atim = st.st_mtim = st.st_ctim = startTime;
    if (ino == kRootIno) {
      st.st_mode = S_IFDIR | 0700;
      st.st_nlink = 2;
      return st;
    }
    std::shared_ptr<Disk> d = disk(ino);
    st.st_mode = S_IFREG | (d && d->readOnly() ? 0400 : 0600);
    st.st_nlink = 1;
    st.st_size = d ? static_cast<off_t>(d->sizeBytes()) : 0;
    st.st_blksize = d ? static_cast<blksize_t>(d->blockSize()) : 512;
    st.st_blocks = (st.st_size + 511) / 512;
    return st;
  }
};

namespace {

using State = FuseServer::State;

// The receive buffer of the worker thread running the current handler (run()'s own loop). A
// write handler may take it over: the request's data then goes to the peer from where the
// kernel put it, and the worker gets a new buffer for its next request.
thread_local fuse_buf* tReceiveBuf = nullptr;
thread_local bool tReceiveBufTaken = false;

// Memory holding a write request's data, for Disk::writeAsync: the worker's receive buffer
// (libfuse allocated it with malloc), or a copy if the data is not in it.
IoBuffer takeWriteBuffer(const char* data, size_t size) {
  fuse_buf* b = tReceiveBuf;
  if (b != nullptr && !tReceiveBufTaken && b->mem != nullptr && !(b->flags & FUSE_BUF_IS_FD)) {
    const char* mem = static_cast<const char*>(b->mem);
    if (data >= mem && data + size <= mem + b->size) {
      tReceiveBufTaken = true;
      return IoBuffer(static_cast<char*>(b->mem), std::free);
    }
  }
  IoBuffer copy(static_cast<char*>(std::malloc(std::max<size_t>(size, 1))), std::free);
  if (copy) std::memcpy(copy.get(), data, size);
  return copy;
}

State* stateOf(fuse_req_t req) { return static_cast<State*>(fuse_req_userdata(req)); }

// A Disk's -errno as the errno the kernel (and the loop device above) sees.
int replyErrno(ssize_t r) {
  if (r == -EROFS || r == -ENOSPC || r == -EINVAL) return static_cast<int>(-r);
  return EIO;
}

void opInit(void* userdata, fuse_conn_info* conn) {
  auto* s = static_cast<State*>(userdata);
  conn->max_write = kMaxIoBytes;
  conn->max_read = kMaxIoBytes;
  conn->max_readahead = 0;  // direct_io files: the page cache is not used
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->want &= ~FUSE_CAP_SPLICE_READ;  // run()'s loop hands out memory buffers only
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  unsigned bg = s->options.maxBackground;
  if (bg == 0) bg = std::max(12u, static_cast<unsigned>(s->options.threads));
  conn->max_background = bg;
  conn->congestion_threshold = std::max(1u, bg * 3 / 4);
  spdlog::info("fuse: connection {} initialized (max_write {}, max_background {})", s->connection,
               conn->max_write, bg);
}

void opLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  State* s = stateOf(req);
  InflightGuard g(s->inflight, "lookup");
  if (parent != kRootIno) return (void)fuse_reply_err(req, ENOENT);
  auto ino = s->inodeOf(name);
  if (!ino) {
    if (ino.error().code != ENOENT) spdlog::warn("fuse: lookup {}: {}", name, ino.error().message);
    return (void)fuse_reply_err(req, ino.error().code == ENOENT ? ENOENT : EIO);
  }
  fuse_entry_param e{};
  e.ino = *ino;
  e.generation = 1;
  e.attr = s->attrOf(*ino);
  e.attr_timeout = kAttrTimeoutS;
  e.entry_timeout = kAttrTimeoutS;
  fuse_reply_entry(req, &e);
}

void opGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  State* s = stateOf(req);
  if (ino != kRootIno && !s->disk(ino)) return (void)fuse_reply_err(req, ENOENT);
  struct stat st = s->attrOf(ino);
  fuse_reply_attr(req, &st, kAttrTimeoutS);
}

// Only no-op changes (the loop device makes none); the size of a disk is the disk's.
void opSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet, fuse_file_info*) {
  State* s = stateOf(req);
  if (ino != kRootIno && !s->disk(ino)) return (void)fuse_reply_err(req, ENOENT);
  struct stat st = s->attrOf(ino);
  if ((toSet & FUSE_SET_ATTR_SIZE) && attr->st_size != st.st_size) {
    return (void)fuse_reply_err(req, EPERM);
  }
  fuse_reply_attr(req, &st, kAttrTimeoutS);
}

void opReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  State* s = stateOf(req);
  if (ino != kRootIno) return (void)fuse_reply_err(req, ENOTDIR);
  std::vector<std::pair<std::string, fuse_ino_t>> entries = {{".", kRootIno}, {"..", kRootIno}};
  for (const std::string& name : s->backend.names()) {
    if (auto i = s->inodeOf(name)) entries.emplace_back(name, *i);
  }
  // All entries in one buffer; the offset of an entry is where the next one starts.
  std::vector<char> buf;
  for (const auto& [name, i] : entries) {
    struct stat st {};
    st.st_ino = i;
    st.st_mode = i == kRootIno ? S_IFDIR : S_IFREG;
    size_t len = fuse_add_direntry(req, nullptr, 0, name.c_str(), nullptr, 0);
    size_t at = buf.size();
    buf.resize(at + len);
    fuse_add_direntry(req, buf.data() + at, len, name.c_str(), &st, static_cast<off_t>(buf.size()));
  }
  if (off < 0 || static_cast<size_t>(off) >= buf.size())
    return (void)fuse_reply_buf(req, nullptr, 0);
  fuse_reply_buf(req, buf.data() + off, std::min(size, buf.size() - static_cast<size_t>(off)));
}

void opOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  State* s = stateOf(req);
  std::shared_ptr<Disk> d = s->disk(ino);
  if (!d) return (void)fuse_reply_err(req, ino == kRootIno ? EISDIR : ENOENT);
  if ((fi->flags & O_ACCMODE) != O_RDONLY && d->readOnly()) return (void)fuse_reply_err(req, EROFS);
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->fh = ino;
  fuse_reply_open(req, fi);
}

void opRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  State* s = stateOf(req);
  std::shared_ptr<Disk> d = s->disk(ino);
  if (!d) return (void)fuse_reply_err(req, ENOENT);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  if (d->async()) {  // answered from the completion, straight from the Disk's buffer
    uint64_t id = s->beginAsync("read", static_cast<uint64_t>(off), size);
    d->readAsync(size, static_cast<uint64_t>(off), [s, req, id](ssize_t n, const char* data) {
      if (n < 0) {
        fuse_reply_err(req, replyErrno(n));
      } else {
        fuse_reply_buf(req, data, static_cast<size_t>(n));
      }
      s->endAsync(id);
    });
    return;
  }
  InflightGuard g(s->inflight, "read", static_cast<uint64_t>(off), size);
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  ssize_t n = d->read(buf.data(), size, static_cast<uint64_t>(off));
  if (n < 0) return (void)fuse_reply_err(req, replyErrno(n));
  fuse_reply_buf(req, buf.data(), static_cast<size_t>(n));
}

void opWrite(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size, off_t off,
             fuse_file_info*) {
  State* s = stateOf(req);
  std::shared_ptr<Disk> d = s->disk(ino);
  if (!d) return (void)fuse_reply_err(req, ENOENT);
  if (off < 0) return (void)fuse_reply_err(req, EINVAL);
  if (d->async()) {
    IoBuffer owner = takeWriteBuffer(data, size);
    if (!owner) return (void)fuse_reply_err(req, ENOMEM);
    uint64_t id = s->beginAsync("write", static_cast<uint64_t>(off), size);
    d->writeAsync(std::move(owner), data, size, static_cast<uint64_t>(off),
                  [s, req, id](ssize_t n, const char*) {
                    if (n < 0) {
                      fuse_reply_err(req, replyErrno(n));
                    } else {
                      fuse_reply_write(req, static_cast<size_t>(n));
                    }
                    s->endAsync(id);
                  });
    return;
  }
  InflightGuard g(s->inflight, "write", static_cast<uint64_t>(off), size);
  ssize_t n = d->write(data, size, static_cast<uint64_t>(off));
  if (n < 0) return (void)fuse_reply_err(req, replyErrno(n));
  fuse_reply_write(req, static_cast<size_t>(n));
}

void flushDisk(fuse_req_t req, fuse_ino_t ino, const char* what) {
  State* s = stateOf(req);
  std::shared_ptr<Disk> d = s->disk(ino);
  if (!d) return (void)fuse_reply_err(req, ENOENT);
  if (d->async()) {
    uint64_t id = s->beginAsync(what, 0, 0);
    d->flushAsync([s, req, id](ssize_t rc, const char*) {
      fuse_reply_err(req, rc < 0 ? replyErrno(rc) : 0);
      s->endAsync(id);
    });
    return;
  }
  InflightGuard g(s->inflight, what);
  int rc = d->flush();
  fuse_reply_err(req, rc < 0 ? replyErrno(rc) : 0);
}

void opFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) { flushDisk(req, ino, "flush"); }
void opFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) { flushDisk(req, ino, "fsync"); }
void opRelease(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

fuse_lowlevel_ops makeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = opInit;
  ops.lookup = opLookup;
  ops.getattr = opGetattr;
  ops.setattr = opSetattr;
  ops.readdir = opReaddir;
  ops.open = opOpen;
  ops.read = opRead;
  ops.write = opWrite;
  ops.flush = opFlush;
  ops.fsync = opFsync;
  ops.release = opRelease;
  return ops;
}

// One worker: reads a request from /dev/fuse into its buffer and runs its handler, until the
// session ends (umount or abort: every reader gets ENODEV). A handler that took the buffer
// (takeWriteBuffer) leaves the worker without one: libfuse allocates the next. A read error
// ends the session for all workers: the connection is aborted, which wakes every reader.
void serveRequests(State* s, std::atomic<int>& error) {
  fuse_buf buf{};
  while (!fuse_session_exited(s->session)) {
    int res = fuse_session_receive_buf(s->session, &buf);
    if (res == -EINTR) continue;
    if (res <= 0) {
      if (res < 0) {
        int expected = 0;
        if (error.compare_exchange_strong(expected, res)) {
          spdlog::error("fuse: reading /dev/fuse: {}; ending the session", std::strerror(-res));
          fuse_session_exit(s->session);
          Status st = abortFuseConnection(s->connection);
          if (!st) spdlog::error("fuse: abort: {}", st.error().message);
        }
      }
      break;
    }
    tReceiveBuf = &buf;
    tReceiveBufTaken = false;
    fuse_session_process_buf(s->session, &buf);
    tReceiveBuf = nullptr;
    if (tReceiveBufTaken) buf.mem = nullptr;  // the request owns it now
  }
  std::free(buf.mem);
}

// Every asynchronous request is answered by its Disk within the I/O deadline; until then the
// session (which the answers use) must stay.
void waitForAsync(State* s) {
  std::unique_lock lock(s->asyncMu);
  auto limit = std::chrono::milliseconds(s->options.ioTimeoutMs + s->options.watchdogMarginMs);
  if (!s->asyncCv.wait_for(lock, limit, [&] { return s->asyncOpen == 0; })) {
    spdlog::error("fuse: {} requests still unanswered {} ms after the session ended; waiting",
                  s->asyncOpen, limit.count());
    s->asyncCv.wait(lock, [&] { return s->asyncOpen == 0; });
  }
}

}  // namespace

FuseServer::FuseServer(Backend& backend, FuseServerOptions options)
    : s_(std::make_unique<State>(backend, std::move(options))) {
  clock_gettime(CLOCK_REALTIME, &s_->startTime);
}

FuseServer::~FuseServer() {
  if (s_->session != nullptr) fuse_session_destroy(s_->session);
}

Status FuseServer::mount() {
  const std::string& mp = s_->options.mountpoint;
  auto mounts = readMountInfo();
  if (!mounts) return mounts.error();
  if (auto m = mountAt(*mounts, mp)) {
    return makeError("mountpoint " + mp + " already has a " + m->fsType + " mount (id " +
                         std::to_string(m->mountId) + "); refusing to mount a second helper on it",
                     EBUSY);
  }
  std::string opts = "default_permissions,max_read=" + std::to_string(kMaxIoBytes) +
                     ",fsname=boxd-blockd,subtype=boxd-blockd";
  const char* argv[] = {"boxd-blockd", "-o", opts.c_str()};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  static const fuse_lowlevel_ops ops = makeOps();
  s_->session = fuse_session_new(&args, &ops, sizeof ops, s_.get());
  if (s_->session == nullptr) return makeError("fuse: create the session for " + mp + " failed");
  if (fuse_session_mount(s_->session, mp.c_str()) != 0) {
    return makeError("fuse: mount on " + mp + " failed (see the log)", EIO);
  }
  s_->mounted = true;
  mounts = readMountInfo();
  if (!mounts) return mounts.error();
  auto m = mountAt(*mounts, mp);
  if (!m || !isFuse(*m)) return makeError("fuse: our mount on " + mp + " is not in mountinfo", EIO);
  s_->connection = m->minor;
  spdlog::info("fuse: mounted on {} (connection {}, mount id {})", mp, m->minor, m->mountId);
  return okStatus();
}

unsigned FuseServer::connection() const { return s_->connection; }
bool FuseServer::aborted() const { return s_->aborted.load(); }

Status FuseServer::run() {
  int64_t limit = s_->options.ioTimeoutMs + s_->options.watchdogMarginMs;
  State* s = s_.get();
  Watchdog watchdog(
      s_->inflight, limit, std::clamp<int64_t>(limit / 4, 50, 1000), [s](const std::string& why) {
        spdlog::error("fuse: {}; aborting FUSE connection {} (last resort)", why, s->connection);
        s->aborted = true;
        Status st = abortFuseConnection(s->connection);
        if (!st) spdlog::error("fuse: abort: {}", st.error().message);
        if (s->options.onAbort) s->options.onAbort();
      });
  std::atomic<int> error{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, s_->options.threads); ++i) {
    workers.emplace_back([s, &error] { serveRequests(s, error); });
  }
  for (auto& w : workers) w.join();
  waitForAsync(s);
  int rc = error.load();
  spdlog::info("fuse: session on {} ended (rc {}){}; at most {} requests were in flight at once",
               s_->options.mountpoint, rc, s_->aborted ? " after an abort" : "",
               s_->inflight.peak());
  if (rc < 0) return makeError("fuse: session loop: " + std::string(strerror(-rc)), -rc);
  return okStatus();
}

Status FuseServer::unmount() {
  const std::string& mp = s_->options.mountpoint;
  auto mounts = readMountInfo();
  if (!mounts) return mounts.error();
  auto m = mountAt(*mounts, mp);
  if (!m || !isFuse(*m) || m->minor != s_->connection) {
    return makeError("unmount " + mp + ": our FUSE mount is not there", ENOENT);
  }
  if (::umount2(mp.c_str(), UMOUNT_NOFOLLOW) != 0) return sysError("umount", mp);
  return okStatus();
}

}  // namespace boxd::blockd
