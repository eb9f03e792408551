// open-iscsi's record database, as iscsiadm lays it out under its root (/etc/iscsi on Debian,
// /var/lib/iscsi on some distributions; a parameter here):
//
//   <root>/nodes/<iqn>/<address>,<port>,<tpgt>/<iface>    one node record per portal group + iface
//   <root>/send_targets/<address>,<port>/st_config         one SendTargets discovery record
//
// A record is "name = value" lines between "# BEGIN RECORD <version>" and "# END RECORD";
// iscsiadm and iscsid read the whole file on every use (and derive password lengths from it).
// iscsiadm has no way to take a CHAP secret other than on its command line, which any local user
// can read in /proc, so boxd writes the auth settings into the record file itself: read, replace
// the auth lines, write a 0600 temp file, fsync, rename — holding iscsiadm's own database lock
// (<lockDir>/lock.write, a hard link to <lockDir>/lock) so no iscsiadm rewrites the file meanwhile.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "blockd/protocol.h"
#include "common/result.h"
#include "reconcilers/block/block_sysfs.h"

namespace boxd::reconcilers {

// A portal as iscsiadm names it: "host:port" or "[v6]:port" (port 3260 when not given).
struct IscsiPortal {
  std::string address;  // without brackets
  std::string port;
  // "127.0.0.1:3260", "[fd00::1]:3260": the -p argument and the by-path component.
  std::string arg() const;
  bool operator==(const IscsiPortal&) const = default;
};

Result<IscsiPortal> parseIscsiPortal(const std::string& portal);

class IscsiNodeDb {
 public:
  IscsiNodeDb(std::string root, std::string lockDir, SleepFn sleep);

  // The node record files of `iqn` at `portal` through `iface`, one per portal group tag.
  std::vector<std::string> nodeRecords(const std::string& iqn, const IscsiPortal& portal,
                                       const std::string& iface) const;
  std::string discoveryRecord(const IscsiPortal& portal) const;

  // Sets <prefix>.authmethod and the CHAP names and secrets (none: authmethod None, no names) in
  // an existing record file. prefix: "node.session.auth" or "discovery.sendtargets.auth".
  // `what` names the record in errors ("session CHAP for iqn..."); secrets never appear there.
  Status setAuth(const std::string& recordPath, const std::string& prefix,
                 const std::optional<blockd::Chap>& chap, const std::string& what) const;

  // The host's initiator name (<root>/initiatorname.iscsi, "InitiatorName=...").
  Result<std::string> hostInitiatorName() const;

  const std::string& root() const { return root_; }

 private:
  std::string root_, lockDir_;
  SleepFn sleep_;
};

// A CHAP name or secret must survive iscsiadm's parser: non-empty, at most 255 bytes, no line
// breaks or NULs, no leading or trailing blanks. The error names `field`, never the value.
Status validateChapValue(const std::string& value, const std::string& field);

}  // namespace boxd::reconcilers
