// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "common/sqlite.h"

#include <algorithm>
#include <string>

namespace safeguard::sqlite {

Status ErrorFor(int rc, const std::string& message) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corrupt(message);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_NOLFS:
    case SQLITE_AUTH:
      return Status::IoError(message);
    case SQLITE_CONSTRAINT:
      return Status::InvalidArgument(message);
    default:
      return Status::Internal(message);
  }
}

Status Conn::Open(const std::string& path, bool create, int cache_mib, std::unique_ptr<Conn>* out) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<Conn> conn(new Conn(path, db));  // closes db on every path
  if (rc != SQLITE_OK) return conn->Error(rc, "cannot open");
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  Status s = conn->Exec("PRAGMA cache_size = -" + std::to_string(std::max(1, cache_mib) * 1024));
  if (!s.ok()) return s;
  *out = std::move(conn);
  return Status::Ok();
}

Conn::~Conn() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Conn::Error(int rc, std::string_view what) const {
  std::string detail =
      db_ != nullptr && (rc & 0xff) != SQLITE_NOTADB ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  if ((rc & 0xff) == SQLITE_NOTADB) detail = "the file is not a SQLite database, or is damaged";
  return ErrorFor(rc, "SQLite database " + path_ + ": " + std::string(what) + ": " + detail);
}

Status Conn::Exec(const std::string& sql) {
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, sql.substr(0, sql.find_first_of("(\n")));
  return Status::Ok();
}

Status Conn::Prepare(const char* sql, sqlite3_stmt** stmt) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    *stmt = it->second;
    return Status::Ok();
  }
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "preparing a statement");
  statements_.emplace(sql, *stmt);
  return Status::Ok();
}

Status QueryInt(Conn* conn, const char* sql, int64_t* value) {
  Stmt stmt(conn, sql);
  bool row;
  Status s = stmt.Step(&row);
  if (!s.ok()) return s;
  *value = row ? stmt.ColumnInt(0) : 0;
  return Status::Ok();
}

Status Migrate(Conn* conn, const char* component, std::span<const char* const> migrations) {
  Status s = conn->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  auto body = [&]() -> Status {
    Status st = conn->Exec(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    if (!st.ok()) return st;
    int64_t version = 0;
    {
      Stmt get(conn, "SELECT version FROM schema_versions WHERE component = ?1");
      get.Text(1, component);
      bool row;
      st = get.Step(&row);
      if (!st.ok()) return st;
      if (row) version = get.ColumnInt(0);
    }
    if (version > static_cast<int64_t>(migrations.size())) {
      return Status::Corrupt("SQLite database " + conn->path() + ": the " + component +
                             " tables are at version " + std::to_string(version) +
                             ", newer than this program (" + std::to_string(migrations.size()) +
                             "); use a newer safeguard");
    }
    for (size_t v = static_cast<size_t>(version); v < migrations.size(); ++v) {
      st = conn->Exec(migrations[v]);
      if (!st.ok()) return st;
    }
    Stmt put(conn,
             "INSERT INTO schema_versions (component, version) VALUES (?1, ?2) "
             "ON CONFLICT (component) DO UPDATE SET version = excluded.version");
    put.Text(1, component);
    put.Int(2, static_cast<int64_t>(migrations.size()));
    return put.Run();
  };
  s = body();
  if (!s.ok()) {
    conn->Exec("ROLLBACK");
    return s;
  }
  return conn->Exec("COMMIT");
}

}  // namespace safeguard::sqlite
