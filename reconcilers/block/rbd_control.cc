#include "reconcilers/block/rbd_control.h"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "blockd/ceph_client.h"
#include "reconcilers/block/userspace_backend.h"

namespace boxd::reconcilers {

namespace {

constexpr std::pair<const char*, uint64_t> kFeatures[] = {
    {RBD_FEATURE_NAME_LAYERING, RBD_FEATURE_LAYERING},
    {RBD_FEATURE_NAME_STRIPINGV2, RBD_FEATURE_STRIPINGV2},
    {RBD_FEATURE_NAME_EXCLUSIVE_LOCK, RBD_FEATURE_EXCLUSIVE_LOCK},
    {RBD_FEATURE_NAME_OBJECT_MAP, RBD_FEATURE_OBJECT_MAP},
    {RBD_FEATURE_NAME_FAST_DIFF, RBD_FEATURE_FAST_DIFF},
    {RBD_FEATURE_NAME_DEEP_FLATTEN, RBD_FEATURE_DEEP_FLATTEN},
    {RBD_FEATURE_NAME_JOURNALING, RBD_FEATURE_JOURNALING},
    {RBD_FEATURE_NAME_DATA_POOL, RBD_FEATURE_DATA_POOL},
};

Error rbdError(const std::string& what, int rc) {
  return makeError(what + ": " + std::strerror(-rc), -rc);
}

struct Cluster {
  blockd::CephClient client;
  rados_ioctx_t io = nullptr;
  ~Cluster() {
    if (io != nullptr) rados_ioctx_destroy(io);
  }
};

struct Image {
  rbd_image_t img = nullptr;
  ~Image() {
    if (img != nullptr) rbd_close(img);
  }
};

Status connect(Cluster& cl, const BlockVolume& v, const std::string& key, int64_t timeoutMs) {
  BOXD_TRY(cl.client.connect({monHost(v.monitors), v.user, key, timeoutMs, timeoutMs}));
  int rc = rados_ioctx_create(cl.client.get(), v.pool.c_str(), &cl.io);
  if (rc == -ENOENT)
    return makeError(
        "pool \"" + v.pool + "\" does not exist in the ceph cluster at " + monHost(v.monitors),
        ENOENT);
  if (rc < 0) return rbdError("open pool " + v.pool, rc);
  return {};
}

Status create(Cluster& cl, const BlockVolume& v) {
  auto bits = rbdFeatureBits(v.provisionFeatures.empty()
                                 ? std::vector<std::string>{"layering", "exclusive-lock"}
                                 : v.provisionFeatures);
  if (!bits.ok()) return bits.error();
  int order = 0;
  int rc =
      rbd_create2(cl.io, v.image.c_str(), static_cast<uint64_t>(v.provisionBytes), *bits, &order);
  if (rc == -EEXIST) return {};  // created meanwhile by someone else: use it as it is
  if (rc == -EPERM || rc == -EACCES)
    return makeError("create image " + v.pool + "/" + v.image + ": client." + v.user +
                         " may not create images (its caps need profile rbd on the pool)",
                     EACCES);
  if (rc < 0) return rbdError("create image " + v.pool + "/" + v.image, rc);
  return {};
}

}  // namespace

Result<uint64_t> rbdFeatureBits(const std::vector<std::string>& names) {
  uint64_t bits = 0;
  for (const auto& n : names) {
    bool known = false;
    for (const auto& [name, bit] : kFeatures) {
      if (n == name) {
        bits |= bit;
        known = true;
      }
    }
    if (!known) return makeError("unknown RBD image feature \"" + n + "\"", EINVAL);
  }
  return bits;
}

Result<RbdImageInfo> RbdControl::inspect(const BlockVolume& v, const std::string& key) {
  Cluster cl;
  BOXD_TRY(connect(cl, v, key, timeoutMs_));
  RbdImageInfo info;
  Image im;
  int rc = rbd_open_read_only(cl.io, v.image.c_str(), &im.img, nullptr);
  if (rc == -ENOENT && v.provisionBytes > 0) {
    BOXD_TRY(create(cl, v));
    info.created = true;
    rc = rbd_open_read_only(cl.io, v.image.c_str(), &im.img, nullptr);
  }
  std::string name = v.pool + "/" + v.image;
  if (rc == -ENOENT)
    return makeError("image " + name +
                         " does not exist (create it with `rbd create`, or let boxd "
                         "create it: annotation provision.rbd.boxd.io/<volume>, docs/storage.md)",
                     ENOENT);
  if (rc < 0) return rbdError("open image " + name, rc);
  rc = rbd_get_size(im.img, &info.sizeBytes);
  if (rc == 0) rc = rbd_get_features(im.img, &info.features);
  if (rc < 0) return rbdError("read image " + name, rc);
  rbd_image_watcher_t watchers[16];
  size_t n = 16;
  if (rbd_watchers_list(im.img, watchers, &n) == 0) {
    for (size_t i = 0; i < n; ++i)
      info.watchers.push_back(std::string(watchers[i].addr) + " (client " +
                              std::to_string(watchers[i].id) + ")");
    rbd_watchers_list_cleanup(watchers, n);
  }
  return info;
}

Status RbdControl::prepare(const BlockVolume& v, const std::string& key) {
  auto info = inspect(v, key);
  if (!info.ok()) return info.error();
  if (info->sizeBytes == 0)
    return makeError("image " + v.pool + "/" + v.image + " has size 0", EINVAL);
  if (!v.readOnly && !info->watchers.empty()) {
    std::string who;
    for (const auto& w : info->watchers) who += (who.empty() ? "" : ", ") + w;
    return makeError("image " + v.pool + "/" + v.image + " is open by another client (" + who +
                         "); a client that crashed is dropped by Ceph after "
                         "osd_client_watch_timeout (30 s by default), boxd retries",
                     EBUSY);
  }
  return {};
}

}  // namespace boxd::reconcilers
