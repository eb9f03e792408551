// A fake host for the kernel block backends: a sysfs tree, a /dev tree and an open-iscsi
// database in a temp dir, shaped as the kernel and iscsiadm lay them out, plus a recording
// sysfs writer and a sleep that counts polls and can run a step at a given poll.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/util.h"
#include "reconcilers/block/block_sysfs.h"
#include "tests/support/temp_dir.h"

namespace boxd::testing {

class FakeBlockHost {
 public:
  TempDir dir{"block"};
  std::string sys = dir / "sys", dev = dir / "dev", db = dir / "iscsi", lock = dir / "lock";

  // Sysfs writes, as "<path below sys> <- <data>".
  std::vector<std::string> writes;
  // Errors for writes to a path below sys (consumed once).
  std::map<std::string, Error> writeErrors;
  // Runs after a write to a path below sys (the kernel's reaction).
  std::map<std::string, std::function<void(const std::string& data)>> onWrite;
  int sleeps = 0;
  std::map<int, std::function<void()>> atSleep;  // runs at the Nth sleep (1-based)

  FakeBlockHost() {
    for (const auto& d : {sys, dev, db}) (void)mkdirAll(d);
  }

  reconcilers::SysfsWriteFn writer() {
    return [this](const std::string& path, std::string_view data) -> Status {
      std::string rel = path.substr(sys.size() + 1);
      writes.push_back(rel + " <- " + std::string(data));
      if (auto e = writeErrors.find(rel); e != writeErrors.end()) {
        Error err = e->second;
        writeErrors.erase(e);
        return err;
      }
      if (!sysfs(rel)) return sysError("open", path, ENOENT);
      if (auto h = onWrite.find(rel); h != onWrite.end()) h->second(std::string(data));
      return {};
    };
  }
  reconcilers::SleepFn sleeper() {
    return [this](int64_t) {
      ++sleeps;
      if (auto s = atSleep.find(sleeps); s != atSleep.end()) s->second();
    };
  }

  bool sysfs(const std::string& rel) const { return reconcilers::sysfs::exists(sys + "/" + rel); }

  void file(const std::string& path, const std::string& content = "") {
    auto slash = path.rfind('/');
    (void)mkdirAll(path.substr(0, slash));
    (void)writeFileAtomic(path, content, 0644, Durability::ProcessLifetime);
  }
  void link(const std::string& target, const std::string& path) {
    auto slash = path.rfind('/');
    (void)mkdirAll(path.substr(0, slash));
    (void)::symlink(target.c_str(), path.c_str());
  }

  // ── iSCSI ──
  void addSession(int sid, int host, const std::string& iqn, const std::string& address,
                  const std::string& port = "3260", const std::string& iface = "default") {
    std::string s = "session" + std::to_string(sid), h = "host" + std::to_string(host);
    (void)mkdirAll(sys + "/devices/platform/" + h + "/" + s);
    std::string cls = sys + "/class/iscsi_session/" + s;
    file(cls + "/targetname", iqn + "\n");
    file(cls + "/ifacename", iface + "\n");
    link("../../../devices/platform/" + h + "/" + s, cls + "/device");
    std::string conn = sys + "/class/iscsi_connection/connection" + std::to_string(sid) + ":0";
    file(conn + "/persistent_address", address + "\n");
    file(conn + "/persistent_port", port + "\n");
    file(sys + "/class/scsi_host/" + h + "/scan");
  }
  void addDisk(int host, int64_t lun, const std::string& disk) {
    std::string hctl = std::to_string(host) + ":0:0:" + std::to_string(lun);
    (void)mkdirAll(sys + "/class/scsi_device/" + hctl + "/device/block/" + disk);
    file(sys + "/block/" + disk + "/device/delete");
    file(dev + "/" + disk);
  }
  void addByPath(const std::string& name, const std::string& disk) {
    file(dev + "/" + disk);
    link("../../" + disk, dev + "/disk/by-path/" + name);
  }
  void addMultipath(const std::string& dm, const std::string& name,
                    const std::vector<std::string>& disks) {
    for (const auto& d : disks) (void)mkdirAll(sys + "/block/" + dm + "/slaves/" + d);
    file(sys + "/block/" + dm + "/dm/name", name + "\n");
    file(sys + "/block/" + dm + "/dm/uuid", "mpath-36001405abcdef\n");
    file(dev + "/mapper/" + name);
  }
  std::string nodeRecord(const std::string& iqn, const std::string& portalDir,
                         const std::string& iface = "default") const {
    return db + "/nodes/" + iqn + "/" + portalDir + "/" + iface;
  }
  // What iscsiadm -o new writes (abridged): defaults, auth None.
  void addNodeRecord(const std::string& iqn, const std::string& address, const std::string& port,
                     const std::string& tpgt, const std::string& iface = "default") {
    file(nodeRecord(iqn, address + "," + port + "," + tpgt, iface),
         "# BEGIN RECORD 2.1.8\n"
         "node.name = " +
             iqn +
             "\n"
             "node.tpgt = " +
             tpgt +
             "\n"
             "node.startup = automatic\n"
             "iface.iscsi_ifacename = " +
             iface +
             "\n"
             "node.session.auth.authmethod = None\n"
             "node.session.auth.chap_algs = MD5\n"
             "node.session.scan = auto\n"
             "node.conn[0].address = " +
             address +
             "\n"
             "node.conn[0].port = " +
             port +
             "\n"
             "# END RECORD\n");
  }

  // ── krbd ──
  void addRbdBus(bool singleMajor = true, const std::string& supported = "0x3d") {
    file(sys + "/bus/rbd/" + std::string(singleMajor ? "add_single_major" : "add"));
    file(sys + "/bus/rbd/" + std::string(singleMajor ? "remove_single_major" : "remove"));
    if (!supported.empty()) file(sys + "/bus/rbd/supported_features", supported + "\n");
    (void)mkdirAll(sys + "/bus/rbd/devices");
  }
  void addRbdDevice(const std::string& id, const std::string& pool, const std::string& image,
                    bool readOnly = false) {
    std::string d = sys + "/bus/rbd/devices/" + id;
    file(d + "/pool", pool + "\n");
    file(d + "/name", image + "\n");
    file(d + "/current_snap", "-\n");
    file(d + "/pool_ns", "\n");
    file(sys + "/block/rbd" + id + "/ro", readOnly ? "1\n" : "0\n");
    file(dev + "/rbd" + id);
  }
  void removeRbdDevice(const std::string& id) {
    (void)removeAll(sys + "/bus/rbd/devices/" + id);
    ::unlink((dev + "/rbd" + id).c_str());
  }

  static mode_t modeOf(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
  }
};

}  // namespace boxd::testing
