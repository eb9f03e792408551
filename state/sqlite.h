// Thin RAII layer over the SQLite C API, private to state/.
//
//   Database  owns the sqlite3* connection and a cache of prepared statements keyed by SQL text
//   Query     one use of a cached statement: bind ?1..?N, step, read columns; it resets the
//             statement when it goes out of scope so the next caller finds it clean
//
// SQL text only ever comes from string constants in state/; values are always bound, never
// spliced into SQL. Errors read "state database <path>: <context>: <sqlite message>".
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

namespace boxd::state::sql {

class Database;

// One prepared statement, finalized on destruction.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  sqlite3_stmt* get() const { return stmt_; }
  bool inUse = false;  // a Query currently holds it

 private:
  sqlite3_stmt* stmt_;
};

class Query {
 public:
  Query(Database& db, Statement& stmt, std::string context);
  Query(Query&& other) noexcept;
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query& operator=(Query&&) = delete;
  ~Query();

  // Binds the arguments to ?1, ?2, ... in order. A bind failure is reported by the next step.
  template <typename... Args>
  Query& bind(const Args&... args) {
    int index = 1;
    (bindOne(index++, args), ...);
    return *this;
  }

  // Steps once: true when a row is ready to read, false when the statement is finished.
  [[nodiscard]] Result<bool> next();
  // Runs a statement that returns no rows to completion.
  [[nodiscard]] Status run();

  int64_t int64(int column) const { return sqlite3_column_int64(stmt(), column); }
  int integer(int column) const { return sqlite3_column_int(stmt(), column); }
  std::string text(int column) const;

 private:
  sqlite3_stmt* stmt() const { return stmt_->get(); }
  void bindOne(int index, int64_t value);
  void bindOne(int index, int value) { bindOne(index, static_cast<int64_t>(value)); }
  void bindOne(int index, std::string_view value);
  void bindOne(int index, const std::string& value) { bindOne(index, std::string_view(value)); }
  void bindOne(int index, const char* value) { bindOne(index, std::string_view(value)); }
  void noteBind(int rc);

  Database* db_;
  Statement* stmt_;
  std::string context_;  // what the caller is doing, for error messages: "upsert pod web"
  int bindRc_ = SQLITE_OK;
};

class Database {
 public:
  // Opens the connection with sqlite3_open_v2 flags (the file must already exist unless
  // SQLITE_OPEN_CREATE is given). Sets extended result codes and the busy timeout.
  static Result<std::unique_ptr<Database>> open(const std::string& path, int flags,
                                                int busyTimeoutMs);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs fixed SQL text (one or more statements, no parameters): pragmas and schema steps.
  // context, when given, names the operation in the error message.
  [[nodiscard]] Status exec(const char* sql, std::string_view context = {});
  // Prepares sql once (cached for the connection's life) and returns it ready to bind. context
  // names the operation in error messages.
  [[nodiscard]] Result<Query> query(const char* sql, std::string context);
  // Runs a one-row, one-column statement such as "PRAGMA user_version".
  [[nodiscard]] Result<int64_t> scalarInt(const char* sql);
  [[nodiscard]] Result<std::string> scalarText(const char* sql);

  int64_t lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int changes() const { return sqlite3_changes(db_); }
  const std::string& path() const { return path_; }
  // The extended result code and message of the connection's most recent failure.
  int lastCode() const { return sqlite3_extended_errcode(db_); }
  std::string lastMessage() const { return sqlite3_errmsg(db_); }

  // "state database <path>: <context>: <sqlite's message for the last failure>".
  [[nodiscard]] Error error(std::string_view context) const;
  [[nodiscard]] Error error(std::string_view context, int rc) const;
  // "state database <path>: <message>" for errors that are not SQLite's.
  [[nodiscard]] Error error(std::string_view context, std::string_view message) const;

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;  // closed by ~Database after every cached statement is finalized
  std::string path_;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
};

}  // namespace boxd::state::sql
