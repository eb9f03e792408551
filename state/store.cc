// Store on SQLite. Opening a writer:
//
//   lock <db>.lock ──► create <db> 0600 ──► sqlite open ──► quick_check ──► schema check
//        (refuse a second boxd)            (if missing)     (refuse corrupt)  (refuse
//        newer/foreign)
//   ──► WAL + synchronous=NORMAL + foreign_keys ──► forward migrations ──► ready
//
// Nothing that can modify the file (WAL switch, migrations) runs before the checks, so a
// database that is refused is left exactly as it was found.
#include "state/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "common/fd.h"
#include "common/util.h"
#include "state/lock.h"
#include "state/schema.h"
#include "state/sqlite.h"
#include "state/sqlite_store.h"

namespace boxd::state {

const char* toString(StepState s) { return s == StepState::Intent ? "intent" : "done"; }

namespace {

constexpr int kBusyTimeoutMs = 5000;

std::string dbName(const std::string& path) { return "state database " + path; }

Status createIfMissing(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    if (errno == EEXIST) return okStatus();
    return sysError("create", path).wrap(dbName(path));
  }
  // The pods' specs (secrets included) live here: owner-only whatever the umask. SQLite gives
  // the -wal and -shm files the database file's mode.
  if (::fchmod(fd.get(), 0600) != 0) return sysError("chmod", path).wrap(dbName(path));
  return okStatus();
}

Error corrupt(const std::string& path, const std::string& detail) {
  return makeError(
      dbName(path) + " is corrupt or not an SQLite database (" + detail +
      "); refusing to open it rather than lose data: move it aside to start with an empty state");
}

// PRAGMA quick_check: "ok", or a list of problems. Unreadable files fail the statement itself.
Status checkIntegrity(sql::Database& db) {
  auto q = db.query("PRAGMA quick_check", "integrity check");
  if (!q.ok()) {
    int rc = db.lastCode() & 0xff;
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) return corrupt(db.path(), db.lastMessage());
    return q.error();
  }
  std::string problems;
  for (int rows = 0;; ++rows) {
    auto row = q->next();
    if (!row.ok()) {
      int rc = db.lastCode() & 0xff;
      if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) return corrupt(db.path(), db.lastMessage());
      return row.error();
    }
    if (!*row) break;
    std::string line = q->text(0);
    if (line == "ok") continue;
    if (rows < 3) problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!problems.empty()) return corrupt(db.path(), "quick_check: " + problems);
  return okStatus();
}

// Returns the database's schema version, refusing files this build must not touch.
Result<int> checkSchema(sql::Database& db, OpenMode mode) {
  auto version = db.scalarInt("PRAGMA user_version");
  if (!version.ok()) return version.error();
  auto appId = db.scalarInt("PRAGMA application_id");
  if (!appId.ok()) return appId.error();
  auto tables = db.scalarInt("SELECT count(*) FROM sqlite_schema");
  if (!tables.ok()) return tables.error();
  const std::string& path = db.path();
  if (*appId != 0 && *appId != kApplicationId) {
    return makeError(dbName(path) + " is not a boxd database (application_id " +
                     std::to_string(*appId) + "); refusing to use it");
  }
  if (*version == 0 && *tables > 0) {
    return makeError(dbName(path) + " has tables but no boxd schema; refusing to use it");
  }
  if (*version > Store::kSchemaVersion) {
    return makeError(dbName(path) + " has schema version " + std::to_string(*version) +
                     ", newer than this boxd supports (" + std::to_string(Store::kSchemaVersion) +
                     "); refusing to start rather than lose data");
  }
  if (mode == OpenMode::ReadOnly && *version < Store::kSchemaVersion) {
    return makeError(dbName(path) + " has schema version " + std::to_string(*version) +
                     ", older than this tool's (" + std::to_string(Store::kSchemaVersion) +
                     "); start boxd once to migrate it");
  }
  return static_cast<int>(*version);
}

Status configureWriter(sql::Database& db) {
  // The journal must survive a crash of boxd itself (kill -9, OOM, a bug): in WAL mode a commit
  // is complete once its frames are write()n to the -wal file, i.e. in the OS page cache, which
  // outlives the process. synchronous=NORMAL skips the fsync per commit, so the journal may not
  // survive a power loss or kernel crash; it need not, because everything it describes (mounts,
  // cgroups, namespaces, processes) dies with the machine too, and after a reboot boxd
  // re-derives state instead of trusting the journal (the boot id in meta changes). A torn WAL
  // tail after power loss is discarded by SQLite's checksums, so the file stays consistent.
  auto mode = db.scalarText("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.error();
  if (*mode != "wal") {
    return db.error("set journal_mode=WAL",
                    "the filesystem does not support it (mode is " + *mode + ")");
  }
  BOXD_TRY(db.exec("PRAGMA synchronous = NORMAL", "set synchronous=NORMAL"));
  BOXD_TRY(db.exec("PRAGMA foreign_keys = ON", "enable foreign keys"));
  return okStatus();
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path, OpenMode mode) {
  std::optional<WriterLock> lock;
  int flags = SQLITE_OPEN_READONLY;
  if (mode == OpenMode::ReadWrite) {
    auto acquired = WriterLock::acquire(path);
    if (!acquired.ok()) return acquired.error();
    lock.emplace(std::move(*acquired));
    BOXD_TRY(createIfMissing(path));
    flags = SQLITE_OPEN_READWRITE;
  }
  auto db = sql::Database::open(path, flags | SQLITE_OPEN_NOMUTEX, kBusyTimeoutMs);
  if (!db.ok()) return db.error();
  BOXD_TRY(checkIntegrity(**db));
  auto version = checkSchema(**db, mode);
  if (!version.ok()) return version.error();
  if (mode == OpenMode::ReadWrite) {
    BOXD_TRY(configureWriter(**db));
    BOXD_TRY(migrate(**db, *version));
  }
  return makeSqliteStore(std::move(lock), std::move(*db));
}

}  // namespace boxd::state
