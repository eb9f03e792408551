#include "state/sqlite_store.h"

#include <string>
#include <utility>
#include <vector>

#include "common/util.h"
#include "state/event_sql.h"

namespace boxd::state {

namespace {

// ---- SQL: every statement boxd runs against its tables. Values are always bound. ----

constexpr const char* kGetMeta = "SELECT value FROM meta WHERE key = ?1";
constexpr const char* kSetMeta =
    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = "
    "excluded.value";

#define BOXD_POD_COLUMNS                                                                  \
  "name, uid, spec_hash, spec_json, source_file, phase, reason, message, created_at_ms, " \
  "updated_at_ms"
constexpr const char* kListPods = "SELECT " BOXD_POD_COLUMNS " FROM pods ORDER BY name";
constexpr const char* kGetPod = "SELECT " BOXD_POD_COLUMNS " FROM pods WHERE name = ?1";
// ON CONFLICT DO UPDATE, not INSERT OR REPLACE: a replace deletes the row first, which would
// cascade to the pod's containers.
constexpr const char* kUpsertPod =
    "INSERT INTO pods (" BOXD_POD_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT (name) DO UPDATE SET uid = excluded.uid,"
    " spec_hash = excluded.spec_hash, spec_json = excluded.spec_json,"
    " source_file = excluded.source_file, phase = excluded.phase,"
    " reason = excluded.reason, message = excluded.message,"
    " created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms";
constexpr const char* kDeletePod = "DELETE FROM pods WHERE name = ?1";
#undef BOXD_POD_COLUMNS

#define BOXD_JOURNAL_COLUMNS "id, pod, pod_uid, seq, kind, resource, params, state, updated_at_ms"
constexpr const char* kJournalInsert =
    "INSERT INTO journal (pod, pod_uid, seq, kind, resource, params, state, updated_at_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'intent', ?7)";
constexpr const char* kJournalDone =
    "UPDATE journal SET state = 'done', params = ?2, updated_at_ms = ?3 WHERE id = ?1";
constexpr const char* kJournalDoneKeepParams =
    "UPDATE journal SET state = 'done', updated_at_ms = ?2 WHERE id = ?1";
constexpr const char* kJournalRemove = "DELETE FROM journal WHERE id = ?1";
constexpr const char* kJournalOfPod =
    "SELECT " BOXD_JOURNAL_COLUMNS " FROM journal WHERE pod = ?1 ORDER BY seq, id";
constexpr const char* kJournalAll = "SELECT " BOXD_JOURNAL_COLUMNS " FROM journal ORDER BY id";
constexpr const char* kJournalDeletePod = "DELETE FROM journal WHERE pod = ?1";
#undef BOXD_JOURNAL_COLUMNS

#define BOXD_CONTAINER_COLUMNS \
  "pod, name, state, reason, message, exit_code, restarts, pid, started_at_ms, finished_at_ms"
// rowid order is first-insert order, which is the order the agent records the spec's containers.
constexpr const char* kContainersOfPod =
    "SELECT " BOXD_CONTAINER_COLUMNS " FROM containers WHERE pod = ?1 ORDER BY rowid";
constexpr const char* kUpsertContainer =
    "INSERT INTO containers (" BOXD_CONTAINER_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT (pod, name) DO UPDATE SET state = excluded.state,"
    " reason = excluded.reason, message = excluded.message,"
    " exit_code = excluded.exit_code, restarts = excluded.restarts,"
    " pid = excluded.pid, started_at_ms = excluded.started_at_ms,"
    " finished_at_ms = excluded.finished_at_ms";
constexpr const char* kDeleteContainers = "DELETE FROM containers WHERE pod = ?1";
#undef BOXD_CONTAINER_COLUMNS

#define BOXD_EVENT_COLUMNS "id, time_ms, pod, type, reason, message"
constexpr const char* kAppendEvent =
    "INSERT INTO events (time_ms, pod, type, reason, message) VALUES (?1, ?2, ?3, ?4, ?5)";
// The newest ?1 rows (by id, i.e. append order), returned oldest first.
constexpr const char* kEventsAll = "SELECT * FROM (SELECT " BOXD_EVENT_COLUMNS
                                   " FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id";
constexpr const char* kEventsOfPod =
    "SELECT * FROM (SELECT " BOXD_EVENT_COLUMNS
    " FROM events WHERE pod = ?2 ORDER BY id DESC LIMIT ?1) ORDER BY id";
#undef BOXD_EVENT_COLUMNS

#define BOXD_IMAGE_COLUMNS "name, tag, id, size_bytes, created_at_ms"
constexpr const char* kListImages = "SELECT " BOXD_IMAGE_COLUMNS " FROM images ORDER BY name, tag";
constexpr const char* kGetImage =
    "SELECT " BOXD_IMAGE_COLUMNS " FROM images WHERE name = ?1 AND tag = ?2";
constexpr const char* kUpsertImage =
    "INSERT INTO images (" BOXD_IMAGE_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (name, tag) DO UPDATE SET"
    " id = excluded.id, size_bytes = excluded.size_bytes,"
    " created_at_ms = excluded.created_at_ms";
constexpr const char* kDeleteImage = "DELETE FROM images WHERE name = ?1 AND tag = ?2";
#undef BOXD_IMAGE_COLUMNS

#define BOXD_ADDRESS_COLUMNS "address, pod_uid, pod, allocated_at_ms"
constexpr const char* kListAddresses =
    "SELECT " BOXD_ADDRESS_COLUMNS " FROM addresses ORDER BY allocated_at_ms, address";
constexpr const char* kInsertAddress =
    "INSERT INTO addresses (" BOXD_ADDRESS_COLUMNS ") VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kReleaseAddress = "DELETE FROM addresses WHERE pod_uid = ?1";
#undef BOXD_ADDRESS_COLUMNS

// ---- rows to records (column order as in the SELECTs above) ----

PodRecord podFromRow(const sql::Query& q) {
  PodRecord p;
  p.name = q.text(0);
  p.uid = q.text(1);
  p.specHash = q.text(2);
  p.specJson = q.text(3);
  p.sourceFile = q.text(4);
  p.phase = q.text(5);
  p.reason = q.text(6);
  p.message = q.text(7);
  p.createdAtMs = q.int64(8);
  p.updatedAtMs = q.int64(9);
  return p;
}

ContainerRecord containerFromRow(const sql::Query& q) {
  ContainerRecord c;
  c.pod = q.text(0);
  c.name = q.text(1);
  c.state = q.text(2);
  c.reason = q.text(3);
  c.message = q.text(4);
  c.exitCode = q.integer(5);
  c.restarts = q.integer(6);
  c.pid = q.integer(7);
  c.startedAtMs = q.int64(8);
  c.finishedAtMs = q.int64(9);
  return c;
}

EventRecord eventFromRow(const sql::Query& q) {
  EventRecord e;
  e.id = q.int64(0);
  e.timeMs = q.int64(1);
  e.pod = q.text(2);
  e.type = q.text(3);
  e.reason = q.text(4);
  e.message = q.text(5);
  return e;
}

ImageRecord imageFromRow(const sql::Query& q) {
  ImageRecord i;
  i.name = q.text(0);
  i.tag = q.text(1);
  i.id = q.text(2);
  i.sizeBytes = q.int64(3);
  i.createdAtMs = q.int64(4);
  return i;
}

// Never throws: strings that are not valid UTF-8 are stored with U+FFFD in their place.
std::string dumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Reads every row of q with convert (returning T or Result<T>).
template <typename T, typename Convert>
Result<std::vector<T>> collect(sql::Query& q, Convert convert) {
  std::vector<T> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!*row) return out;
    Result<T> item = convert(q);
    if (!item.ok()) return item.error();
    out.push_back(std::move(*item));
  }
}

// Reads at most one row.
template <typename T, typename Convert>
Result<std::optional<T>> collectOne(sql::Query& q, Convert convert) {
  auto row = q.next();
  if (!row.ok()) return row.error();
  if (!*row) return std::optional<T>();
  return std::optional<T>(convert(q));
}

class SqliteStore final : public Store {
 public:
  SqliteStore(std::optional<WriterLock> lock, std::unique_ptr<sql::Database> db)
      : lock_(std::move(lock)), db_(std::move(db)) {}

  int schemaVersion() override {
    auto v = db_->scalarInt("PRAGMA user_version");
    return v.ok() ? static_cast<int>(*v) : -1;
  }

  Status transaction(const std::function<Status()>& fn) override;

  Result<std::optional<std::string>> getMeta(const std::string& key) override {
    auto q = db_->query(kGetMeta, "get meta " + key);
    if (!q.ok()) return q.error();
    q->bind(key);
    return collectOne<std::string>(*q, [](const sql::Query& r) { return r.text(0); });
  }

  Status setMeta(const std::string& key, const std::string& value) override {
    auto q = db_->query(kSetMeta, "set meta " + key);
    if (!q.ok()) return q.error();
    return q->bind(key, value).run();
  }

  Result<std::vector<PodRecord>> listPods() override {
    auto q = db_->query(kListPods, "list pods");
    if (!q.ok()) return q.error();
    return collect<PodRecord>(*q, podFromRow);
  }

  Result<std::optional<PodRecord>> getPod(const std::string& name) override {
    auto q = db_->query(kGetPod, "get pod " + name);
    if (!q.ok()) return q.error();
    q->bind(name);
    return collectOne<PodRecord>(*q, podFromRow);
  }

  Status upsertPod(const PodRecord& p) override {
    auto q = db_->query(kUpsertPod, "save pod " + p.name);
    if (!q.ok()) return q.error();
    return q
        ->bind(p.name, p.uid, p.specHash, p.specJson, p.sourceFile, p.phase, p.reason, p.message,
               p.createdAtMs, p.updatedAtMs)
        .run();
  }

  Status deletePod(const std::string& name) override {
    return transaction([&]() -> Status {
      BOXD_TRY(runWithName(kDeleteContainers, "delete containers of pod ", name));
      BOXD_TRY(runWithName(kJournalDeletePod, "delete journal of pod ", name));
      BOXD_TRY(runWithName(kDeletePod, "delete pod ", name));
      auto q = db_->query(event_sql::kTombstone, "remember the deletion of pod " + name);
      if (!q.ok()) return q.error();
      return q->bind(name, nowMs()).run();
    });
  }

  Result<int64_t> journalIntent(const JournalRow& row) override;
  Status journalDone(int64_t id, const nlohmann::json& params) override;
  Status journalRemove(int64_t id) override {
    auto q = db_->query(kJournalRemove, "remove journal row " + std::to_string(id));
    if (!q.ok()) return q.error();
    return q->bind(id).run();
  }
  Result<std::vector<JournalRow>> journal(const std::string& pod) override {
    auto q = db_->query(kJournalOfPod, "read journal of pod " + pod);
    if (!q.ok()) return q.error();
    q->bind(pod);
    return collect<JournalRow>(*q, [this](const sql::Query& r) { return journalFromRow(r); });
  }
  Result<std::vector<JournalRow>> journalAll() override {
    auto q = db_->query(kJournalAll, "read journal");
    if (!q.ok()) return q.error();
    return collect<JournalRow>(*q, [this](const sql::Query& r) { return journalFromRow(r); });
  }

  Result<std::vector<ContainerRecord>> containers(const std::string& pod) override {
    auto q = db_->query(kContainersOfPod, "list containers of pod " + pod);
    if (!q.ok()) return q.error();
    q->bind(pod);
    return collect<ContainerRecord>(*q, containerFromRow);
  }

  Status upsertContainer(const ContainerRecord& c) override {
    auto q = db_->query(kUpsertContainer, "save container " + c.pod + "/" + c.name);
    if (!q.ok()) return q.error();
    return q
        ->bind(c.pod, c.name, c.state, c.reason, c.message, c.exitCode, c.restarts, c.pid,
               c.startedAtMs, c.finishedAtMs)
        .run();
  }

  Status deleteContainers(const std::string& pod) override {
    return runWithName(kDeleteContainers, "delete containers of pod ", pod);
  }

  Result<int64_t> appendEvent(const EventRecord& e) override {
    int64_t id = 0;
    Status st = transaction([&]() -> Status {
      auto q = db_->query(kAppendEvent, "append event " + e.reason + " for pod " + e.pod);
      if (!q.ok()) return q.error();
      BOXD_TRY(q->bind(e.timeMs, e.pod, e.type, e.reason, e.message).run());
      id = db_->lastInsertRowid();
      auto trim = db_->query(event_sql::kTrimPod, "drop old events of pod " + e.pod);
      if (!trim.ok()) return trim.error();
      return trim->bind(e.pod, retention_.perPod).run();
    });
    if (!st.ok()) return st.error();
    return id;
  }

  Result<std::vector<EventRecord>> events(const std::string& pod, int limit) override {
    int64_t rows = limit < 0 ? -1 : limit;  // a negative LIMIT means no limit to SQLite
    auto q = pod.empty() ? db_->query(kEventsAll, "list events")
                         : db_->query(kEventsOfPod, "list events of pod " + pod);
    if (!q.ok()) return q.error();
    if (pod.empty()) {
      q->bind(rows);
    } else {
      q->bind(rows, pod);
    }
    return collect<EventRecord>(*q, eventFromRow);
  }

  Status pruneEvents(int64_t nowMs) override {
    const int64_t deletedBefore = nowMs - retention_.deletedPodMs;
    return transaction([&]() -> Status {
      for (const char* sqlText : {event_sql::kDropDeleted, event_sql::kDropTombstones}) {
        auto q = db_->query(sqlText, "drop the events of deleted pods");
        if (!q.ok()) return q.error();
        BOXD_TRY(q->bind(deletedBefore).run());
      }
      auto cap = db_->query(event_sql::kCap, "drop the oldest events");
      if (!cap.ok()) return cap.error();
      return cap->bind(retention_.maxRows).run();
    });
  }

  Status setEventRetention(const EventRetention& r) override {
    if (r.perPod < 1 || r.maxRows < 1 || r.deletedPodMs < 0)
      return db_->error("set event retention", "limits must be positive");
    retention_ = r;
    return okStatus();
  }

  Result<std::vector<ImageRecord>> listImages() override {
    auto q = db_->query(kListImages, "list images");
    if (!q.ok()) return q.error();
    return collect<ImageRecord>(*q, imageFromRow);
  }

  Result<std::optional<ImageRecord>> getImage(const std::string& name,
                                              const std::string& tag) override {
    auto q = db_->query(kGetImage, "get image " + name + ":" + tag);
    if (!q.ok()) return q.error();
    q->bind(name, tag);
    return collectOne<ImageRecord>(*q, imageFromRow);
  }

  Status upsertImage(const ImageRecord& i) override {
    auto q = db_->query(kUpsertImage, "save image " + i.name + ":" + i.tag);
    if (!q.ok()) return q.error();
    return q->bind(i.name, i.tag, i.id, i.sizeBytes, i.createdAtMs).run();
  }

  Status deleteImage(const std::string& name, const std::string& tag) override {
    auto q = db_->query(kDeleteImage, "delete image " + name + ":" + tag);
    if (!q.ok()) return q.error();
    return q->bind(name, tag).run();
  }

  Result<std::vector<AddressRecord>> listAddresses() override {
    auto q = db_->query(kListAddresses, "list addresses");
    if (!q.ok()) return q.error();
    return collect<AddressRecord>(*q, [](const sql::Query& r) {
      return AddressRecord{r.text(0), r.text(1), r.text(2), r.int64(3)};
    });
  }

  Status insertAddress(const AddressRecord& a) override {
    auto q = db_->query(kInsertAddress, "allocate address " + a.address + " to pod " + a.pod);
    if (!q.ok()) return q.error();
    return q->bind(a.address, a.podUid, a.pod, a.allocatedAtMs).run();
  }

  Status releaseAddress(const std::string& podUid) override {
    return runWithName(kReleaseAddress, "release the address of pod uid ", podUid);
  }

 private:
  Status runWithName(const char* sqlText, const char* what, const std::string& name) {
    auto q = db_->query(sqlText, what + name);
    if (!q.ok()) return q.error();
    return q->bind(name).run();
  }

  Result<JournalRow> journalFromRow(const sql::Query& q) const;

  // Members are destroyed in reverse: the connection closes (checkpointing the WAL) while the
  // writer lock is still held.
  std::optional<WriterLock> lock_;
  std::unique_ptr<sql::Database> db_;
  EventRetention retention_;
};

// SAVEPOINT rather than BEGIN, so transactions nest: deletePod inside a caller's transaction,
// or a failed inner transaction rolled back while the outer one goes on.
Status SqliteStore::transaction(const std::function<Status()>& fn) {
  BOXD_TRY(db_->exec("SAVEPOINT boxd_tx", "begin transaction"));
  struct RollbackUnlessCommitted {
    sql::Database& db;
    bool committed = false;
    ~RollbackUnlessCommitted() {
      // Errors here are secondary to the one being returned (or thrown); a failed outer
      // commit may already have rolled everything back, leaving no savepoint to roll back to.
      if (!committed) (void)db.exec("ROLLBACK TO boxd_tx; RELEASE boxd_tx");
    }
  } guard{*db_};
  Status st = fn();
  if (!st.ok()) return st;
  BOXD_TRY(db_->exec("RELEASE boxd_tx", "commit transaction"));
  guard.committed = true;
  return okStatus();
}

Result<int64_t> SqliteStore::journalIntent(const JournalRow& row) {
  auto q = db_->query(kJournalInsert,
                      "journal intent " + row.kind + " " + row.resource + " of pod " + row.pod);
  if (!q.ok()) return q.error();
  int64_t at = row.updatedAtMs != 0 ? row.updatedAtMs : nowMs();
  BOXD_TRY(q->bind(row.pod, row.podUid, row.seq, row.kind, row.resource, dumpJson(row.params), at)
               .run());
  return db_->lastInsertRowid();
}

Status SqliteStore::journalDone(int64_t id, const nlohmann::json& params) {
  std::string context = "mark journal row " + std::to_string(id) + " done";
  auto q = params.is_null() ? db_->query(kJournalDoneKeepParams, context)
                            : db_->query(kJournalDone, context);
  if (!q.ok()) return q.error();
  if (params.is_null()) {
    q->bind(id, nowMs());
  } else {
    q->bind(id, dumpJson(params), nowMs());
  }
  BOXD_TRY(q->run());
  if (db_->changes() == 0) return db_->error(context, "no such journal row");
  return okStatus();
}

Result<JournalRow> SqliteStore::journalFromRow(const sql::Query& q) const {
  JournalRow r;
  r.id = q.int64(0);
  r.pod = q.text(1);
  r.podUid = q.text(2);
  r.seq = q.integer(3);
  r.kind = q.text(4);
  r.resource = q.text(5);
  r.params = nlohmann::json::parse(q.text(6), nullptr, /*allow_exceptions=*/false);
  if (r.params.is_discarded()) {
    return db_->error("read journal row " + std::to_string(r.id), "params are not valid JSON");
  }
  r.state = q.text(7) == "done" ? StepState::Done : StepState::Intent;
  r.updatedAtMs = q.int64(8);
  return r;
}

}  // namespace

std::unique_ptr<Store> makeSqliteStore(std::optional<WriterLock> lock,
                                       std::unique_ptr<sql::Database> db) {
  return std::make_unique<SqliteStore>(std::move(lock), std::move(db));
}

}  // namespace boxd::state
