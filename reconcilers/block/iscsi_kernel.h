// iscsi-kernel: the kernel initiator through open-iscsi (iscsiadm + iscsid), as Kubernetes'
// in-tree plugin drives it, for hosts where <sys>/class/iscsi_transport/tcp exists.
//
//   openSession, for each portal without a session (one failing portal is a warning, all an error):
//     [chapDiscovery] iscsiadm -m discoverydb -t sendtargets -p P -I IF -o new
//                     discovery CHAP written into <db>/send_targets/<addr>,<port>/st_config
//                     iscsiadm -m discoverydb -t sendtargets -p P -I IF --discover
//     [otherwise]     iscsiadm -m node -T IQN -p P -I IF -o new
//     iscsiadm -m node -T IQN -p P -I IF -o update -n node.startup -v manual
//     iscsiadm -m node -T IQN -p P -I IF -o update -n node.session.scan -v manual
//     session auth (CHAP or None) written into <db>/nodes/IQN/<addr>,<port>,<tpgt>/IF (0600)
//     iscsiadm -m node -T IQN -p P -I IF --login                      (15: already logged in)
//   attachDevice: "0 0 LUN" > <sys>/class/scsi_host/hostH/scan for each session's host, then poll
//     (bounded) for the LUN's disk on every path: sysfs H:C:T:L/device/block or udev's by-path
//     link; one path -> /dev/sdX; several -> the dm-multipath map over them (read-only may fall
//     back to one path with a warning; read-write without multipath is refused)
//   detachDevice: [multipath] blockdev --flushbufs /dev/mapper/M; multipath -f M
//                 each path: blockdev --flushbufs /dev/sdX; "1" > <sys>/block/sdX/device/delete
//   closeSession: iscsiadm ... --logout (21: not logged in), iscsiadm ... -o delete (21: no record)
//
// Secrets never go on an argv: CHAP settings are written into the record files (iscsi_node_db.h).
#pragma once

#include <functional>
#include <string>

#include "reconcilers/block/block_backend.h"
#include "reconcilers/block/block_sysfs.h"
#include "reconcilers/block/command_runner.h"
#include "reconcilers/block/iscsi_sysfs.h"

namespace boxd::reconcilers {

struct KernelIscsiOptions {
  std::string sysRoot = "/sys";
  std::string devRoot = "/dev";
  std::string iscsiDbRoot = "/etc/iscsi";   // iscsiadm's database and initiatorname.iscsi
  std::string lockDir = "/run/lock/iscsi";  // iscsiadm's database lock
  int64_t deviceWaitMs = 10000;             // for a LUN's disk after a scan, and for multipath
  int64_t pollMs = 100;
  int64_t commandTimeoutMs = 30000;  // record edits, blockdev, multipath
  int64_t loginTimeoutMs = 120000;   // --login, --logout, --discover (iscsid retries within)
  SleepFn sleep = sleepMs;
  SysfsWriteFn writeSysfs = writeSysfsAttr;
  // Degraded but working states (a portal that failed to log in, one path used without
  // multipath for a read-only volume). The library does not log; the agent records these.
  std::function<void(const std::string&)> warn;
};

class KernelIscsiBackend : public BlockBackend {
 public:
  explicit KernelIscsiBackend(CommandRunner& runner, KernelIscsiOptions options = {});

  Status openSession(const BlockVolume& v, const BlockCredentials& creds) override;
  Status closeSession(const BlockVolume& v) override;
  Result<bool> sessionOpen(const BlockVolume& v) override;
  Result<std::string> attachDevice(const BlockVolume& v) override;
  Status detachDevice(const BlockVolume& v) override;
  Result<std::optional<std::string>> findDevice(const BlockVolume& v) override;

 private:
  struct Path {
    IscsiSession session;
    std::string disk;  // "sdb", or "" while the LUN has not appeared behind this session
  };

  Result<std::vector<IscsiPortal>> portalsOf(const BlockVolume& v) const;
  Result<std::vector<IscsiSession>> sessionsOf(const BlockVolume& v) const;
  std::vector<Path> pathsOf(const BlockVolume& v, const std::vector<IscsiSession>& sessions) const;
  static std::vector<std::string> disksOf(const std::vector<Path>& paths);
  Status checkInitiatorName(const BlockVolume& v) const;
  Status loginPortal(const BlockVolume& v, const IscsiPortal& p, const BlockCredentials& creds);
  Status discover(const BlockVolume& v, const IscsiPortal& p, const BlockCredentials& creds);
  Status writeSessionAuth(const BlockVolume& v, const IscsiPortal& p,
                          const BlockCredentials& creds);
  Status scan(const BlockVolume& v, const std::vector<Path>& paths);
  Result<std::string> choose(const BlockVolume& v, const std::vector<std::string>& disks,
                             bool wait);
  Status removeDisk(const std::string& disk);
  // Runs iscsiadm; exit 0 and the codes in `fine` are success.
  Status iscsiadm(const std::vector<std::string>& args, int64_t timeoutMs,
                  std::initializer_list<int> fine = {});
  void warn(const std::string& msg) const;

  CommandRunner& runner_;
  KernelIscsiOptions opt_;
  IscsiNodeDb db_;
};

}  // namespace boxd::reconcilers
