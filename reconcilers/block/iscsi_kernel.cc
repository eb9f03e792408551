#include "reconcilers/block/iscsi_kernel.h"

#include <algorithm>
#include <cerrno>

#include "common/util.h"

namespace boxd::reconcilers {

namespace {

constexpr int kErrSessionExists = 15;  // ISCSI_ERR_SESS_EXISTS
constexpr int kErrNoObjects = 21;      // ISCSI_ERR_NO_OBJS_FOUND

// describeFailure plus iscsiadm's own reason line ("initiator reported error (24 - ...)"),
// which comes after the generic "Could not login" line.
std::string iscsiadmFailure(const std::vector<std::string>& argv, const CommandResult& r) {
  std::string msg = describeFailure(argv, r);
  for (const auto& line : split(r.err, '\n')) {
    if (line.find("reported error") == std::string::npos) continue;
    std::string t = trim(line);
    if (msg.find(t) == std::string::npos) msg += " (" + t + ")";
    break;
  }
  return msg;
}

std::vector<std::string> nodeArgs(const BlockVolume& v, const IscsiPortal& p) {
  return {"-m", "node", "-T", v.iqn, "-p", p.arg(), "-I", v.iscsiInterface};
}

std::vector<std::string> plus(std::vector<std::string> a, std::initializer_list<const char*> b) {
  for (const char* s : b) a.emplace_back(s);
  return a;
}

std::string joinDisks(const std::vector<std::string>& disks) {
  std::string out;
  for (const auto& d : disks) out += (out.empty() ? "" : ", ") + d;
  return out;
}

std::string volumeName(const BlockVolume& v) {
  return "LUN " + std::to_string(v.lun) + " of " + v.iqn;
}

}  // namespace

KernelIscsiBackend::KernelIscsiBackend(CommandRunner& runner, KernelIscsiOptions options)
    : runner_(runner), opt_(std::move(options)), db_(opt_.iscsiDbRoot, opt_.lockDir, opt_.sleep) {}

void KernelIscsiBackend::warn(const std::string& msg) const {
  if (opt_.warn) opt_.warn(msg);
}

Status KernelIscsiBackend::iscsiadm(const std::vector<std::string>& args, int64_t timeoutMs,
                                    std::initializer_list<int> fine) {
  std::vector<std::string> argv{"iscsiadm"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runner_.run(argv, timeoutMs);
  if (!r.ok()) return r.error();
  if (!r->timedOut &&
      (r->exitCode == 0 || std::find(fine.begin(), fine.end(), r->exitCode) != fine.end()))
    return {};
  return makeError(iscsiadmFailure(argv, *r), EIO);
}

Result<std::vector<IscsiPortal>> KernelIscsiBackend::portalsOf(const BlockVolume& v) const {
  if (v.iqn.empty() || v.iqn.find_first_of(" \t\n/") != std::string::npos)
    return makeError("iSCSI volume: bad target IQN \"" + v.iqn + "\"", EINVAL);
  if (v.iscsiInterface.empty() || v.iscsiInterface.find('/') != std::string::npos)
    return makeError("iSCSI volume " + v.iqn + ": bad iscsiInterface", EINVAL);
  if (v.portals.empty()) return makeError("iSCSI volume " + v.iqn + ": no portal", EINVAL);
  std::vector<IscsiPortal> out;
  for (const auto& s : v.portals) {
    auto p = parseIscsiPortal(s);
    if (!p.ok()) return p.error().wrap("iSCSI volume " + v.iqn);
    if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  return out;
}

// Our sessions: this target, through this iface, on one of the volume's portals.
Result<std::vector<IscsiSession>> KernelIscsiBackend::sessionsOf(const BlockVolume& v) const {
  auto portals = portalsOf(v);
  if (!portals.ok()) return portals.error();
  std::vector<IscsiSession> out;
  for (auto& s : listIscsiSessions(opt_.sysRoot)) {
    if (s.target != v.iqn) continue;
    if (!s.iface.empty() && s.iface != v.iscsiInterface) continue;
    if (std::find(portals->begin(), portals->end(), s.portal) == portals->end()) continue;
    out.push_back(std::move(s));
  }
  return out;
}

Status KernelIscsiBackend::checkInitiatorName(const BlockVolume& v) const {
  if (v.initiatorName.empty()) return {};
  auto host = db_.hostInitiatorName();
  if (host.ok() && *host == v.initiatorName) return {};
  return makeError("iSCSI volume " + v.iqn + ": initiatorName " + v.initiatorName +
                       " is not the host's (" + db_.root() +
                       "/initiatorname.iscsi); the kernel initiator has one name per iface and "
                       "per-volume names are not supported here: use the host's name or the "
                       "iscsi-user backend",
                   EINVAL);
}

// ── sessions ────────────────────────────────────────────────────────────────────────────

Status KernelIscsiBackend::openSession(const BlockVolume& v, const BlockCredentials& creds) {
  auto portals = portalsOf(v);
  if (!portals.ok()) return portals.error();
  if (v.chapSession && !creds.chap)
    return makeError("iSCSI volume " + v.iqn +
                         ": session CHAP is on but no credentials were "
                         "given (secretRef " +
                         v.secretRef + ")",
                     EINVAL);
  if (v.chapDiscovery && !creds.discoveryChap)
    return makeError("iSCSI volume " + v.iqn +
                         ": discovery CHAP is on but no credentials were "
                         "given (secretRef " +
                         v.secretRef + ")",
                     EINVAL);
  BOXD_TRY(checkInitiatorName(v));
  auto sessions = sessionsOf(v);
  if (!sessions.ok()) return sessions.error();
  std::vector<std::string> failures;
  size_t loggedIn = 0;
  for (const auto& p : *portals) {
    bool open = std::any_of(sessions->begin(), sessions->end(),
                            [&](const IscsiSession& s) { return s.portal == p; });
    Status st = open ? Status{} : loginPortal(v, p, creds);
    if (st.ok()) {
      ++loggedIn;
    } else {
      failures.push_back(p.arg() + ": " + st.error().message);
    }
  }
  std::string all;
  for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
  if (loggedIn == 0)
    return makeError("log in to " + v.iqn + " on every portal failed: " + all, EIO);
  if (!failures.empty())
    warn("log in to " + v.iqn + " failed on " + std::to_string(failures.size()) + " of " +
         std::to_string(portals->size()) + " portals, continuing with the others: " + all);
  return {};
}

Status KernelIscsiBackend::loginPortal(const BlockVolume& v, const IscsiPortal& p,
                                       const BlockCredentials& creds) {
  auto node = nodeArgs(v, p);
  if (v.chapDiscovery) {
    BOXD_TRY(discover(v, p, creds));
  } else {
    BOXD_TRY(iscsiadm(plus(node, {"-o", "new"}), opt_.commandTimeoutMs, {kErrSessionExists}));
  }
  auto startup = iscsiadm(plus(node, {"-o", "update", "-n", "node.startup", "-v", "manual"}),
                          opt_.commandTimeoutMs);
  if (!startup.ok()) return startup.error().wrap("no usable node record for " + v.iqn);
  auto scanMode = iscsiadm(plus(node, {"-o", "update", "-n", "node.session.scan", "-v", "manual"}),
                           opt_.commandTimeoutMs);
  if (!scanMode.ok())
    warn(
        "iscsiadm cannot set node.session.scan=manual (open-iscsi older than 2.0.874?): the "
        "kernel will scan every LUN of " +
        v.iqn + " at login: " + scanMode.error().message);
  BOXD_TRY(writeSessionAuth(v, p, creds));
  return iscsiadm(plus(node, {"--login"}), opt_.loginTimeoutMs, {kErrSessionExists});
}

Status KernelIscsiBackend::discover(const BlockVolume& v, const IscsiPortal& p,
                                    const BlockCredentials& creds) {
  std::vector<std::string> disc{"-m", "discoverydb", "-t", "sendtargets",
                                "-p", p.arg(),       "-I", v.iscsiInterface};
  BOXD_TRY(iscsiadm(plus(disc, {"-o", "new"}), opt_.commandTimeoutMs, {kErrSessionExists}));
  BOXD_TRY(db_.setAuth(db_.discoveryRecord(p), "discovery.sendtargets.auth", creds.discoveryChap,
                       "discovery CHAP for " + p.arg()));
  return iscsiadm(plus(disc, {"--discover"}), opt_.loginTimeoutMs);
}

Status KernelIscsiBackend::writeSessionAuth(const BlockVolume& v, const IscsiPortal& p,
                                            const BlockCredentials& creds) {
  auto records = db_.nodeRecords(v.iqn, p, v.iscsiInterface);
  if (records.empty())
    return makeError("no node record for " + v.iqn + " at " + p.arg() + " through iface " +
                         v.iscsiInterface + " under " + db_.root() +
                         "/nodes (is that iscsiadm's database root?)",
                     ENOENT);
  std::optional<blockd::Chap> chap;
  if (v.chapSession) chap = creds.chap;
  for (const auto& r : records)
    BOXD_TRY(db_.setAuth(r, "node.session.auth", chap, "session CHAP for " + v.iqn));
  return {};
}

Result<bool> KernelIscsiBackend::sessionOpen(const BlockVolume& v) {
  auto sessions = sessionsOf(v);
  if (!sessions.ok()) return sessions.error();
  return !sessions->empty();
}

Status KernelIscsiBackend::closeSession(const BlockVolume& v) {
  auto portals = portalsOf(v);
  if (!portals.ok()) return portals.error();
  Status first;
  for (const auto& p : *portals) {
    auto node = nodeArgs(v, p);
    Status st = iscsiadm(plus(node, {"--logout"}), opt_.loginTimeoutMs, {kErrNoObjects});
    if (st.ok())
      st = iscsiadm(plus(node, {"-o", "delete"}), opt_.commandTimeoutMs, {kErrNoObjects});
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

// ── devices ─────────────────────────────────────────────────────────────────────────────

// Each session with the disk it shows for the LUN: from sysfs, else from udev's by-path link.
std::vector<KernelIscsiBackend::Path> KernelIscsiBackend::pathsOf(
    const BlockVolume& v, const std::vector<IscsiSession>& sessions) const {
  std::vector<Path> out;
  for (const auto& s : sessions) {
    Path path{s, ""};
    for (const auto& disk : scsiDisksOf(opt_.sysRoot, s.host, v.lun))
      if (sysfs::exists(opt_.devRoot + "/" + disk)) path.disk = disk;
    if (path.disk.empty()) {
      std::string link = opt_.devRoot + "/disk/by-path/" + iscsiByPathName(s.portal, v.iqn, v.lun);
      if (auto real = sysfs::realPath(link)) path.disk = sysfs::baseName(*real);
    }
    out.push_back(std::move(path));
  }
  return out;
}

Status KernelIscsiBackend::scan(const BlockVolume& v, const std::vector<Path>& paths) {
  for (const auto& p : paths) {
    if (!p.disk.empty()) continue;
    if (p.session.host < 0)
      return makeError("iSCSI " + p.session.name + " to " + v.iqn + ": no SCSI host in sysfs",
                       ENOENT);
    std::string file =
        opt_.sysRoot + "/class/scsi_host/host" + std::to_string(p.session.host) + "/scan";
    auto st = opt_.writeSysfs(file, "0 0 " + std::to_string(v.lun));
    if (!st.ok()) return st.error().wrap("scan " + volumeName(v));
  }
  return {};
}

Result<std::string> KernelIscsiBackend::attachDevice(const BlockVolume& v) {
  auto sessions = sessionsOf(v);
  if (!sessions.ok()) return sessions.error();
  if (sessions->empty())
    return makeError("attach " + volumeName(v) + ": no iSCSI session to it (open it first)",
                     ENOTCONN);
  auto paths = pathsOf(v, *sessions);
  BOXD_TRY(scan(v, paths));
  int64_t polls = std::max<int64_t>(1, opt_.deviceWaitMs / std::max<int64_t>(1, opt_.pollMs));
  for (int64_t i = 0;; ++i) {
    paths = pathsOf(v, *sessions);
    bool all =
        std::all_of(paths.begin(), paths.end(), [](const Path& p) { return !p.disk.empty(); });
    if (all || i >= polls) break;
    opt_.sleep(opt_.pollMs);
  }
  auto disks = disksOf(paths);
  if (disks.empty()) {
    std::string where;
    for (const auto& p : paths)
      where += (where.empty() ? "" : ", ") + std::string("host") + std::to_string(p.session.host);
    return makeError("attach " + volumeName(v) + ": the LUN did not appear within " +
                         std::to_string(opt_.deviceWaitMs) + " ms after a scan of " + where +
                         " (does the target export that LUN to this initiator?)",
                     ETIMEDOUT);
  }
  if (disks.size() < paths.size())
    warn(volumeName(v) + " appeared on " + std::to_string(disks.size()) + " of " +
         std::to_string(paths.size()) + " paths");
  return choose(v, disks, true);
}

std::vector<std::string> KernelIscsiBackend::disksOf(const std::vector<Path>& paths) {
  std::vector<std::string> disks;
  for (const auto& p : paths)
    if (!p.disk.empty() && std::find(disks.begin(), disks.end(), p.disk) == disks.end())
      disks.push_back(p.disk);
  return disks;
}

// One disk: itself. Several: the multipath map over them (waited for when `wait`, if the
// kernel has dm-multipath); without one, read-only uses the first disk, read-write is refused.
Result<std::string> KernelIscsiBackend::choose(const BlockVolume& v,
                                               const std::vector<std::string>& disks, bool wait) {
  auto mapPath = [&](const MultipathMap& m) {
    return m.name.empty() ? opt_.devRoot + "/" + m.dm : opt_.devRoot + "/mapper/" + m.name;
  };
  if (auto m = multipathOver(opt_.sysRoot, disks)) return mapPath(*m);
  if (disks.size() == 1) return opt_.devRoot + "/" + disks[0];
  bool dmLoaded = sysfs::exists(opt_.sysRoot + "/module/dm_multipath");
  if (wait && dmLoaded) {
    int64_t polls = std::max<int64_t>(1, opt_.deviceWaitMs / std::max<int64_t>(1, opt_.pollMs));
    for (int64_t i = 0; i < polls; ++i) {
      opt_.sleep(opt_.pollMs);
      if (auto m = multipathOver(opt_.sysRoot, disks)) return mapPath(*m);
    }
  }
  std::string why = dmLoaded ? "no dm-multipath map appeared over them"
                             : "dm-multipath is not loaded (no multipathd?)";
  if (v.readOnly) {
    warn(volumeName(v) + " has " + std::to_string(disks.size()) + " paths (" + joinDisks(disks) +
         ") and " + why + ": using " + disks[0] + " only, without failover");
    return opt_.devRoot + "/" + disks[0];
  }
  return makeError(volumeName(v) + " has " + std::to_string(disks.size()) + " paths (" +
                       joinDisks(disks) + ") and " + why +
                       ": refusing read-write use of one path, since the others show the same "
                       "filesystem (a mount by UUID could pick one at the same time) and a path "
                       "failure would not fail over; run multipathd, give a single portal, or "
                       "mount read-only",
                   EBUSY);
}

Result<std::optional<std::string>> KernelIscsiBackend::findDevice(const BlockVolume& v) {
  auto sessions = sessionsOf(v);
  if (!sessions.ok()) return sessions.error();
  auto disks = disksOf(pathsOf(v, *sessions));
  if (disks.empty()) return std::optional<std::string>();
  auto dev = choose(v, disks, false);
  if (!dev.ok()) return dev.error();
  return std::optional<std::string>(*dev);
}

Status KernelIscsiBackend::removeDisk(const std::string& disk) {
  std::vector<std::string> flush{"blockdev", "--flushbufs", opt_.devRoot + "/" + disk};
  auto r = runner_.run(flush, opt_.commandTimeoutMs);
  if (!r.ok()) return r.error();
  if (r->timedOut || r->exitCode != 0) return makeError(describeFailure(flush, *r), EIO);
  std::string file = opt_.sysRoot + "/block/" + disk + "/device/delete";
  auto st = opt_.writeSysfs(file, "1");
  if (!st.ok() && st.error().code != ENOENT) return st.error().wrap("remove " + disk);
  return {};
}

Status KernelIscsiBackend::detachDevice(const BlockVolume& v) {
  auto sessions = sessionsOf(v);
  if (!sessions.ok()) return sessions.error();
  auto disks = disksOf(pathsOf(v, *sessions));
  if (disks.empty()) return {};
  if (auto m = multipathOver(opt_.sysRoot, disks)) {
    std::string name = m->name.empty() ? m->dm : m->name;
    std::string dev =
        m->name.empty() ? opt_.devRoot + "/" + m->dm : opt_.devRoot + "/mapper/" + name;
    for (std::vector<std::string> argv : {std::vector<std::string>{"blockdev", "--flushbufs", dev},
                                          std::vector<std::string>{"multipath", "-f", name}}) {
      auto r = runner_.run(argv, opt_.commandTimeoutMs);
      if (!r.ok()) return r.error().wrap("detach " + volumeName(v));
      if (r->timedOut || r->exitCode != 0)
        return makeError("detach " + volumeName(v) + ": " + describeFailure(argv, *r), EBUSY);
    }
  }
  for (const auto& disk : disks) {
    auto st = removeDisk(disk);
    if (!st.ok()) return st.error().wrap("detach " + volumeName(v));
  }
  return {};
}

}  // namespace boxd::reconcilers
