// Unit tests for state/: the SQLite store, each case in its own temporary directory.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "common/hash.h"
#include "common/util.h"
#include "state/event_sql.h"
#include "state/store.h"

namespace boxd::state {
namespace {

using ::testing::HasSubstr;

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/boxd-state-test-" + randomHex(4) + "-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = tmpl;
    path_ = dir_ + "/boxd.db";
  }
  void TearDown() override {
    if (dir_.empty()) return;
    auto st = removeAll(dir_);
    EXPECT_TRUE(st.ok()) << st.error().message;
  }

  std::unique_ptr<Store> open(OpenMode mode = OpenMode::ReadWrite) {
    auto s = Store::open(path_, mode);
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Runs one statement on the file with plain SQLite, outside Store; returns the first column of
  // the first row ("" if none).
  std::string rawSql(const std::string& sqlText, int flags = SQLITE_OPEN_READWRITE) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, flags, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sqlText.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
        out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      }
      EXPECT_TRUE(rc == SQLITE_ROW || rc == SQLITE_DONE) << sqlite3_errmsg(db);
    } else {
      ADD_FAILURE() << sqlText << ": " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  std::string fileHash(const std::string& path) {
    auto content = readFile(path);
    EXPECT_TRUE(content.ok()) << content.error().message;
    return content.ok() ? sha256Hex(*content) : "";
  }

  static PodRecord pod(const std::string& name) {
    PodRecord p;
    p.name = name;
    p.uid = randomHex(8);
    p.specHash = sha256Hex(name);
    p.specJson = R"({"metadata":{"name":")" + name + R"("}})";
    p.sourceFile = name + ".yaml";
    p.phase = "Pending";
    p.reason = "";
    p.message = "";
    p.createdAtMs = 1000;
    p.updatedAtMs = 2000;
    return p;
  }

  static JournalRow step(const std::string& podName, int seq, const std::string& kind) {
    JournalRow r;
    r.pod = podName;
    r.podUid = "uid-" + podName;
    r.seq = seq;
    r.kind = kind;
    r.resource = "/sys/fs/cgroup/boxd/" + podName + "/" + kind;
    r.params = {{"path", r.resource}, {"seq", seq}};
    return r;
  }

  static EventRecord event(const std::string& podName, const std::string& reason, int64_t t) {
    return EventRecord{0, t, podName, "Normal", reason, "message " + reason};
  }

  std::string dir_;
  std::string path_;
};

// ---- open, schema, WAL ----

TEST_F(StateTest, OpenCreatesOwnerOnlyFileMigratedAndInWalMode) {
  mode_t old = ::umask(0);  // the mode must not depend on the caller's umask
  auto store = open();
  ::umask(old);
  ASSERT_TRUE(store);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(store->schemaVersion(), Store::kSchemaVersion);
  EXPECT_EQ(rawSql("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(rawSql("PRAGMA user_version"), std::to_string(Store::kSchemaVersion));
  EXPECT_EQ(rawSql("PRAGMA application_id"), std::to_string(0x626f7864));
  for (const char* table :
       {"meta", "pods", "journal", "containers", "events", "images", "addresses", "deleted_pods"}) {
    EXPECT_EQ(rawSql(std::string("SELECT name FROM sqlite_schema WHERE type='table' AND name='") +
                     table + "'"),
              table);
  }
}

TEST_F(StateTest, MigratesAnExistingEmptyDatabase) {
  // A database SQLite created but nobody gave a schema: user_version 0, no tables.
  ASSERT_EQ(rawSql("PRAGMA user_version", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), "0");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schemaVersion(), Store::kSchemaVersion);
  EXPECT_TRUE(store->upsertPod(pod("web")).ok());
}

TEST_F(StateTest, MigratesAVersion1DatabaseKeepingItsRows) {
  // A database as the first release of boxd left it: schema 1, no addresses table.
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsertPod(pod("web")).ok());
  }
  rawSql("DROP TABLE addresses");
  rawSql("DROP TABLE deleted_pods");
  rawSql("PRAGMA user_version = 1");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schemaVersion(), Store::kSchemaVersion);
  EXPECT_TRUE((*store->getPod("web")).has_value());
  ASSERT_TRUE(store->insertAddress({"10.88.0.2", "uid-1", "web", 1}).ok());
  Status dup = store->insertAddress({"10.88.0.2", "uid-2", "db", 2});
  EXPECT_FALSE(dup.ok()) << "an address is held by one pod only";
  EXPECT_FALSE(store->insertAddress({"10.88.0.3", "uid-1", "web", 3}).ok())
      << "a pod incarnation holds one address";
  auto rows = store->listAddresses();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].pod, "web");
  ASSERT_TRUE(store->releaseAddress("uid-1").ok());
  ASSERT_TRUE(store->releaseAddress("uid-1").ok()) << "releasing twice is fine";
  EXPECT_TRUE(store->listAddresses()->empty());
}

TEST_F(StateTest, MigratesAZeroByteFile) {
  ASSERT_TRUE(writeFileAtomic(path_, "", 0600).ok());
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schemaVersion(), Store::kSchemaVersion);
}

TEST_F(StateTest, ReopenKeepsData) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsertPod(pod("web")).ok());
    ASSERT_TRUE(store->setMeta("boot_id", "abc").ok());
    ASSERT_TRUE(store->journalIntent(step("web", 1, "cgroup")).ok());
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto p = store->getPod("web");
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->specHash, sha256Hex("web"));
  auto m = store->getMeta("boot_id");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->value_or(""), "abc");
  auto j = store->journal("web");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->size(), 1u);
}

TEST_F(StateTest, RefusesNewerSchemaAndLeavesFileUntouched) {
  { ASSERT_TRUE(open()); }
  rawSql("PRAGMA user_version = 99");
  rawSql("PRAGMA journal_mode = DELETE");  // fold the WAL in so the main file holds everything
  std::string before = fileHash(path_);
  for (OpenMode mode : {OpenMode::ReadWrite, OpenMode::ReadOnly}) {
    auto s = Store::open(path_, mode);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message, "state database " + path_ +
                                     " has schema version 99, newer than this boxd supports (" +
                                     std::to_string(Store::kSchemaVersion) +
                                     "); refusing to start rather than lose data");
  }
  EXPECT_EQ(fileHash(path_), before);
  EXPECT_EQ(rawSql("PRAGMA journal_mode"), "delete");  // not switched to WAL either
}

TEST_F(StateTest, RefusesRandomBytesAndLeavesFileUntouched) {
  std::string junk;
  for (int i = 0; i < 256; ++i) junk += randomHex(16);  // 8 KiB of noise
  ASSERT_TRUE(writeFileAtomic(path_, junk, 0600).ok());
  for (OpenMode mode : {OpenMode::ReadWrite, OpenMode::ReadOnly}) {
    auto s = Store::open(path_, mode);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.error().message, HasSubstr("state database " + path_ + " is corrupt"));
    EXPECT_THAT(s.error().message, HasSubstr("refusing to open it"));
  }
  auto after = readFile(path_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, junk);
}

TEST_F(StateTest, RefusesTruncatedDatabaseAndLeavesFileUntouched) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(store->appendEvent(event("web", "Started" + std::to_string(i), i)).ok());
      ASSERT_TRUE(store->upsertPod(pod("pod-" + std::to_string(i))).ok());
    }
  }
  rawSql("PRAGMA journal_mode = DELETE");
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  ASSERT_GT(st.st_size, 8 * 4096) << "the test needs a database of several pages";
  ASSERT_EQ(::truncate(path_.c_str(), st.st_size / 2), 0);
  std::string before = fileHash(path_);
  auto s = Store::open(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("state database " + path_ + " is corrupt"));
  EXPECT_EQ(fileHash(path_), before);
}

TEST_F(StateTest, RefusesAForeignSqliteDatabase) {
  rawSql("CREATE TABLE notes (text TEXT)", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  auto s = Store::open(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("has tables but no boxd schema"));
  EXPECT_EQ(rawSql("SELECT count(*) FROM sqlite_schema"), "1");
}

TEST_F(StateTest, SecondWriterIsRefusedWhileFirstIsOpen) {
  auto first = open();
  ASSERT_TRUE(first);
  auto second = Store::open(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "state database " + path_ + " is in use by another boxd (pid " +
                                        std::to_string(::getpid()) + ")");
  first.reset();
  auto third = Store::open(path_);
  EXPECT_TRUE(third.ok()) << third.error().message;
}

TEST_F(StateTest, ReadOnlyOpenWorksWhileWriterIsOpen) {
  auto writer = open();
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->upsertPod(pod("web")).ok());
  auto reader = open(OpenMode::ReadOnly);
  ASSERT_TRUE(reader);
  auto pods = reader->listPods();
  ASSERT_TRUE(pods.ok()) << pods.error().message;
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_EQ((*pods)[0].name, "web");
  // The reader sees the writer's later commits and cannot write itself.
  ASSERT_TRUE(writer->upsertPod(pod("db")).ok());
  pods = reader->listPods();
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->size(), 2u);
  auto w = reader->upsertPod(pod("x"));
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.error().message, HasSubstr("state database " + path_));
  EXPECT_THAT(w.error().message, HasSubstr("readonly"));
}

TEST_F(StateTest, ReadOnlyOpenOfMissingFileFailsWithoutCreatingIt) {
  auto s = Store::open(path_, OpenMode::ReadOnly);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("state database " + path_));
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
}

// ---- tables ----

TEST_F(StateTest, MetaCrud) {
  auto store = open();
  ASSERT_TRUE(store);
  auto missing = store->getMeta("boot_id");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store->setMeta("boot_id", "one").ok());
  ASSERT_TRUE(store->setMeta("boot_id", "two").ok());
  auto v = store->getMeta("boot_id");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value_or(""), "two");
}

TEST_F(StateTest, PodCrud) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->upsertPod(pod("web")).ok());
  ASSERT_TRUE(store->upsertPod(pod("api")).ok());
  PodRecord changed = pod("web");
  changed.phase = "Failed";
  changed.reason = "ImageNotFound";
  changed.message = "image \"nginx:1\" not found; it's 'quoted'";
  changed.updatedAtMs = 3000;
  ASSERT_TRUE(store->upsertPod(changed).ok());

  auto pods = store->listPods();
  ASSERT_TRUE(pods.ok()) << pods.error().message;
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].name, "api");  // by name
  const PodRecord& web = (*pods)[1];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.uid, changed.uid);
  EXPECT_EQ(web.specHash, changed.specHash);
  EXPECT_EQ(web.specJson, changed.specJson);
  EXPECT_EQ(web.sourceFile, "web.yaml");
  EXPECT_EQ(web.phase, "Failed");
  EXPECT_EQ(web.reason, "ImageNotFound");
  EXPECT_EQ(web.message, changed.message);
  EXPECT_EQ(web.createdAtMs, 1000);
  EXPECT_EQ(web.updatedAtMs, 3000);

  ASSERT_TRUE(store->deletePod("web").ok());
  auto gone = store->getPod("web");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_TRUE(store->deletePod("web").ok()) << "deleting an absent pod is not an error";
  auto left = store->listPods();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].name, "api");
}

TEST_F(StateTest, DeletePodRemovesItsContainersAndJournalButKeepsEvents) {
  auto store = open();
  ASSERT_TRUE(store);
  for (const char* name : {"web", "api"}) {
    ASSERT_TRUE(store->upsertPod(pod(name)).ok());
    ASSERT_TRUE(store->upsertContainer(ContainerRecord{name, "main", "Running"}).ok());
    ASSERT_TRUE(store->journalIntent(step(name, 1, "cgroup")).ok());
    ASSERT_TRUE(store->appendEvent(event(name, "Started", 1)).ok());
  }
  ASSERT_TRUE(store->deletePod("web").ok());
  auto webContainers = store->containers("web");
  ASSERT_TRUE(webContainers.ok());
  EXPECT_TRUE(webContainers->empty());
  auto webJournal = store->journal("web");
  ASSERT_TRUE(webJournal.ok());
  EXPECT_TRUE(webJournal->empty());
  auto webEvents = store->events("web", 10);
  ASSERT_TRUE(webEvents.ok());
  EXPECT_EQ(webEvents->size(), 1u);
  // The other pod is untouched.
  auto apiContainers = store->containers("api");
  ASSERT_TRUE(apiContainers.ok());
  EXPECT_EQ(apiContainers->size(), 1u);
  auto apiJournal = store->journal("api");
  ASSERT_TRUE(apiJournal.ok());
  EXPECT_EQ(apiJournal->size(), 1u);
}

TEST_F(StateTest, JournalOrderAndIntentDone) {
  auto store = open();
  ASSERT_TRUE(store);
  // Written out of seq order (e.g. a retried step); read back by seq.
  auto shim = store->journalIntent(step("web", 3, "shim"));
  auto cgroup = store->journalIntent(step("web", 1, "cgroup"));
  auto rootfs = store->journalIntent(step("web", 2, "rootfs"));
  auto other = store->journalIntent(step("api", 1, "cgroup"));
  ASSERT_TRUE(shim.ok() && cgroup.ok() && rootfs.ok() && other.ok()) << shim.error().message;
  EXPECT_LT(*shim, *cgroup);
  EXPECT_LT(*cgroup, *rootfs);

  auto rows = store->journal("web");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].kind, "cgroup");
  EXPECT_EQ((*rows)[1].kind, "rootfs");
  EXPECT_EQ((*rows)[2].kind, "shim");
  for (const JournalRow& r : *rows) {
    EXPECT_EQ(r.state, StepState::Intent);
    EXPECT_EQ(r.pod, "web");
    EXPECT_EQ(r.podUid, "uid-web");
    EXPECT_EQ(r.params["seq"], r.seq);
    EXPECT_GT(r.updatedAtMs, 0);
  }
  EXPECT_EQ((*rows)[0].id, *cgroup);
  EXPECT_EQ((*rows)[0].resource, "/sys/fs/cgroup/boxd/web/cgroup");

  nlohmann::json done = {{"pid", 4242}, {"starttime", 987654321}, {"nested", {{"a", {1, 2, 3}}}}};
  ASSERT_TRUE(store->journalDone(*shim, done).ok());
  ASSERT_TRUE(store->journalDone(*cgroup, nullptr).ok());  // null keeps the intent's params
  rows = store->journal("web");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ((*rows)[0].state, StepState::Done);
  EXPECT_EQ((*rows)[0].params, step("web", 1, "cgroup").params);
  EXPECT_EQ((*rows)[1].state, StepState::Intent);
  EXPECT_EQ((*rows)[2].state, StepState::Done);
  EXPECT_EQ((*rows)[2].params, done);

  auto missing = store->journalDone(999999, done);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("journal row 999999"));

  ASSERT_TRUE(store->journalRemove(*rootfs).ok());
  EXPECT_TRUE(store->journalRemove(*rootfs).ok()) << "removing an absent row is not an error";
  auto all = store->journalAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);  // by id: shim, cgroup, other
  EXPECT_EQ((*all)[0].id, *shim);
  EXPECT_EQ((*all)[1].id, *cgroup);
  EXPECT_EQ((*all)[2].id, *other);
  EXPECT_EQ((*all)[2].pod, "api");
  EXPECT_STREQ(toString(StepState::Intent), "intent");
  EXPECT_STREQ(toString(StepState::Done), "done");
}

TEST_F(StateTest, JournalIdsAreNeverReused) {
  auto store = open();
  ASSERT_TRUE(store);
  auto a = store->journalIntent(step("web", 1, "cgroup"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(store->journalRemove(*a).ok());
  auto b = store->journalIntent(step("web", 1, "cgroup"));
  ASSERT_TRUE(b.ok());
  EXPECT_GT(*b, *a);
}

TEST_F(StateTest, ContainerCrud) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->upsertPod(pod("web")).ok());
  ContainerRecord init{"web", "init", "Terminated", "Completed", "", 0, 0, 0, 10, 20};
  ContainerRecord main{"web", "main", "Waiting", "ContainerCreating", "", 0, 0, 0, 0, 0};
  ASSERT_TRUE(store->upsertContainer(init).ok());
  ASSERT_TRUE(store->upsertContainer(main).ok());
  main.state = "Running";
  main.reason = "";
  main.pid = 1234;
  main.restarts = 2;
  main.exitCode = 137;
  main.startedAtMs = 30;
  ASSERT_TRUE(store->upsertContainer(main).ok());

  auto cs = store->containers("web");
  ASSERT_TRUE(cs.ok()) << cs.error().message;
  ASSERT_EQ(cs->size(), 2u);
  EXPECT_EQ((*cs)[0].name, "init");  // in the order first recorded
  EXPECT_EQ((*cs)[0].finishedAtMs, 20);
  const ContainerRecord& m = (*cs)[1];
  EXPECT_EQ(m.pod, "web");
  EXPECT_EQ(m.name, "main");
  EXPECT_EQ(m.state, "Running");
  EXPECT_EQ(m.pid, 1234);
  EXPECT_EQ(m.restarts, 2);
  EXPECT_EQ(m.exitCode, 137);
  EXPECT_EQ(m.startedAtMs, 30);

  // A container of an unknown pod is a bug in the caller: the foreign key refuses it.
  auto orphan = store->upsertContainer(ContainerRecord{"nope", "main", "Running"});
  ASSERT_FALSE(orphan.ok());
  EXPECT_THAT(orphan.error().message, HasSubstr("FOREIGN KEY"));

  ASSERT_TRUE(store->deleteContainers("web").ok());
  cs = store->containers("web");
  ASSERT_TRUE(cs.ok());
  EXPECT_TRUE(cs->empty());
  auto p = store->getPod("web");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->has_value());
}

TEST_F(StateTest, UpsertPodKeepsItsContainers) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->upsertPod(pod("web")).ok());
  ASSERT_TRUE(store->upsertContainer(ContainerRecord{"web", "main", "Running"}).ok());
  PodRecord p = pod("web");
  p.phase = "Running";
  ASSERT_TRUE(store->upsertPod(p).ok());
  auto cs = store->containers("web");
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(cs->size(), 1u);
}

TEST_F(StateTest, EventsNewestLastWithLimitAndPrune) {
  auto store = open();
  ASSERT_TRUE(store);
  int64_t lastId = 0;
  for (int i = 0; i < 5; ++i) {
    auto web = store->appendEvent(event("web", "W" + std::to_string(i), 100 + i));
    auto api = store->appendEvent(event("api", "A" + std::to_string(i), 200 + i));
    ASSERT_TRUE(web.ok() && api.ok());
    EXPECT_GT(*web, lastId);
    EXPECT_GT(*api, *web);
    lastId = *api;
  }
  ASSERT_TRUE(store->appendEvent(event("", "AgentStarted", 300)).ok());

  auto web = store->events("web", 3);
  ASSERT_TRUE(web.ok()) << web.error().message;
  ASSERT_EQ(web->size(), 3u);
  EXPECT_EQ((*web)[0].reason, "W2");
  EXPECT_EQ((*web)[2].reason, "W4");
  EXPECT_EQ((*web)[2].timeMs, 104);
  EXPECT_EQ((*web)[2].type, "Normal");
  EXPECT_EQ((*web)[2].message, "message W4");

  auto all = store->events("", 4);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].reason, "A3");
  EXPECT_EQ((*all)[1].reason, "W4");
  EXPECT_EQ((*all)[2].reason, "A4");
  EXPECT_EQ((*all)[3].reason, "AgentStarted");
  EXPECT_EQ((*all)[3].pod, "");
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].id, (*all)[i].id);

  auto none = store->events("web", 0);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto unlimited = store->events("", -1);
  ASSERT_TRUE(unlimited.ok());
  EXPECT_EQ(unlimited->size(), 11u);
}

// ---- events stay bounded (issue 10: 97 -> 2066 rows after a churn of pods) ----

std::vector<std::string> reasonsOf(Store& store, const std::string& pod) {
  auto evs = store.events(pod, -1);
  EXPECT_TRUE(evs.ok()) << evs.error().message;
  std::vector<std::string> out;
  if (evs.ok())
    for (const EventRecord& e : *evs) out.push_back(e.reason);
  return out;
}

TEST_F(StateTest, EventsKeepTheNewestOfEachPodAtEveryAppend) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->setEventRetention({3, 3600000, 10000}).ok());
  for (int i = 0; i < 10; ++i) {
    for (const char* p : {"web", "api", ""})
      ASSERT_TRUE(store->appendEvent(event(p, p + std::to_string(i), 100 + i)).ok());
  }
  EXPECT_EQ(reasonsOf(*store, "web"), (std::vector<std::string>{"web7", "web8", "web9"}));
  EXPECT_EQ(reasonsOf(*store, "api"), (std::vector<std::string>{"api7", "api8", "api9"}));
  EXPECT_EQ(reasonsOf(*store, "").size(), 9u) << "agent-wide events count as one pod";
  EXPECT_FALSE(store->setEventRetention({0, 1, 1}).ok());
  EXPECT_FALSE(store->setEventRetention({1, 1, 0}).ok());
}

TEST_F(StateTest, EventsOfDeletedPodsGoAfterTheRetentionNotBefore) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->setEventRetention({100, 60000, 10000}).ok());
  for (const char* name : {"live", "gone", "back"}) {
    ASSERT_TRUE(store->upsertPod(pod(name)).ok());
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(store->appendEvent(event(name, name + std::to_string(i), 100 + i)).ok());
  }
  ASSERT_TRUE(store->deletePod("gone").ok());
  ASSERT_TRUE(store->deletePod("back").ok());
  ASSERT_TRUE(store->upsertPod(pod("back")).ok());  // the same name, created again

  ASSERT_TRUE(store->pruneEvents(nowMs()).ok());
  EXPECT_EQ(reasonsOf(*store, "gone").size(), 4u) << "kept for a while after the deletion";
  ASSERT_TRUE(store->pruneEvents(nowMs() + 61000).ok());
  EXPECT_TRUE(reasonsOf(*store, "gone").empty());
  EXPECT_EQ(reasonsOf(*store, "live").size(), 4u);
  EXPECT_EQ(reasonsOf(*store, "back").size(), 4u) << "a pod created again keeps its past";
  EXPECT_EQ(rawSql("SELECT count(*) FROM deleted_pods"), "0") << "tombstones go too";
}

TEST_F(StateTest, EventsDoNotGrowWithAChurnOfPods) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->setEventRetention({100, 60000, 10000}).ok());
  ASSERT_TRUE(store->appendEvent(event("", "AgentStarted", 1)).ok());
  for (int i = 0; i < 300; ++i) {  // each name once, as a churn of generated pods
    const std::string name = "churn-" + std::to_string(i);
    ASSERT_TRUE(store->upsertPod(pod(name)).ok());
    for (const char* r : {"Created", "Started", "Killing", "Deleted"})
      ASSERT_TRUE(store->appendEvent(event(name, r, 10 + i)).ok());
    ASSERT_TRUE(store->deletePod(name).ok());
  }
  ASSERT_EQ(rawSql("SELECT count(*) FROM events"), "1201");
  ASSERT_TRUE(store->pruneEvents(nowMs() + 61000).ok());
  EXPECT_EQ(rawSql("SELECT count(*) FROM events"), "1");
  EXPECT_EQ(reasonsOf(*store, ""), std::vector<std::string>{"AgentStarted"});
}

TEST_F(StateTest, EventsCappedInAllOldestFirst) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->setEventRetention({100, 60000, 5}).ok());
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(
        store->appendEvent(event("p" + std::to_string(i), "E" + std::to_string(i), i)).ok());
  ASSERT_TRUE(store->pruneEvents(nowMs()).ok());
  EXPECT_EQ(reasonsOf(*store, ""), (std::vector<std::string>{"E15", "E16", "E17", "E18", "E19"}));
}

// What SQLite plans for sqlText: every "detail" line of EXPLAIN QUERY PLAN.
std::vector<std::string> queryPlan(const std::string& path, const std::string& sqlText) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::vector<std::string> out;
  std::string eqp = "EXPLAIN QUERY PLAN " + sqlText;
  if (sqlite3_prepare_v2(db, eqp.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << sqlText << ": " << sqlite3_errmsg(db);
  } else {
    while (sqlite3_step(stmt) == SQLITE_ROW)
      out.push_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

TEST_F(StateTest, EventBoundsNeverScanTheEventsTable) {
  { ASSERT_TRUE(open()); }
  // (kTombstone is an insert by primary key: SQLite plans no table access for it.)
  for (const char* sqlText : {event_sql::kTrimPod, event_sql::kDropDeleted, event_sql::kCap}) {
    auto plan = queryPlan(path_, sqlText);
    ASSERT_FALSE(plan.empty()) << sqlText;
    for (const auto& step : plan)
      EXPECT_FALSE(startsWith(step, "SCAN events")) << sqlText << "\n  plans: " << step;
  }
}

TEST_F(StateTest, MigratesAVersion2DatabaseRememberingPodsDeletedBefore) {
  // A database as schema 2 left it: events of a pod deleted long ago ("old") and of a live one.
  {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->upsertPod(pod("web")).ok());
    for (const char* name : {"old", "web"}) {
      for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(store->appendEvent(event(name, name + std::to_string(i), 100 + i)).ok());
    }
  }
  rawSql("DROP TABLE deleted_pods");
  rawSql("PRAGMA user_version = 2");
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schemaVersion(), 3);
  EXPECT_EQ(rawSql("SELECT pod || ' ' || deleted_at_ms FROM deleted_pods"), "old 102")
      << "deleted at its last event; the live pod and agent-wide events get none";
  ASSERT_TRUE(store->pruneEvents(nowMs()).ok());
  EXPECT_TRUE(reasonsOf(*store, "old").empty());
  EXPECT_EQ(reasonsOf(*store, "web").size(), 3u);
}

TEST_F(StateTest, ImageCrud) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->upsertImage(ImageRecord{"busybox", "latest", "aaa", 100, 1}).ok());
  ASSERT_TRUE(store->upsertImage(ImageRecord{"alpine", "3.19", "bbb", 200, 2}).ok());
  ASSERT_TRUE(store->upsertImage(ImageRecord{"busybox", "1.36", "ccc", 300, 3}).ok());
  ASSERT_TRUE(store->upsertImage(ImageRecord{"busybox", "latest", "ddd", 400, 4}).ok());

  auto list = store->listImages();
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "alpine");
  EXPECT_EQ((*list)[1].tag, "1.36");
  EXPECT_EQ((*list)[2].tag, "latest");

  auto img = store->getImage("busybox", "latest");
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE(img->has_value());
  EXPECT_EQ((*img)->id, "ddd");
  EXPECT_EQ((*img)->sizeBytes, 400);
  EXPECT_EQ((*img)->createdAtMs, 4);
  auto absent = store->getImage("busybox", "nope");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  ASSERT_TRUE(store->deleteImage("busybox", "latest").ok());
  img = store->getImage("busybox", "latest");
  ASSERT_TRUE(img.ok());
  EXPECT_FALSE(img->has_value());
  list = store->listImages();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

// ---- transactions ----

TEST_F(StateTest, TransactionCommitsOnSuccess) {
  auto store = open();
  ASSERT_TRUE(store);
  auto st = store->transaction([&]() -> Status {
    BOXD_TRY(store->upsertPod(pod("web")));
    return store->setMeta("k", "v");
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto p = store->getPod("web");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->has_value());
}

TEST_F(StateTest, TransactionRollsBackOnError) {
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->setMeta("k", "before").ok());
  auto st = store->transaction([&]() -> Status {
    BOXD_TRY(store->upsertPod(pod("web")));
    BOXD_TRY(store->setMeta("k", "during"));
    BOXD_TRY(store->journalIntent(step("web", 1, "cgroup")));
    return makeError("step failed");
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "step failed");
  auto p = store->getPod("web");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_value());
  auto k = store->getMeta("k");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->value_or(""), "before");
  auto j = store->journalAll();
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE(j->empty());
  // The store is usable afterwards and nothing is left half-open.
  ASSERT_TRUE(store->upsertPod(pod("api")).ok());
  store.reset();
  store = open();
  ASSERT_TRUE(store);
  auto pods = store->listPods();
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->size(), 1u);
}

TEST_F(StateTest, NestedTransactionRollsBackOnlyItself) {
  auto store = open();
  ASSERT_TRUE(store);
  auto st = store->transaction([&]() -> Status {
    BOXD_TRY(store->upsertPod(pod("outer")));
    auto inner = store->transaction([&]() -> Status {
      BOXD_TRY(store->upsertPod(pod("inner")));
      return makeError("inner failed");
    });
    EXPECT_FALSE(inner.ok());
    return store->deletePod("nothing");  // itself a transaction, nested
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  auto pods = store->listPods();
  ASSERT_TRUE(pods.ok());
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_EQ((*pods)[0].name, "outer");
}

// ---- crash durability ----

// Waits for pid with a deadline; kills it (by pid) if it overstays. Returns the wait status.
int waitWithDeadline(pid_t pid, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "child " << pid << " did not finish in time";
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST_F(StateTest, CommittedIntentSurvivesKillOfTheWriter) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    auto s = Store::open(path_);
    if (!s.ok()) ::_exit(2);
    JournalRow r = step("web", 1, "cgroup");
    if (!(*s)->journalIntent(r).ok()) ::_exit(3);
    // An uncommitted transaction must vanish with the process.
    (void)(*s)->transaction([&]() -> Status {
      (void)(*s)->journalIntent(step("web", 2, "never-committed"));
      ::kill(::getpid(), SIGKILL);
      return okStatus();
    });
    ::_exit(4);
  }
  int status = waitWithDeadline(child, std::chrono::seconds(30));
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);

  // The commit lives in the WAL, not yet checkpointed into the main file: nobody closed it.
  struct stat wal {};
  ASSERT_EQ(::stat((path_ + "-wal").c_str(), &wal), 0);
  EXPECT_GT(wal.st_size, 0);

  auto store = open();  // the dead writer's lock is gone with it
  ASSERT_TRUE(store);
  auto rows = store->journal("web");
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].kind, "cgroup");
  EXPECT_EQ((*rows)[0].state, StepState::Intent);
  EXPECT_EQ((*rows)[0].params, step("web", 1, "cgroup").params);
}

}  // namespace
}  // namespace boxd::state
