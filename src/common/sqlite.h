// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A thin layer over SQLite's C API shared by the blocks that keep records in
// SQLite (the bank store, the audit log, the server's keys, decisions and
// webhook outbox): a connection that caches prepared statements, a statement
// that resets itself, result codes mapped to Status, and per-component schema
// migrations. Internal: not part of the public headers.
//
// Thread-safety: a Conn and its statements are used by one thread at a time.

#ifndef SAFEGUARD_COMMON_SQLITE_H_
#define SAFEGUARD_COMMON_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {

// Long enough for another process's 10M-row import to finish.
inline constexpr int kBusyTimeoutMs = 120000;

// The Status for SQLite result code rc: kCorrupt for a damaged file, kIoError
// for I/O, locking and permission failures, kInvalidArgument for constraint
// violations, kInternal otherwise.
Status ErrorFor(int rc, const std::string& message);

// One connection to a database file. Prepared statements are compiled once
// per connection and reused.
class Conn {
 public:
  // Opens `path`; with `create`, creates the file if it is missing. Sets
  // extended result codes, the busy timeout and a page cache of `cache_mib`.
  static Status Open(const std::string& path, bool create, int cache_mib, std::unique_ptr<Conn>* out);

  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The raw handle, for calls this layer does not wrap.
  sqlite3* db() const { return db_; }
  // The file this connection opened.
  const std::string& path() const { return path_; }

  // An error status for result code rc, with SQLite's message and the path.
  Status Error(int rc, std::string_view what) const;

  // Runs one or more statements that return no rows.
  Status Exec(const std::string& sql);

  // Stores in *stmt the prepared statement for `sql`, compiled once per
  // connection and reused; the caller resets it (Stmt does).
  Status Prepare(const char* sql, sqlite3_stmt** stmt);

 private:
  Conn(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

  const std::string path_;
  sqlite3* const db_;
  std::map<std::string, sqlite3_stmt*> statements_;
};

// A prepared statement in use: binds, steps, reads columns, and resets the
// statement when it goes out of scope so the next user starts clean. Text
// and blobs are bound without copying; they must outlive the Step calls.
class Stmt {
 public:
  Stmt(Conn* conn, const char* sql) : conn_(conn) { status_ = conn->Prepare(sql, &stmt_); }
  ~Stmt() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void Int(int i, int64_t v) { Check(sqlite3_bind_int64(stmt_, i, v)); }
  void Null(int i) { Check(sqlite3_bind_null(stmt_, i)); }
  // Text is bound without a copy, so a temporary string would be gone
  // before Step reads it (a use-after-free ASan found once): refused.
  void Text(int i, std::string&& v) = delete;
  void Text(int i, const char* v) { Text(i, std::string_view(v)); }
  void Text(int i, std::string_view v) {
    // A null pointer would bind NULL; an empty string_view may have one.
    Check(sqlite3_bind_text(stmt_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  void Blob(int i, std::span<const uint8_t> v) {
    // A zero-length blob bound from a null pointer would be NULL, not X''.
    static const uint8_t kEmpty = 0;
    Check(sqlite3_bind_blob(stmt_, i, v.empty() ? &kEmpty : v.data(), static_cast<int>(v.size()),
                            SQLITE_STATIC));
  }

  // Runs one step. Sets *row to whether a row is available; returns an error
  // for anything but SQLITE_ROW / SQLITE_DONE.
  Status Step(bool* row) {
    *row = false;
    if (!status_.ok()) return status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) {
      *row = true;
      return Status::Ok();
    }
    if (rc == SQLITE_DONE) return Status::Ok();
    status_ = conn_->Error(rc, "running a statement");
    return status_;
  }
  // Runs a statement that returns no rows (or whose rows are not wanted).
  Status Run() {
    bool row;
    Status s = Step(&row);
    while (s.ok() && row) s = Step(&row);
    return s;
  }
  // Clears the bindings' results so the statement can run again with new ones.
  void Reset() { sqlite3_reset(stmt_); }

  int64_t ColumnInt(int i) const { return sqlite3_column_int64(stmt_, i); }
  bool ColumnIsNull(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  std::string_view ColumnText(int i) const {
    const char* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    return p == nullptr ? std::string_view() : std::string_view(p, sqlite3_column_bytes(stmt_, i));
  }
  std::span<const uint8_t> ColumnBlob(int i) const {
    const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, i));
    return p == nullptr ? std::span<const uint8_t>()
                        : std::span<const uint8_t>(p, sqlite3_column_bytes(stmt_, i));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && status_.ok()) status_ = conn_->Error(rc, "binding a parameter");
  }

  Conn* const conn_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

// Reads a one-row, one-integer query (PRAGMA user_version and the like).
Status QueryInt(Conn* conn, const char* sql, int64_t* value);

// Brings the tables of `component` to the latest of `migrations`
// (migrations[v - 1] takes them from version v - 1 to v), recording the
// version in a `schema_versions` table, in one transaction. Components that
// share one database file migrate independently. Returns kCorrupt if the file
// records a newer version than this program knows.
Status Migrate(Conn* conn, const char* component, std::span<const char* const> migrations);

}  // namespace safeguard::sqlite

#endif  // SAFEGUARD_COMMON_SQLITE_H_
