#include "reconcilers/block/block_steps.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <thread>

#include "blockd/mountinfo.h"
#include "common/hash.h"
#include "common/util.h"
#include "reconcilers/block/filesystem.h"
#include "reconcilers/block/userspace_backend.h"
#include "reconcilers/host/host.h"
#include "reconcilers/host/mounter.h"

namespace boxd::reconcilers {

using nlohmann::json;

namespace {

std::string sessionRegKey(const BlockVolume& v) { return "session " + v.sessionKey; }
std::string deviceRegKey(const BlockVolume& v) { return "device " + v.deviceKey; }
std::string fsRegKey(const BlockVolume& v) { return "fs " + v.deviceKey; }

// The FUSE connection behind a mount (from mountinfo: stat fails with ENOTCONN on a dead one).
std::optional<unsigned> fuseConnection(const std::string& mountDir) {
  auto mounts = blockd::readMountInfo();
  if (!mounts.ok()) return std::nullopt;
  auto m = blockd::mountAt(*mounts, mountDir);
  if (!m || !blockd::isFuse(*m)) return std::nullopt;
  return m->minor;
}

// Runs fn; if it has not returned after ms, aborts the FUSE connection under the device so the
// blocked I/O fails and fn can finish. The last resort against a wedged userspace path.
Status withFuseWatchdog(const std::optional<unsigned>& conn, int64_t ms,
                        const std::function<Status()>& fn) {
  if (!conn) return fn();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread dog([&] {
    std::unique_lock l(mu);
    if (!cv.wait_for(l, std::chrono::milliseconds(ms), [&] { return done; }))
      (void)blockd::abortFuseConnection(*conn);
  });
  Status st = fn();
  {
    std::lock_guard l(mu);
    done = true;
  }
  cv.notify_all();
  dog.join();
  return st;
}

}  // namespace

BlockStep::BlockStep(BlockContext& ctx, Mounter& mounter, BlockVolume v, std::string user,
                     json extra)
    : ctx_(ctx),
      mounter_(mounter),
      v_(std::move(v)),
      user_(std::move(user)),
      extra_(std::move(extra)) {}

std::string BlockStep::resource() const {
  return describeBlockVolume(v_) + " (" + v_.backend + ")";
}

json BlockStep::params() const {
  json p = extra_.is_object() ? extra_ : json::object();
  p["volume"] = blockVolumeToJson(v_);
  p["user"] = user_;
  return p;
}

// ---- session --------------------------------------------------------------------------------

Result<bool> BlockSessionStep::observe() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  return (*b)->sessionOpen(v_);
}

Status BlockSessionStep::apply() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  return ctx_.registry.acquire(
      sessionRegKey(v_), {user_, v_.readOnly}, [&](const std::vector<BlockUser>&) -> Status {
        if (ctx_.userspace != nullptr && endsWith(v_.backend, "-user"))
          extra_["session"] = "boxd-blockd at " + ctx_.userspace->fuseMount(v_);
        auto open = (*b)->sessionOpen(v_);
        if (open.ok() && *open) return {};  // shared: join it
        auto creds = ctx_.credentials(v_);
        if (!creds.ok()) return creds.error();
        if (startsWith(v_.backend, "rbd") && ctx_.prepareRbdImage)
          BOXD_TRY(ctx_.prepareRbdImage(v_, *creds));
        return (*b)->openSession(v_, *creds);
      });
}

Status BlockSessionStep::undo() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  return ctx_.registry.release(sessionRegKey(v_), user_, [&] { return (*b)->closeSession(v_); });
}

// ---- device ---------------------------------------------------------------------------------

Result<bool> BlockDeviceStep::observe() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  auto dev = (*b)->findDevice(v_);
  if (!dev.ok()) return dev.error();
  return dev->has_value();
}

Status BlockDeviceStep::apply() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  return ctx_.registry.acquire(
      deviceRegKey(v_), {user_, v_.readOnly}, [&](const std::vector<BlockUser>& others) -> Status {
        for (const auto& o : others) {
          if (!o.readOnly || !v_.readOnly) {
            std::string pod = o.id.substr(0, o.id.find('/'));
            return makeError(describeBlockVolume(v_) + " is already attached " +
                                 (o.readOnly ? "read-only" : "read-write") + " for pod uid " + pod +
                                 " (volume " + o.id.substr(o.id.find('/') + 1) +
                                 "); a block volume is attached read-write at most once",
                             EBUSY);
          }
        }
        auto dev = (*b)->attachDevice(v_);
        if (!dev.ok()) return dev.error();
        extra_["device"] = *dev;
        return {};
      });
}

Status BlockDeviceStep::undo() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  return ctx_.registry.release(deviceRegKey(v_), user_, [&] { return (*b)->detachDevice(v_); });
}

// ---- filesystem -----------------------------------------------------------------------------

std::string BlockFsStep::mountPath() const {
  return extra_.value("mountPath", blockMountPath(ctx_.mountsDir, v_));
}

Result<bool> BlockFsStep::observe() { return mounter_.isMountPoint(mountPath()); }

Status BlockFsStep::apply() {
  auto b = ctx_.backend(v_.backend);
  if (!b.ok()) return b.error();
  std::string target = mountPath();
  std::string fsType = extra_.value("fsType", "ext4");
  return ctx_.registry.acquire(
      fsRegKey(v_), {user_, v_.readOnly}, [&](const std::vector<BlockUser>&) -> Status {
        auto mounted = mounter_.isMountPoint(target);
        if (!mounted.ok()) return mounted.error();
        if (*mounted) return {};
        auto dev = (*b)->findDevice(v_);
        if (!dev.ok()) return dev.error();
        if (!*dev) return makeError(describeBlockVolume(v_) + ": no device attached", ENODEV);
        // A device mounted anywhere else must not be formatted or checked under that mount.
        auto busy = deviceMounted(**dev);
        if (!busy.ok()) return busy.error();
        if (*busy) return makeError(**dev + " is already mounted elsewhere on this host", EBUSY);
        auto prep = prepareFilesystem(ctx_.runner, **dev, fsType, v_.readOnly, ctx_.toolTimeoutMs);
        if (!prep.ok()) return prep.error();
        extra_["formatted"] = prep->formatted;
        if (!prep->fsckNote.empty()) extra_["fsck"] = prep->fsckNote;
        BOXD_TRY(mkdirAll(target, 0700));
        unsigned long flags = MS_NOSUID | MS_NODEV | (v_.readOnly ? MS_RDONLY : 0);
        BOXD_TRY(mounter_.mount(**dev, target, fsType, flags, ""));
        extra_["device"] = **dev;
        return {};
      });
}

Status BlockFsStep::undo() {
  std::string target = mountPath();
  std::optional<unsigned> conn;
  if (ctx_.userspace != nullptr && endsWith(v_.backend, "-user"))
    conn = fuseConnection(ctx_.userspace->fuseMount(v_));
  return ctx_.registry.release(fsRegKey(v_), user_, [&]() -> Status {
    BOXD_TRY(withFuseWatchdog(conn, ctx_.unmountAbortMs, [&] { return mounter_.unmount(target); }));
    if (::rmdir(target.c_str()) != 0 && errno != ENOENT) return sysError("remove", target);
    return {};
  });
}

// ---- registry -------------------------------------------------------------------------------

bool isBlockStepKind(const std::string& kind) {
  return kind == "blocksession" || kind == "blockdevice" || kind == "blockfs";
}

Result<std::unique_ptr<Step>> blockStepFromParams(const std::string& kind, const json& params,
                                                  Host& host) {
  if (host.block == nullptr)
    return makeError(kind + " step: this boxd has no block volume support configured", ENOTSUP);
  if (!params.is_object() || !params.contains("volume") ||
      !params.value("user", json()).is_string())
    return makeError(kind + " step: params need \"volume\" and \"user\"", EINVAL);
  auto v = blockVolumeFromJson(params["volume"]);
  if (!v.ok()) return v.error();
  json extra = params;
  extra.erase("volume");
  extra.erase("user");
  std::string user = params["user"].get<std::string>();
  if (kind == "blocksession")
    return std::unique_ptr<Step>(new BlockSessionStep(*host.block, host.mounter, *v, user, extra));
  if (kind == "blockdevice")
    return std::unique_ptr<Step>(new BlockDeviceStep(*host.block, host.mounter, *v, user, extra));
  if (kind == "blockfs")
    return std::unique_ptr<Step>(new BlockFsStep(*host.block, host.mounter, *v, user, extra));
  return makeError("not a block step kind: " + kind, EINVAL);
}

std::optional<std::pair<std::string, BlockUser>> blockRegistryEntry(const std::string& kind,
                                                                    const json& params) {
  if (!isBlockStepKind(kind) || !params.is_object() || !params.contains("volume"))
    return std::nullopt;
  auto v = blockVolumeFromJson(params["volume"]);
  if (!v.ok() || !params.value("user", json()).is_string()) return std::nullopt;
  BlockUser u{params["user"].get<std::string>(), v->readOnly};
  if (kind == "blocksession") return std::pair{sessionRegKey(*v), u};
  if (kind == "blockdevice") return std::pair{deviceRegKey(*v), u};
  return std::pair{fsRegKey(*v), u};
}

}  // namespace boxd::reconcilers
