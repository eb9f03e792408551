#include "state/sqlite.h"

#include <cstring>
#include <utility>

namespace boxd::state::sql {

namespace {

std::string prefix(const std::string& path) { return "state database " + path; }

// errno for I/O failures, 0 for SQLite's logical errors.
int errnoFor(sqlite3* db, int rc) {
  int primary = rc & 0xff;
  if (db != nullptr &&
      (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL)) {
    return sqlite3_system_errno(db);
  }
  return 0;
}

}  // namespace

// ---- Query ----

Query::Query(Database& db, Statement& stmt, std::string context)
    : db_(&db), stmt_(&stmt), context_(std::move(context)) {
  stmt_->inUse = true;
}

Query::Query(Query&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      context_(std::move(other.context_)),
      bindRc_(other.bindRc_) {}

Query::~Query() {
  if (stmt_ == nullptr) return;
  // The result of reset repeats the last step's error, which next() already reported.
  (void)sqlite3_reset(stmt_->get());
  (void)sqlite3_clear_bindings(stmt_->get());
  stmt_->inUse = false;
}

void Query::noteBind(int rc) {
  if (bindRc_ == SQLITE_OK) bindRc_ = rc;
}

void Query::bindOne(int index, int64_t value) {
  noteBind(sqlite3_bind_int64(stmt(), index, value));
}

void Query::bindOne(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies the bytes, so temporaries passed to bind() are safe.
  noteBind(sqlite3_bind_text64(stmt(), index, value.data(), value.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8));
}

Result<bool> Query::next() {
  if (bindRc_ != SQLITE_OK) {
    return db_->error(context_ + ": bind", sqlite3_errstr(bindRc_));
  }
  int rc = sqlite3_step(stmt());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->error(context_, rc);
}

Status Query::run() {
  for (;;) {
    auto row = next();
    if (!row.ok()) return row.error();
    if (!*row) return okStatus();
  }
}

std::string Query::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt(), column);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p),
          static_cast<size_t>(sqlite3_column_bytes(stmt(), column))};
}

// ---- Database ----

Result<std::unique_ptr<Database>> Database::open(const std::string& path, int flags,
                                                 int busyTimeoutMs) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    int err = errnoFor(raw, rc);
    std::string message =
        prefix(path) + ": open: " + (raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    if (err != 0) message += std::string(" (") + std::strerror(err) + ")";
    sqlite3_close_v2(raw);
    return Error{err, std::move(message)};
  }
  std::unique_ptr<Database> db(new Database(raw, path));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, busyTimeoutMs);
  return db;
}

Database::~Database() {
  cache_.clear();
  sqlite3_close_v2(db_);
}

Status Database::exec(const char* sql, std::string_view context) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return okStatus();
  std::string text = prefix(path_) + ": ";
  if (!context.empty()) text += std::string(context) + ": ";
  text += message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return Error{errnoFor(db_, rc), std::move(text)};
}

Result<Query> Database::query(const char* sql, std::string context) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return error(context + ": prepare", rc);
    it = cache_.emplace(sql, std::make_unique<Statement>(stmt)).first;
  }
  if (it->second->inUse) {
    // Two live Querys on one statement would reset each other; that is a bug in state/.
    return error(context, std::string("statement already in use: ") + sql);
  }
  return Query(*this, *it->second, std::move(context));
}

Result<int64_t> Database::scalarInt(const char* sql) {
  auto q = query(sql, sql);
  if (!q.ok()) return q.error();
  auto row = q->next();
  if (!row.ok()) return row.error();
  if (!*row) return error(sql, "returned no row");
  return q->int64(0);
}

Result<std::string> Database::scalarText(const char* sql) {
  auto q = query(sql, sql);
  if (!q.ok()) return q.error();
  auto row = q->next();
  if (!row.ok()) return row.error();
  if (!*row) return error(sql, "returned no row");
  return q->text(0);
}

Error Database::error(std::string_view context) const {
  return error(context, sqlite3_extended_errcode(db_));
}

Error Database::error(std::string_view context, int rc) const {
  // sqlite3_errmsg describes the connection's most recent failure, which is the one at hand:
  // callers build the error right after the failing call.
  return Error{errnoFor(db_, rc),
               prefix(path_) + ": " + std::string(context) + ": " + sqlite3_errmsg(db_)};
}

Error Database::error(std::string_view context, std::string_view message) const {
  return Error{0, prefix(path_) + ": " + std::string(context) + ": " + std::string(message)};
}

}  // namespace boxd::state::sql
