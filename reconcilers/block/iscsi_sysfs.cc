#include "reconcilers/block/iscsi_sysfs.h"

#include <cinttypes>
#include <cstdio>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

// "…/platform/host3/session1" -> 3: the session's parent device is its SCSI host.
int hostOf(const std::string& sessionClassDir) {
  auto dev = sysfs::realPath(sessionClassDir + "/device");
  if (!dev) return -1;
  auto slash = dev->rfind('/');
  if (slash == std::string::npos || slash == 0) return -1;
  std::string parent = sysfs::baseName(dev->substr(0, slash));
  if (!startsWith(parent, "host") || parent.size() == 4) return -1;
  std::string digits = parent.substr(4);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoi(digits);
}

std::optional<IscsiPortal> portalOf(const std::string& sysRoot, const std::string& session) {
  std::string id = session.substr(7);  // after "session"
  std::string connDir = sysRoot + "/class/iscsi_connection";
  for (const auto& conn : sysfs::list(connDir)) {
    if (!startsWith(conn, "connection" + id + ":")) continue;
    std::string dir = connDir + "/" + conn;
    std::string address = sysfs::readOr(dir + "/persistent_address");
    std::string port = sysfs::readOr(dir + "/persistent_port");
    if (address.empty()) address = sysfs::readOr(dir + "/address");
    if (port.empty()) port = sysfs::readOr(dir + "/port");
    if (address.empty() || port.empty()) continue;
    return IscsiPortal{address, port};
  }
  return std::nullopt;
}

}  // namespace

std::vector<IscsiSession> listIscsiSessions(const std::string& sysRoot) {
  std::vector<IscsiSession> out;
  std::string classDir = sysRoot + "/class/iscsi_session";
  for (const auto& name : sysfs::list(classDir)) {
    if (!startsWith(name, "session") || name.size() == 7) continue;
    std::string dir = classDir + "/" + name;
    IscsiSession s;
    s.name = name;
    s.target = sysfs::readOr(dir + "/targetname");
    s.iface = sysfs::readOr(dir + "/ifacename");
    s.host = hostOf(dir);
    auto portal = portalOf(sysRoot, name);
    if (s.target.empty() || !portal) continue;  // a session being torn down
    s.portal = *portal;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> scsiDisksOf(const std::string& sysRoot, int host, int64_t lun) {
  std::vector<std::string> out;
  if (host < 0) return out;
  std::string classDir = sysRoot + "/class/scsi_device";
  std::string prefix = std::to_string(host) + ":";
  std::string suffix = ":" + std::to_string(lun);
  for (const auto& hctl : sysfs::list(classDir)) {
    if (!startsWith(hctl, prefix) || !endsWith(hctl, suffix)) continue;
    if (split(hctl, ':').size() != 4) continue;
    for (const auto& disk : sysfs::list(classDir + "/" + hctl + "/device/block"))
      out.push_back(disk);
  }
  return out;
}

std::optional<MultipathMap> multipathOver(const std::string& sysRoot,
                                          const std::vector<std::string>& disks) {
  std::string blockDir = sysRoot + "/block";
  for (const auto& dm : sysfs::list(blockDir)) {
    if (!startsWith(dm, "dm-")) continue;
    std::string uuid = sysfs::readOr(blockDir + "/" + dm + "/dm/uuid");
    if (!uuid.empty() && !startsWith(uuid, "mpath-")) continue;  // LVM, crypt: not a path map
    for (const auto& slave : sysfs::list(blockDir + "/" + dm + "/slaves")) {
      for (const auto& disk : disks)
        if (slave == disk) return MultipathMap{dm, sysfs::readOr(blockDir + "/" + dm + "/dm/name")};
    }
  }
  return std::nullopt;
}

std::string iscsiByPathName(const IscsiPortal& portal, const std::string& iqn, int64_t lun) {
  // udev's path_id writes LUNs above 255 in SAM's flat format.
  std::string lunPart;
  if (lun >= 0 && lun < 256) {
    lunPart = "lun-" + std::to_string(lun);
  } else {
    char buf[64];
    auto u = static_cast<uint64_t>(lun);
    std::snprintf(buf, sizeof buf, "lun-0x%04" PRIx64 "%04" PRIx64 "00000000", u & 0xffff,
                  (u >> 16) & 0xffff);
    lunPart = buf;
  }
  return "ip-" + portal.arg() + "-iscsi-" + iqn + "-" + lunPart;
}

}  // namespace boxd::reconcilers
