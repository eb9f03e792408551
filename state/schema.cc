#include "state/schema.h"

#include <array>
#include <string>

#include "state/store.h"

namespace boxd::state {

namespace {

// Version N is kMigrations[N-1]. To change the schema, append a step; never edit a shipped one.
constexpr std::array<const char*, 3> kMigrations = {
    // 1: initial schema.
    R"sql(
      PRAGMA application_id = 1651472484;
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
      );
      CREATE TABLE pods (
        name          TEXT PRIMARY KEY NOT NULL,
        uid           TEXT NOT NULL,
        spec_hash     TEXT NOT NULL,
        spec_json     TEXT NOT NULL,
        source_file   TEXT NOT NULL,
        phase         TEXT NOT NULL,
        reason        TEXT NOT NULL,
        message       TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
      );
      -- No foreign key to pods: a host mutation must be journaled even when it belongs to no
      -- pod row (agent-wide objects, or a pod whose row is being replaced).
      CREATE TABLE journal (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        pod           TEXT NOT NULL,
        pod_uid       TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        resource      TEXT NOT NULL,
        params        TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('intent', 'done')),
        updated_at_ms INTEGER NOT NULL
      );
      CREATE INDEX journal_by_pod ON journal (pod, seq, id);
      CREATE TABLE containers (
        pod            TEXT NOT NULL REFERENCES pods (name) ON DELETE CASCADE,
        name           TEXT NOT NULL,
        state          TEXT NOT NULL,
        reason         TEXT NOT NULL,
        message        TEXT NOT NULL,
        exit_code      INTEGER NOT NULL,
        restarts       INTEGER NOT NULL,
        pid            INTEGER NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        finished_at_ms INTEGER NOT NULL,
        PRIMARY KEY (pod, name)
      );
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        time_ms INTEGER NOT NULL,
        pod     TEXT NOT NULL,
        type    TEXT NOT NULL,
        reason  TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX events_by_pod ON events (pod, id);
      CREATE TABLE images (
        name          TEXT NOT NULL,
        tag           TEXT NOT NULL,
        id            TEXT NOT NULL,
        size_bytes    INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (name, tag)
      );
    )sql",
    // 2: pod addresses on the boxd bridge (IPAM). One row per pod incarnation; the address is the
    // primary key, so two pods can never hold the same one, across restarts too.
    R"sql(
      CREATE TABLE addresses (
        address         TEXT PRIMARY KEY NOT NULL,
        pod_uid         TEXT NOT NULL UNIQUE,
        pod             TEXT NOT NULL,
        allocated_at_ms INTEGER NOT NULL
      );
    )sql",
    // 3: events stay bounded. A deleted pod leaves a tombstone; its events go some time after.
    // Pods deleted before this version are given one at their last event.
    R"sql(
      CREATE TABLE deleted_pods (
        pod           TEXT PRIMARY KEY NOT NULL,
        deleted_at_ms INTEGER NOT NULL
      );
      INSERT INTO deleted_pods (pod, deleted_at_ms)
        SELECT pod, max(time_ms) FROM events
        WHERE pod <> '' AND pod NOT IN (SELECT name FROM pods) GROUP BY pod;
    )sql",
};

static_assert(kMigrations.size() == Store::kSchemaVersion,
              "Store::kSchemaVersion must count the migrations");

Status applyOne(sql::Database& db, int version) {
  std::string context = "migrate to schema version " + std::to_string(version);
  BOXD_TRY(db.exec("BEGIN IMMEDIATE", context));
  Status st = db.exec(kMigrations[static_cast<size_t>(version - 1)], context);
  if (st.ok()) {
    // PRAGMA takes no bound parameters; the value is an integer from this table, not data.
    std::string bump = "PRAGMA user_version = " + std::to_string(version);
    st = db.exec(bump.c_str(), context);
  }
  if (st.ok()) st = db.exec("COMMIT", context);
  if (!st.ok()) (void)db.exec("ROLLBACK");  // the first error is the one worth reporting
  return st;
}

}  // namespace

int latestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Status migrate(sql::Database& db, int from) {
  for (int v = from + 1; v <= latestSchemaVersion(); ++v) BOXD_TRY(applyOne(db, v));
  return okStatus();
}

}  // namespace boxd::state
