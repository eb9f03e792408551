// What the kernel says about iSCSI sessions and their SCSI disks, read from sysfs (the root is a
// parameter, so unit tests use a fake tree). The layout, as scsi_transport_iscsi builds it:
//
//   <sys>/class/iscsi_session/sessionN/{targetname,ifacename}
//   <sys>/class/iscsi_session/sessionN/device -> .../hostH/sessionN      (H: the SCSI host)
//   <sys>/class/iscsi_connection/connectionN:C/{persistent_address,persistent_port}
//   <sys>/class/scsi_host/hostH/scan                                      ("C T L" scans one LUN)
//   <sys>/class/scsi_device/H:C:T:L/device/block/sdX                      (the disk of a LUN)
//   <sys>/block/sdX/device/delete                                         ("1" removes it)
//   <sys>/block/dm-N/{slaves/sdX,dm/name,dm/uuid}                         (multipath: uuid mpath-*)
//   <sys>/module/dm_multipath                                             (multipath target loaded)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reconcilers/block/iscsi_node_db.h"

namespace boxd::reconcilers {

struct IscsiSession {
  std::string name;  // "session3"
  std::string target;
  IscsiPortal portal;  // the connection's persistent address and port
  std::string iface;   // "" when the kernel does not say
  int host = -1;       // SCSI host number, -1 when not found
};

std::vector<IscsiSession> listIscsiSessions(const std::string& sysRoot);

// The block devices ("sdb") of LUN `lun` on SCSI host `host`.
std::vector<std::string> scsiDisksOf(const std::string& sysRoot, int host, int64_t lun);

struct MultipathMap {
  std::string dm;    // "dm-2"
  std::string name;  // its device-mapper name ("mpatha"), or "" if sysfs does not say
};

// The dm-multipath map built on any of `disks`, if there is one.
std::optional<MultipathMap> multipathOver(const std::string& sysRoot,
                                          const std::vector<std::string>& disks);

// udev's by-path name of a LUN behind a portal ("ip-127.0.0.1:3260-iscsi-iqn...-lun-1").
std::string iscsiByPathName(const IscsiPortal& portal, const std::string& iqn, int64_t lun);

}  // namespace boxd::reconcilers
