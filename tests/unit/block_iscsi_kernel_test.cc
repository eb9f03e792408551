// KernelIscsiBackend on a fake host: golden iscsiadm command lines, CHAP only in 0600 record
// files (never on an argv), exit codes 15/21, the one-LUN scan, waiting for the disk, multipath
// choice, detach and logout. The real kernel initiator cannot run on this machine kind
// (no iscsi_tcp, no iscsid: notes/storage-peers.md 3a).
#include <gtest/gtest.h>

#include "common/util.h"
#include "reconcilers/block/iscsi_kernel.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/unit/block_fake_host.h"

namespace boxd::reconcilers {
namespace {

using boxd::testing::FakeBlockHost;
using boxd::testing::FakeCommandRunner;
using Lines = std::vector<std::string>;

constexpr const char* kIqn = "iqn.2024-01.test.boxd:t1";
const std::string kNode =
    std::string("iscsiadm -m node -T ") + kIqn + " -p 127.0.0.1:3260 -I default";
const std::string kNode2 =
    std::string("iscsiadm -m node -T ") + kIqn + " -p 127.0.0.2:3260 -I default";

BlockVolume volume(std::vector<std::string> portals = {"127.0.0.1:3260"}) {
  BlockVolume v;
  v.backend = "iscsi-kernel";
  v.iqn = kIqn;
  v.portals = std::move(portals);
  v.iscsiInterface = "default";
  v.lun = 1;
  return v;
}

blockd::Chap chap() { return {"boxd-user", "s3cret-pass-123", "", ""}; }

std::string argOf(const std::vector<std::string>& argv, const std::string& flag) {
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) return argv[i + 1];
  return "";
}
bool has(const std::vector<std::string>& argv, const std::string& a) {
  return std::find(argv.begin(), argv.end(), a) != argv.end();
}

class KernelIscsiTest : public ::testing::Test {
 protected:
  FakeBlockHost host;
  FakeCommandRunner runner;
  std::vector<std::string> warnings;
  int nextSession = 1;

  void SetUp() override {
    // What iscsiadm and iscsid do to the fake host.
    runner.onRun = [this](const FakeCommandRunner::Call& c) {
      if (c.argv[0] != "iscsiadm") return;
      std::string portal = argOf(c.argv, "-p");
      std::string address = portal.substr(0, portal.rfind(':'));
      if (has(c.argv, "node") && has(c.argv, "new"))
        host.addNodeRecord(argOf(c.argv, "-T"), address, "3260", "-1");
      if (has(c.argv, "discoverydb") && has(c.argv, "new"))
        host.file(host.db + "/send_targets/" + address + ",3260/st_config",
                  "# BEGIN RECORD 2.1.8\ndiscovery.startup = manual\n"
                  "discovery.sendtargets.auth.authmethod = None\n# END RECORD\n");
      if (has(c.argv, "--discover")) host.addNodeRecord(kIqn, address, "3260", "1");
      if (has(c.argv, "--login")) {
        int sid = nextSession++;
        host.addSession(sid, 10 + sid, argOf(c.argv, "-T"), address);
      }
    };
  }

  KernelIscsiOptions options() {
    KernelIscsiOptions o;
    o.sysRoot = host.sys;
    o.devRoot = host.dev;
    o.iscsiDbRoot = host.db;
    o.lockDir = host.lock;
    o.deviceWaitMs = 1000;
    o.pollMs = 100;
    o.sleep = host.sleeper();
    o.writeSysfs = host.writer();
    o.warn = [this](const std::string& w) { warnings.push_back(w); };
    return o;
  }
};

// ── openSession ──

TEST_F(KernelIscsiTest, OpenSessionGoldenLinesWithoutChap) {
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.openSession(volume(), {}).ok());
  EXPECT_EQ(runner.lines(), (Lines{
                                kNode + " -o new",
                                kNode + " -o update -n node.startup -v manual",
                                kNode + " -o update -n node.session.scan -v manual",
                                kNode + " --login",
                            }));
  auto record = readFile(host.nodeRecord(kIqn, "127.0.0.1,3260,-1"));
  ASSERT_TRUE(record.ok());
  EXPECT_NE(record->find("node.session.auth.authmethod = None\n# END RECORD\n"), std::string::npos);
  EXPECT_EQ(FakeBlockHost::modeOf(host.nodeRecord(kIqn, "127.0.0.1,3260,-1")), 0600u);
  EXPECT_TRUE(warnings.empty());
  for (const auto& c : runner.calls) EXPECT_EQ(c.input, "");
}

TEST_F(KernelIscsiTest, ChapGoesIntoTheNodeRecordNeverOnArgv) {
  auto v = volume();
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = blockd::Chap{"boxd-user", "s3cret-pass-123", "target-user", "t4rget-pass-456"};
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.openSession(v, creds).ok());

  std::string path = host.nodeRecord(kIqn, "127.0.0.1,3260,-1");
  auto record = readFile(path);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(*record,
            "# BEGIN RECORD 2.1.8\n"
            "node.name = iqn.2024-01.test.boxd:t1\n"
            "node.tpgt = -1\n"
            "node.startup = automatic\n"  // the fake iscsiadm does not apply -o update
            "iface.iscsi_ifacename = default\n"
            "node.session.auth.chap_algs = MD5\n"
            "node.session.scan = auto\n"
            "node.conn[0].address = 127.0.0.1\n"
            "node.conn[0].port = 3260\n"
            "node.session.auth.authmethod = CHAP\n"
            "node.session.auth.username = boxd-user\n"
            "node.session.auth.password = s3cret-pass-123\n"
            "node.session.auth.username_in = target-user\n"
            "node.session.auth.password_in = t4rget-pass-456\n"
            "# END RECORD\n");
  EXPECT_EQ(FakeBlockHost::modeOf(path), 0600u);
  EXPECT_EQ(runner.allArgv().find("s3cret"), std::string::npos) << runner.allArgv();
  EXPECT_EQ(runner.allArgv().find("t4rget"), std::string::npos);
  EXPECT_EQ(runner.lines().back(), kNode + " --login");
  EXPECT_FALSE(sysfs::exists(host.lock + "/lock.write")) << "iscsiadm's DB lock left held";
  // The login comes after the secret is in place: the record was written before --login ran.
}

TEST_F(KernelIscsiTest, ChapRewriteReplacesEarlierAuthLines) {
  auto v = volume();
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = chap();
  KernelIscsiBackend b(runner, options());
  host.addNodeRecord(kIqn, "127.0.0.1", "3260", "-1");
  std::string path = host.nodeRecord(kIqn, "127.0.0.1,3260,-1");
  IscsiNodeDb db(host.db, host.lock, host.sleeper());
  blockd::Chap old{"old-user", "old-secret", "old-in", "old-in-secret"};
  ASSERT_TRUE(db.setAuth(path, "node.session.auth", old, "test").ok());
  ASSERT_TRUE(db.setAuth(path, "node.session.auth", chap(), "test").ok());
  auto record = readFile(path);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->find("old"), std::string::npos) << *record;
  EXPECT_NE(record->find("node.session.auth.chap_algs = MD5"), std::string::npos);
  ASSERT_TRUE(db.setAuth(path, "node.session.auth", std::nullopt, "test").ok());
  record = readFile(path);
  EXPECT_EQ(record->find("s3cret"), std::string::npos) << *record;
  EXPECT_NE(record->find("node.session.auth.authmethod = None"), std::string::npos);
}

TEST_F(KernelIscsiTest, DiscoveryChapGoesIntoTheDiscoveryRecord) {
  auto v = volume();
  v.chapDiscovery = true;
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = chap();
  creds.discoveryChap = blockd::Chap{"disc-user", "d1sc-secret-789", "", ""};
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.openSession(v, creds).ok());
  std::string disc = "iscsiadm -m discoverydb -t sendtargets -p 127.0.0.1:3260 -I default";
  EXPECT_EQ(runner.lines(), (Lines{
                                disc + " -o new",
                                disc + " --discover",
                                kNode + " -o update -n node.startup -v manual",
                                kNode + " -o update -n node.session.scan -v manual",
                                kNode + " --login",
                            }));
  std::string st = host.db + "/send_targets/127.0.0.1,3260/st_config";
  auto record = readFile(st);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(*record,
            "# BEGIN RECORD 2.1.8\n"
            "discovery.startup = manual\n"
            "discovery.sendtargets.auth.authmethod = CHAP\n"
            "discovery.sendtargets.auth.username = disc-user\n"
            "discovery.sendtargets.auth.password = d1sc-secret-789\n"
            "# END RECORD\n");
  EXPECT_EQ(FakeBlockHost::modeOf(st), 0600u);
  // Discovery made the record with the target's portal group tag 1.
  auto node = readFile(host.nodeRecord(kIqn, "127.0.0.1,3260,1"));
  ASSERT_TRUE(node.ok());
  EXPECT_NE(node->find("node.session.auth.password = s3cret-pass-123"), std::string::npos);
  EXPECT_EQ(runner.allArgv().find("secret"), std::string::npos) << runner.allArgv();
}

TEST_F(KernelIscsiTest, LoginExit15IsAlreadyLoggedIn) {
  runner.reply(
      {"iscsiadm", "-m", "node", "-T", kIqn, "-p", "127.0.0.1:3260", "-I", "default", "--login"},
      {.exitCode = 15, .err = "iscsiadm: session exists\n"});
  KernelIscsiBackend b(runner, options());
  EXPECT_TRUE(b.openSession(volume(), {}).ok());
}

TEST_F(KernelIscsiTest, OpenPortalsAreLeftAlone) {
  host.addSession(1, 5, kIqn, "127.0.0.1");
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.openSession(volume(), {}).ok());
  EXPECT_TRUE(runner.calls.empty()) << runner.allArgv();
}

TEST_F(KernelIscsiTest, OneFailingPortalIsAWarningAllFailingAnError) {
  auto v = volume({"127.0.0.1:3260", "127.0.0.2:3260"});
  std::vector<std::string> login2{"iscsiadm",       "-m", "node",    "-T",     kIqn, "-p",
                                  "127.0.0.2:3260", "-I", "default", "--login"};
  CommandResult authFailed{.exitCode = 24,
                           .out = "Logging in to [iface: default, target: x, portal: 127.0.0.2]\n",
                           .err =
                               "iscsiadm: Could not login to [iface: default, target: x].\n"
                               "iscsiadm: initiator reported error (24 - iSCSI login failed "
                               "due to authorization failure)\n"};
  runner.reply(login2, authFailed);
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = chap();
  {
    KernelIscsiBackend b(runner, options());
    ASSERT_TRUE(b.openSession(v, creds).ok());
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("1 of 2 portals"), std::string::npos) << warnings[0];
    EXPECT_NE(warnings[0].find("authorization failure"), std::string::npos) << warnings[0];
  }
  // Now the first portal fails too (its session gone).
  (void)removeAll(host.sys + "/class/iscsi_session");
  runner.reply(
      {"iscsiadm", "-m", "node", "-T", kIqn, "-p", "127.0.0.1:3260", "-I", "default", "--login"},
      authFailed);
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(v, creds);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("every portal failed"), std::string::npos);
  EXPECT_NE(st.error().message.find("127.0.0.1:3260: iscsiadm -m node -T " + std::string(kIqn) +
                                    " -p 127.0.0.1:3260 -I default --login: exit 24"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("initiator reported error (24"), std::string::npos);
  EXPECT_EQ(st.error().message.find("s3cret"), std::string::npos);
}

TEST_F(KernelIscsiTest, ChapWithoutCredentialsIsRefusedBeforeAnyCommand) {
  auto v = volume();
  v.chapSession = true;
  v.secretRef = "chap-secret";
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(v, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("secretRef chap-secret"), std::string::npos);
  EXPECT_TRUE(runner.calls.empty());
}

TEST_F(KernelIscsiTest, BadChapValueNamesTheFieldNotTheValue) {
  auto v = volume();
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = blockd::Chap{"user", "line\nbreak-secret", "", ""};
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(v, creds);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("password contains a line break"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(st.error().message.find("break-secret"), std::string::npos);
  EXPECT_EQ(runner.lines().back().find("--login"), std::string::npos) << "logged in anyway";
}

TEST_F(KernelIscsiTest, MissingNodeRecordNamesTheDatabaseRoot) {
  runner.onRun = nullptr;  // an iscsiadm whose database is elsewhere
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(volume(), {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("no node record"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find(host.db + "/nodes"), std::string::npos);
}

TEST_F(KernelIscsiTest, HeldDatabaseLockIsABoundedError) {
  host.file(host.lock + "/lock");
  ASSERT_EQ(::link((host.lock + "/lock").c_str(), (host.lock + "/lock.write").c_str()), 0);
  auto v = volume();
  v.chapSession = true;
  BlockCredentials creds;
  creds.chap = chap();
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(v, creds);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("lock.write is held"), std::string::npos) << st.error().message;
  EXPECT_EQ(host.sleeps, 500);
  EXPECT_TRUE(sysfs::exists(host.lock + "/lock.write")) << "removed someone else's lock";
}

TEST_F(KernelIscsiTest, ForeignInitiatorNameIsRefused) {
  host.file(host.db + "/initiatorname.iscsi", "## comment\nInitiatorName=iqn.2024-01.host:me\n");
  auto v = volume();
  v.initiatorName = "iqn.2024-01.other:you";
  KernelIscsiBackend b(runner, options());
  auto st = b.openSession(v, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("iscsi-user"), std::string::npos);
  v.initiatorName = "iqn.2024-01.host:me";
  EXPECT_TRUE(b.openSession(v, {}).ok());
}

TEST_F(KernelIscsiTest, SessionOpenFromSysfs) {
  KernelIscsiBackend b(runner, options());
  EXPECT_FALSE(*b.sessionOpen(volume()));
  host.addSession(1, 3, "iqn.2024-01.test.boxd:other", "127.0.0.1");
  host.addSession(2, 4, kIqn, "127.0.0.9");
  host.addSession(3, 5, kIqn, "127.0.0.1", "3260", "other-iface");
  EXPECT_FALSE(*b.sessionOpen(volume()));
  host.addSession(4, 6, kIqn, "127.0.0.1");
  EXPECT_TRUE(*b.sessionOpen(volume()));
  EXPECT_TRUE(runner.calls.empty()) << "sessionOpen ran " << runner.allArgv();
}

// ── closeSession ──

TEST_F(KernelIscsiTest, CloseSessionLogsOutAndDeletesEachPortal) {
  runner.reply(
      {"iscsiadm", "-m", "node", "-T", kIqn, "-p", "127.0.0.2:3260", "-I", "default", "--logout"},
      {.exitCode = 21, .err = "iscsiadm: No matching sessions found\n"});
  runner.reply({"iscsiadm", "-m", "node", "-T", kIqn, "-p", "127.0.0.2:3260", "-I", "default", "-o",
                "delete"},
               {.exitCode = 21, .err = "iscsiadm: No records found\n"});
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.closeSession(volume({"127.0.0.1:3260", "127.0.0.2:3260"})).ok());
  EXPECT_EQ(runner.lines(), (Lines{kNode + " --logout", kNode + " -o delete", kNode2 + " --logout",
                                   kNode2 + " -o delete"}));
}

TEST_F(KernelIscsiTest, FailedLogoutKeepsTheRecordAndFails) {
  runner.reply({"iscsiadm"}, {.exitCode = 8, .err = "iscsiadm: timed out\n"}, 1);
  KernelIscsiBackend b(runner, options());
  auto st = b.closeSession(volume());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("--logout: exit 8: iscsiadm: timed out"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(runner.lines(), (Lines{kNode + " --logout"}));
}

// ── attachDevice ──

TEST_F(KernelIscsiTest, AttachScansOnlyTheLunAndWaitsForByPath) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.atSleep[3] = [this] {
    host.addByPath("ip-127.0.0.1:3260-iscsi-" + std::string(kIqn) + "-lun-1", "sdc");
  };
  KernelIscsiBackend b(runner, options());
  auto dev = b.attachDevice(volume());
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/sdc");
  EXPECT_EQ(host.writes, (Lines{"class/scsi_host/host7/scan <- 0 0 1"}));
  EXPECT_EQ(host.sleeps, 3);
  EXPECT_TRUE(runner.calls.empty());
}

TEST_F(KernelIscsiTest, AttachFindsTheSysfsDiskWithoutRescanning) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addDisk(7, 1, "sdb");
  host.addDisk(7, 2, "sdx");  // another LUN of the target
  KernelIscsiBackend b(runner, options());
  auto dev = b.attachDevice(volume());
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/sdb");
  EXPECT_TRUE(host.writes.empty());
  EXPECT_EQ(host.sleeps, 0);
  auto found = b.findDevice(volume());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, std::optional<std::string>(host.dev + "/sdb"));
}

TEST_F(KernelIscsiTest, AttachTimesOutWithinTheBound) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  KernelIscsiBackend b(runner, options());
  auto dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, ETIMEDOUT);
  EXPECT_NE(dev.error().message.find("did not appear within 1000 ms after a scan of host7"),
            std::string::npos)
      << dev.error().message;
  EXPECT_EQ(host.sleeps, 10);  // 1000 ms / 100 ms
}

TEST_F(KernelIscsiTest, AttachWithoutSessionFails) {
  KernelIscsiBackend b(runner, options());
  auto dev = b.attachDevice(volume());
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, ENOTCONN);
}

TEST_F(KernelIscsiTest, TwoPathsGiveTheMultipathMap) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addSession(2, 8, kIqn, "127.0.0.2");
  host.addDisk(7, 1, "sdb");
  host.addDisk(8, 1, "sdc");
  host.file(host.sys + "/module/dm_multipath/refcnt", "1\n");
  host.atSleep[2] = [this] { host.addMultipath("dm-3", "mpatha", {"sdb", "sdc"}); };
  KernelIscsiBackend b(runner, options());
  auto v = volume({"127.0.0.1:3260", "127.0.0.2:3260"});
  auto dev = b.attachDevice(v);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/mapper/mpatha");
  EXPECT_EQ(host.sleeps, 2);
  EXPECT_EQ(*b.findDevice(v), std::optional<std::string>(host.dev + "/mapper/mpatha"));
}

TEST_F(KernelIscsiTest, TwoPathsWithoutMultipathRefuseReadWrite) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addSession(2, 8, kIqn, "127.0.0.2");
  host.addDisk(7, 1, "sdb");
  host.addDisk(8, 1, "sdc");
  KernelIscsiBackend b(runner, options());
  auto v = volume({"127.0.0.1:3260", "127.0.0.2:3260"});
  auto dev = b.attachDevice(v);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.error().code, EBUSY);
  EXPECT_NE(dev.error().message.find("2 paths (sdb, sdc) and dm-multipath is not loaded"),
            std::string::npos)
      << dev.error().message;
  EXPECT_FALSE(b.findDevice(v).ok());

  v.readOnly = true;
  dev = b.attachDevice(v);
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/sdb");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("using sdb only"), std::string::npos) << warnings[0];
}

TEST_F(KernelIscsiTest, OnePortalOfTwoLoggedInUsesItsDisk) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addDisk(7, 1, "sdb");
  KernelIscsiBackend b(runner, options());
  auto dev = b.attachDevice(volume({"127.0.0.1:3260", "127.0.0.2:3260"}));
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(*dev, host.dev + "/sdb");
}

// ── detachDevice ──

TEST_F(KernelIscsiTest, DetachFlushesAndDeletesTheDisk) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addDisk(7, 1, "sdb");
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.detachDevice(volume()).ok());
  EXPECT_EQ(runner.lines(), (Lines{"blockdev --flushbufs " + host.dev + "/sdb"}));
  EXPECT_EQ(host.writes, (Lines{"block/sdb/device/delete <- 1"}));
}

TEST_F(KernelIscsiTest, DetachFlushesAndRemovesTheMultipathMapFirst) {
  host.addSession(1, 7, kIqn, "127.0.0.1");
  host.addSession(2, 8, kIqn, "127.0.0.2");
  host.addDisk(7, 1, "sdb");
  host.addDisk(8, 1, "sdc");
  host.addMultipath("dm-3", "mpatha", {"sdb", "sdc"});
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.detachDevice(volume({"127.0.0.1:3260", "127.0.0.2:3260"})).ok());
  EXPECT_EQ(runner.lines(),
            (Lines{"blockdev --flushbufs " + host.dev + "/mapper/mpatha", "multipath -f mpatha",
                   "blockdev --flushbufs " + host.dev + "/sdb",
                   "blockdev --flushbufs " + host.dev + "/sdc"}));
  EXPECT_EQ(host.writes, (Lines{"block/sdb/device/delete <- 1", "block/sdc/device/delete <- 1"}));
}

TEST_F(KernelIscsiTest, DetachOfAnAbsentDiskSucceedsAndABusyMapFails) {
  KernelIscsiBackend b(runner, options());
  ASSERT_TRUE(b.detachDevice(volume()).ok());  // no session at all
  host.addSession(1, 7, kIqn, "127.0.0.1");
  ASSERT_TRUE(b.detachDevice(volume()).ok());  // session, no disk
  EXPECT_TRUE(runner.calls.empty());
  EXPECT_TRUE(host.writes.empty());

  host.addDisk(7, 1, "sdb");
  host.addMultipath("dm-3", "mpatha", {"sdb"});
  runner.reply({"multipath", "-f"}, {.exitCode = 1, .err = "mpatha: map in use\n"});
  auto st = b.detachDevice(volume());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("multipath -f mpatha: exit 1: mpatha: map in use"),
            std::string::npos)
      << st.error().message;
  EXPECT_TRUE(host.writes.empty()) << "deleted a path under a map in use";
}

// ── names ──

TEST(IscsiNames, PortalsAndByPath) {
  auto p = parseIscsiPortal("10.0.0.1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->arg(), "10.0.0.1:3260");
  p = parseIscsiPortal("[fd00::1]:3261");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->address, "fd00::1");
  EXPECT_EQ(p->arg(), "[fd00::1]:3261");
  EXPECT_FALSE(parseIscsiPortal("10.0.0.1:x").ok());
  EXPECT_FALSE(parseIscsiPortal("[fd00::1").ok());
  EXPECT_EQ(iscsiByPathName(IscsiPortal{"10.0.0.1", "3260"}, "iqn.a:b", 0),
            "ip-10.0.0.1:3260-iscsi-iqn.a:b-lun-0");
  EXPECT_EQ(iscsiByPathName(IscsiPortal{"10.0.0.1", "3260"}, "iqn.a:b", 256),
            "ip-10.0.0.1:3260-iscsi-iqn.a:b-lun-0x0100000000000000");
}

TEST(IscsiNames, ChapValues) {
  EXPECT_TRUE(validateChapValue("abc", "f").ok());
  EXPECT_FALSE(validateChapValue("", "f").ok());
  EXPECT_FALSE(validateChapValue(" lead", "f").ok());
  EXPECT_FALSE(validateChapValue(std::string(256, 'a'), "f").ok());
  EXPECT_FALSE(validateChapValue(std::string("a\0b", 3), "f").ok());
}

}  // namespace
}  // namespace boxd::reconcilers
