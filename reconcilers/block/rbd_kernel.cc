#include "reconcilers/block/rbd_kernel.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

// librbd's feature bits (RBD_FEATURE_*), with whether `rbd feature disable` can drop them.
struct Feature {
  uint64_t bit;
  const char* name;
  bool disable;
};
constexpr Feature kFeatures[] = {
    {1ULL << 0, "layering", false},      {1ULL << 1, "striping", false},
    {1ULL << 2, "exclusive-lock", true}, {1ULL << 3, "object-map", true},
    {1ULL << 4, "fast-diff", true},      {1ULL << 5, "deep-flatten", true},
    {1ULL << 6, "journaling", true},     {1ULL << 7, "data-pool", false},
    {1ULL << 8, "operations", false},    {1ULL << 9, "migrating", false},
    {1ULL << 10, "non-primary", false},  {1ULL << 11, "dirty-cache", false},
};
// Kernels before 4.11 have no supported_features file; they map layering + striping v2.
constexpr uint64_t kOldKernelFeatures = 0x3;

constexpr const char* kMsModes[] = {"crc", "secure", "prefer-crc", "prefer-secure"};

struct MonAddr {
  std::string addr;  // "h:p" / "[v6]:p"
  int version;       // 1 or 2
};

std::string withPort(const std::string& hostPort, const std::string& port, bool* hadPort) {
  std::string h = hostPort;
  if (!h.empty() && h[0] == '[') {
    auto close = h.find(']');
    *hadPort = close != std::string::npos && close + 1 < h.size();
    return *hadPort ? h : h + ":" + port;
  }
  auto colons = std::count(h.begin(), h.end(), ':');
  if (colons > 1) {  // bare IPv6, no port
    *hadPort = false;
    return "[" + h + "]:" + port;
  }
  *hadPort = colons == 1;
  return *hadPort ? h : h + ":" + port;
}

// One token of a mon_host list into its kernel address(es).
void parseMon(std::string token, std::vector<MonAddr>& out) {
  token = trim(token);
  if (token.empty()) return;
  bool hadPort = false;
  if (startsWith(token, "v1:")) {
    out.push_back({withPort(token.substr(3), "6789", &hadPort), 1});
  } else if (startsWith(token, "v2:")) {
    out.push_back({withPort(token.substr(3), "3300", &hadPort), 2});
  } else {
    std::string a = withPort(token, "6789", &hadPort);
    if (!hadPort) {  // librados tries both default ports
      out.push_back({withPort(token, "3300", &hadPort), 2});
      out.push_back({a, 1});
    } else {
      out.push_back({a, endsWith(a, ":3300") ? 2 : 1});
    }
  }
}

bool plainToken(const std::string& s) {
  return !s.empty() && s.find_first_of(" \t\n\r,=\\") == std::string::npos;
}

bool base64Text(const std::string& s) {
  return !s.empty() && s.find_first_not_of(
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                           "0123456789+/=") == std::string::npos;
}

std::string imageName(const BlockVolume& v) { return v.pool + "/" + v.image; }

}  // namespace

Result<KrbdMonitors> krbdMonitors(const std::vector<std::string>& monitors,
                                  const std::string& msMode) {
  std::vector<MonAddr> all;
  for (auto entry : monitors) {
    entry = trim(entry);
    if (startsWith(entry, "[v") && endsWith(entry, "]")) entry = entry.substr(1, entry.size() - 2);
    for (const auto& token : split(entry, ',')) parseMon(token, all);
  }
  bool legacy;
  if (msMode == "auto" || msMode.empty()) {
    legacy = std::any_of(all.begin(), all.end(), [](const MonAddr& m) { return m.version == 1; });
  } else if (msMode == "legacy") {
    legacy = true;
  } else if (std::find(std::begin(kMsModes), std::end(kMsModes), msMode) != std::end(kMsModes)) {
    legacy = false;
  } else {
    return makeError("krbd ms_mode \"" + msMode +
                         "\" is not one of auto, legacy, crc, secure, prefer-crc, prefer-secure",
                     EINVAL);
  }
  KrbdMonitors out;
  std::vector<std::string> seen;
  for (const auto& m : all) {
    if (m.version != (legacy ? 1 : 2)) continue;
    if (m.addr.find_first_of(" \t\n/") != std::string::npos)
      return makeError("ceph monitor address " + m.addr + " is malformed", EINVAL);
    if (std::find(seen.begin(), seen.end(), m.addr) != seen.end()) continue;
    seen.push_back(m.addr);
    out.addresses += (out.addresses.empty() ? "" : ",") + m.addr;
  }
  if (out.addresses.empty()) {
    std::string given;
    for (const auto& m : monitors) given += (given.empty() ? "" : " ") + m;
    return makeError("ceph monitors \"" + given + "\" have no " +
                         (legacy ? "msgr1 (v1) address, which krbd needs without ms_mode"
                                 : "msgr2 (v2) address, which krbd needs with ms_mode"),
                     EINVAL);
  }
  if (!legacy) out.msMode = (msMode == "auto" || msMode.empty()) ? "prefer-crc" : msMode;
  return out;
}

std::string rbdFeatureNames(uint64_t features) {
  std::string out;
  for (const auto& f : kFeatures) {
    if ((features & f.bit) == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(f.name);
    features &= ~f.bit;
  }
  for (int b = 0; b < 64; ++b)
    if (features & (1ULL << b)) out += (out.empty() ? "" : ", ") + ("bit " + std::to_string(b));
  return out;
}

KernelRbdBackend::KernelRbdBackend(RbdFeaturesFn imageFeatures, BlockCredentialsFn credentials,
                                   KernelRbdOptions options)
    : imageFeatures_(std::move(imageFeatures)),
      credentials_(std::move(credentials)),
      opt_(std::move(options)) {}

// krbd has no session: the mapping is the device.
Status KernelRbdBackend::openSession(const BlockVolume&, const BlockCredentials&) { return {}; }
Status KernelRbdBackend::closeSession(const BlockVolume&) { return {}; }
Result<bool> KernelRbdBackend::sessionOpen(const BlockVolume&) { return true; }

std::string KernelRbdBackend::busFile(const std::string& singleMajor,
                                      const std::string& plain) const {
  std::string bus = opt_.sysRoot + "/bus/rbd/";
  return sysfs::exists(bus + singleMajor) ? bus + singleMajor : bus + plain;
}

// Mappings of the image's head in the default namespace, by device id.
std::vector<std::string> KernelRbdBackend::mappingsOf(const BlockVolume& v) const {
  std::vector<std::string> ids;
  std::string devices = opt_.sysRoot + "/bus/rbd/devices";
  for (const auto& id : sysfs::list(devices)) {
    std::string dir = devices + "/" + id;
    if (sysfs::readOr(dir + "/pool") != v.pool || sysfs::readOr(dir + "/name") != v.image) continue;
    if (sysfs::readOr(dir + "/current_snap", "-") != "-") continue;
    if (!sysfs::readOr(dir + "/pool_ns").empty()) continue;
    ids.push_back(id);
  }
  return ids;
}

Status KernelRbdBackend::checkFeatures(const BlockVolume& v, const BlockCredentials& creds) const {
  auto features = imageFeatures_(v, creds);
  if (!features.ok())
    return features.error().wrap("read the features of rbd image " + imageName(v));
  uint64_t supported = kOldKernelFeatures;
  std::string file = opt_.sysRoot + "/bus/rbd/supported_features";
  if (auto text = sysfs::read(file); text.ok())
    supported = std::strtoull(text->c_str(), nullptr, 16);
  uint64_t unsupported = *features & ~supported;
  if (unsupported == 0) return {};
  std::string disable;
  bool others = false;
  for (const auto& f : kFeatures) {
    if ((unsupported & f.bit) == 0) continue;
    if (f.disable) {
      disable += std::string(" ") + f.name;
    } else {
      others = true;
    }
  }
  std::string msg = "rbd image " + imageName(v) + " uses features this kernel's rbd driver does " +
                    "not support: " + rbdFeatureNames(unsupported) + " (the map would fail with " +
                    "\"image uses unsupported features\")";
  if (!disable.empty()) msg += "; fix: rbd feature disable " + imageName(v) + disable;
  if (others) msg += "; the others cannot be disabled: use the rbd-user backend or a newer kernel";
  return makeError(msg, ENOTSUP);
}

Result<std::string> KernelRbdBackend::addLine(const BlockVolume& v,
                                              const BlockCredentials& creds) const {
  if (!plainToken(v.pool) || !plainToken(v.image) || v.pool.find('/') != std::string::npos)
    return makeError("rbd image \"" + imageName(v) +
                         "\": pool or image name has a blank, comma, "
                         "= or \\ the kernel cannot take",
                     EINVAL);
  std::string user = startsWith(v.user, "client.") ? v.user.substr(7) : v.user;
  if (user.empty()) user = "admin";
  if (!plainToken(user)) return makeError("rbd image " + imageName(v) + ": bad user name", EINVAL);
  if (!creds.cephKey.empty() && !base64Text(creds.cephKey))
    return makeError("rbd image " + imageName(v) + ": the cephx key is not base64 text", EINVAL);
  auto mons = krbdMonitors(v.monitors, opt_.msMode);
  if (!mons.ok()) return mons.error().wrap("rbd image " + imageName(v));
  std::string options = "name=" + user;
  if (!creds.cephKey.empty()) options += ",secret=" + creds.cephKey;
  if (!mons->msMode.empty()) options += ",ms_mode=" + mons->msMode;
  options += ",mount_timeout=" + std::to_string(opt_.mapTimeoutS);
  if (v.readOnly) options += ",ro";
  return mons->addresses + " " + options + " " + v.pool + " " + v.image + " -";
}

Result<std::string> KernelRbdBackend::attachDevice(const BlockVolume& v) {
  if (auto ids = mappingsOf(v); !ids.empty()) {
    bool ro = sysfs::readOr(opt_.sysRoot + "/block/rbd" + ids[0] + "/ro") == "1";
    if (ro && !v.readOnly)
      return makeError("rbd image " + imageName(v) + " is mapped read-only as " + opt_.devRoot +
                           "/rbd" + ids[0] + "; unmap it before a read-write attach",
                       EROFS);
    return opt_.devRoot + "/rbd" + ids[0];
  }
  auto creds = credentials_(v);
  if (!creds.ok()) return creds.error().wrap("map rbd image " + imageName(v));
  BOXD_TRY(checkFeatures(v, *creds));
  auto line = addLine(v, *creds);
  if (!line.ok()) return line.error();
  std::vector<std::string> before = sysfs::list(opt_.sysRoot + "/bus/rbd/devices");
  std::string add = busFile("add_single_major", "add");
  auto st = opt_.writeSysfs(add, *line);
  if (!st.ok()) {
    // The error names the file and errno, never the line (it holds the key).
    std::string hint = st.error().code == ENOENT   ? " (no such pool or image?)"
                       : st.error().code == EIO    ? " (see dmesg: features, auth or monitors)"
                       : st.error().code == EACCES ? " (cephx refused the key?)"
                                                   : "";
    return makeError("map rbd image " + imageName(v) + ": " + st.error().message + hint,
                     st.error().code);
  }
  return waitForNewMapping(v, before);
}

Result<std::string> KernelRbdBackend::waitForNewMapping(
    const BlockVolume& v, const std::vector<std::string>& before) const {
  int64_t polls = std::max<int64_t>(1, opt_.deviceWaitMs / std::max<int64_t>(1, opt_.pollMs));
  for (int64_t i = 0;; ++i) {
    for (const auto& id : mappingsOf(v)) {
      if (std::find(before.begin(), before.end(), id) != before.end()) continue;
      std::string dev = opt_.devRoot + "/rbd" + id;
      if (sysfs::exists(dev)) return dev;
    }
    if (i >= polls) break;
    opt_.sleep(opt_.pollMs);
  }
  return makeError("map rbd image " + imageName(v) + ": the kernel accepted the map but no new " +
                       "/dev/rbd<id> for it appeared within " + std::to_string(opt_.deviceWaitMs) +
                       " ms",
                   ETIMEDOUT);
}

Status KernelRbdBackend::detachDevice(const BlockVolume& v) {
  for (const auto& id : mappingsOf(v)) {
    std::string remove = busFile("remove_single_major", "remove");
    auto st = opt_.writeSysfs(remove, id);
    if (st.ok() || st.error().code == ENOENT) continue;
    std::string dev = opt_.devRoot + "/rbd" + id;
    if (st.error().code == EBUSY)
      return makeError("unmap " + dev + " (rbd image " + imageName(v) +
                           "): the device is in use (mounted or open)",
                       EBUSY);
    return st.error().wrap("unmap " + dev + " (rbd image " + imageName(v) + ")");
  }
  return {};
}

Result<std::optional<std::string>> KernelRbdBackend::findDevice(const BlockVolume& v) {
  auto ids = mappingsOf(v);
  if (ids.empty()) return std::optional<std::string>();
  return std::optional<std::string>(opt_.devRoot + "/rbd" + ids[0]);
}

}  // namespace boxd::reconcilers
