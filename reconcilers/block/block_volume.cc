#include <cctype>

#include "common/hash.h"
#include "common/util.h"
#include "reconcilers/block/block_backend.h"

namespace boxd::reconcilers {

using nlohmann::json;

namespace {

// "<kind>-<sha8 of key>-<readable tail>": unique by key, readable, bounded.
std::string hostName(const BlockVolume& v, const std::string& key) {
  std::string kind = startsWith(v.backend, "rbd") ? "rbd" : "iscsi";
  std::string tail = kind == "rbd" ? v.pool + "-" + v.image : v.iqn;
  std::string clean;
  for (char ch : tail)
    clean += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' ? ch : '_';
  if (clean.size() > 40) clean = clean.substr(clean.size() - 40);
  return kind + "-" + sha256Hex(key).substr(0, 8) + "-" + clean;
}

}  // namespace

std::string sessionName(const BlockVolume& v) { return hostName(v, v.sessionKey); }

namespace {

// A Kubernetes monitor address for librados: "ip:6789" is msgr1 (the legacy port), "ip:3300" and
// any other explicit port msgr2; prefixed ("v1:", "v2:"), bracketed address vectors and bare
// hosts (librados then tries both default ports) are kept as written. An ambiguous "ip:port"
// would make librados try both protocols, which turns a refused key into a timeout.
std::string monAddress(const std::string& m) {
  if (startsWith(m, "v1:") || startsWith(m, "v2:") || startsWith(m, "[v")) return m;
  auto colon = m.rfind(':');
  bool hasPort = colon != std::string::npos && (m[0] != '[' || m.find(']') < colon) &&
                 (m[0] == '[' || m.find(':') == colon);
  if (!hasPort) return m;
  return (m.substr(colon + 1) == "6789" ? "v1:" : "v2:") + m;
}

}  // namespace

std::string monHost(const std::vector<std::string>& monitors) {
  std::string out;
  for (const auto& m : monitors) out += (out.empty() ? "" : ",") + monAddress(m);
  return out;
}

json blockVolumeToJson(const BlockVolume& v) {
  return {{"backend", v.backend},
          {"sessionKey", v.sessionKey},
          {"deviceKey", v.deviceKey},
          {"readOnly", v.readOnly},
          {"portals", v.portals},
          {"iqn", v.iqn},
          {"initiatorName", v.initiatorName},
          {"iscsiInterface", v.iscsiInterface},
          {"lun", v.lun},
          {"chapDiscovery", v.chapDiscovery},
          {"chapSession", v.chapSession},
          {"monitors", v.monitors},
          {"pool", v.pool},
          {"image", v.image},
          {"user", v.user},
          {"keyring", v.keyring},
          {"secretRef", v.secretRef},
          {"provisionBytes", v.provisionBytes},
          {"provisionFeatures", v.provisionFeatures}};
}

Result<BlockVolume> blockVolumeFromJson(const json& j) {
  if (!j.is_object()) return makeError("block step: \"volume\" must be an object", EINVAL);
  BlockVolume v;
  try {
    v.backend = j.at("backend").get<std::string>();
    v.sessionKey = j.at("sessionKey").get<std::string>();
    v.deviceKey = j.at("deviceKey").get<std::string>();
    v.readOnly = j.value("readOnly", false);
    v.portals = j.value("portals", std::vector<std::string>{});
    v.iqn = j.value("iqn", "");
    v.initiatorName = j.value("initiatorName", "");
    v.iscsiInterface = j.value("iscsiInterface", "default");
    v.lun = j.value("lun", int64_t{0});
    v.chapDiscovery = j.value("chapDiscovery", false);
    v.chapSession = j.value("chapSession", false);
    v.monitors = j.value("monitors", std::vector<std::string>{});
    v.pool = j.value("pool", "");
    v.image = j.value("image", "");
    v.user = j.value("user", "");
    v.keyring = j.value("keyring", "");
    v.secretRef = j.value("secretRef", "");
    v.provisionBytes = j.value("provisionBytes", int64_t{0});
    v.provisionFeatures = j.value("provisionFeatures", std::vector<std::string>{});
  } catch (const json::exception& e) {
    return makeError(std::string("block step: malformed volume: ") + e.what(), EINVAL);
  }
  return v;
}

// By the device, not the session: the same wherever the initiator name comes from.
std::string blockMountPath(const std::string& mountsDir, const BlockVolume& v) {
  return mountsDir + "/" + hostName(v, v.deviceKey) +
         (startsWith(v.backend, "iscsi") ? "-lun" + std::to_string(v.lun) : "");
}

std::string describeBlockVolume(const BlockVolume& v) {
  if (startsWith(v.backend, "rbd")) return "rbd " + v.pool + "/" + v.image;
  std::string portals;
  for (const auto& p : v.portals) portals += (portals.empty() ? "" : ",") + p;
  return "iscsi " + v.iqn + " lun " + std::to_string(v.lun) + " via " + portals;
}

}  // namespace boxd::reconcilers
