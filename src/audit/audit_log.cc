// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/audit/audit_log.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iterator>
#include <string>
#include <utility>

#include "audit/chain_checker.h"
#include "audit/record_format.h"
#include "common/sqlite.h"

namespace safeguard::audit {
namespace {

using sqlite::Conn;
using sqlite::Stmt;

constexpr const char* kComponent = "audit";

// kMigrations[v - 1] takes the audit tables from version v - 1 to v. Released
// entries are never edited (docs/audit.md, "Schema").
//
// STRICT keeps a wrong type out of every column; the triggers make the
// table append-only for every program that uses SQL honestly. Neither stops
// someone who edits the file directly, which is what the chain is for.
const char* const kMigrations[] = {
    "CREATE TABLE audit_log ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  time_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  details TEXT NOT NULL,"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ") STRICT;"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
};

// The columns every read selects, in Record order.
#define SAFEGUARD_AUDIT_COLUMNS "seq, time_ms, actor, action, subject, details, prev_hash, hash"

void ReadRecord(const Stmt& stmt, Record* r) {
  r->seq = static_cast<uint64_t>(stmt.ColumnInt(0));
  r->time_ms = stmt.ColumnInt(1);
  r->event.actor = stmt.ColumnText(2);
  r->event.action = stmt.ColumnText(3);
  r->event.subject = stmt.ColumnText(4);
  r->event.details_json = stmt.ColumnText(5);
  r->prev_hash = stmt.ColumnText(6);
  r->hash = stmt.ColumnText(7);
}

int64_t SystemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads the last record's seq, time and hash inside the caller's write
// transaction, so the number it yields cannot be taken by another writer.
Status ReadTail(Conn* conn, uint64_t* seq, int64_t* time_ms, std::string* hash) {
  Stmt stmt(conn, "SELECT seq, time_ms, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  bool row;
  Status s = stmt.Step(&row);
  if (!s.ok()) return s;
  if (!row) {
    *seq = 0;
    *time_ms = INT64_MIN;
    *hash = internal::ZeroHash();
    return Status::Ok();
  }
  if (stmt.ColumnInt(0) < 1 || !internal::IsHashHex(stmt.ColumnText(2))) {
    return Status::Corrupt("audit log in " + conn->path() + ": the last record (seq " +
                           std::to_string(stmt.ColumnInt(0)) +
                           ") is damaged; nothing is chained onto it (run `safeguard audit verify`)");
  }
  *seq = static_cast<uint64_t>(stmt.ColumnInt(0));
  *time_ms = stmt.ColumnInt(1);
  *hash = stmt.ColumnText(2);
  return Status::Ok();
}

Status InsertNext(Conn* conn, const std::function<int64_t()>& clock_ms, Event event, Record* appended) {
  uint64_t last_seq;
  int64_t last_time;
  std::string prev_hash;
  Status s = ReadTail(conn, &last_seq, &last_time, &prev_hash);
  if (!s.ok()) return s;
  Record r;
  r.seq = last_seq + 1;
  // Never earlier than the previous record: a clock stepped back (NTP, a
  // writer on another machine) must not make the log run backwards, and a
  // time range then selects a contiguous run of records.
  r.time_ms = std::max(clock_ms ? clock_ms() : SystemClockMs(), last_time);
  r.event = std::move(event);
  r.prev_hash = std::move(prev_hash);
  r.hash = internal::RecordHash(r.seq, r.time_ms, r.event, r.prev_hash);
  Stmt insert(conn,
              "INSERT INTO audit_log (" SAFEGUARD_AUDIT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  insert.Int(1, static_cast<int64_t>(r.seq));
  insert.Int(2, r.time_ms);
  insert.Text(3, r.event.actor);
  insert.Text(4, r.event.action);
  insert.Text(5, r.event.subject);
  insert.Text(6, r.event.details_json);
  insert.Text(7, r.prev_hash);
  insert.Text(8, r.hash);
  s = insert.Run();
  if (!s.ok()) return s;
  if (appended != nullptr) *appended = std::move(r);
  return Status::Ok();
}

// Status of the audit tables without changing the file: their version, or 0
// if the file has none.
Status AuditSchemaVersion(Conn* conn, int64_t* version) {
  int64_t tables = 0;
  Status s = sqlite::QueryInt(
      conn, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'", &tables);
  if (!s.ok() || tables == 0) {
    *version = 0;
    return s;
  }
  Stmt stmt(conn, "SELECT version FROM schema_versions WHERE component = ?1");
  stmt.Text(1, kComponent);
  bool row;
  s = stmt.Step(&row);
  if (!s.ok()) return s;
  *version = row ? stmt.ColumnInt(0) : 0;
  return Status::Ok();
}

// One pass over the table in seq order, one row in memory at a time.
Status VerifyChain(Conn* conn, const ExpectedHead* expect, VerifyResult* result) {
  internal::ChainChecker checker(expect);
  Stmt stmt(conn, "SELECT " SAFEGUARD_AUDIT_COLUMNS
                  ", typeof(seq) = 'integer' AND typeof(time_ms) = 'integer' AND typeof(actor) = 'text'"
                  " AND typeof(action) = 'text' AND typeof(subject) = 'text' AND typeof(details) = 'text'"
                  " AND typeof(prev_hash) = 'text' AND typeof(hash) = 'text'"
                  " FROM audit_log ORDER BY seq");
  Record r;
  for (;;) {
    bool row;
    Status s = stmt.Step(&row);
    if (!s.ok()) return s;
    if (!row) break;
    ReadRecord(stmt, &r);
    checker.Add(stmt.ColumnInt(0), r, stmt.ColumnInt(8) != 0);
  }
  checker.Finish(result);
  return Status::Ok();
}

}  // namespace

AuditLog::AuditLog(sqlite::Conn* conn, std::function<int64_t()> clock_ms)
    : conn_(conn), clock_ms_(std::move(clock_ms)) {}

AuditLog::~AuditLog() = default;

Status AuditLog::Open(sqlite::Conn* conn, std::function<int64_t()> clock_ms, std::unique_ptr<AuditLog>* out) {
  out->reset();
  Status s = sqlite::Migrate(conn, kComponent, kMigrations);
  if (!s.ok()) return s;
  out->reset(new AuditLog(conn, std::move(clock_ms)));
  return Status::Ok();
}

Status AuditLog::OpenFile(const std::string& path, std::unique_ptr<AuditLog>* out) {
  out->reset();
  // Checked first because SQLite would create a missing file, and a verify
  // that made an empty database would report a valid, empty log where the
  // real one is missing.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("no database file at " + path);
  }
  std::unique_ptr<Conn> conn;
  Status s = Conn::Open(path, /*create=*/false, /*cache_mib=*/16, &conn);
  if (!s.ok()) return s;
  int64_t version = 0;
  s = AuditSchemaVersion(conn.get(), &version);
  if (!s.ok()) return s;
  if (version == 0) return Status::NotFound("SQLite database " + path + " holds no audit log");
  if (version > static_cast<int64_t>(std::size(kMigrations))) {
    return Status::Corrupt("SQLite database " + path + ": the audit tables are at version " +
                           std::to_string(version) + ", newer than this program (" +
                           std::to_string(std::size(kMigrations)) + "); use a newer safeguard");
  }
  std::unique_ptr<AuditLog> log(new AuditLog(conn.get(), nullptr));
  log->owned_conn_ = std::move(conn);
  *out = std::move(log);
  return Status::Ok();
}

Status AuditLog::Append(const Event& e, Record* appended) {
  // Validation happens before any lock is taken: a bad event must not
  // disturb the caller's transaction or hold up other writers.
  Status s = internal::ValidateEventText(e);
  if (!s.ok()) return s;
  Event event{e.actor, e.action, e.subject, ""};
  s = internal::CanonicalDetails(e.details_json, &event.details_json);
  if (!s.ok()) return s;

  if (sqlite3_get_autocommit(conn_->db()) == 0) {
    // The caller's transaction: the record commits or rolls back with it.
    return InsertNext(conn_, clock_ms_, std::move(event), appended);
  }
  // IMMEDIATE takes the writer lock before the tail is read, so two writers
  // can never both read the same tail and chain onto it.
  s = conn_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  Record r;
  s = InsertNext(conn_, clock_ms_, std::move(event), &r);
  if (s.ok()) s = conn_->Exec("COMMIT");
  if (!s.ok()) {
    if (sqlite3_get_autocommit(conn_->db()) == 0) conn_->Exec("ROLLBACK");
    return s;
  }
  if (appended != nullptr) *appended = std::move(r);
  return Status::Ok();
}

Status AuditLog::Verify(VerifyResult* result) const { return VerifyChain(conn_, nullptr, result); }

Status AuditLog::Verify(const ExpectedHead& expect, VerifyResult* result) const {
  return VerifyChain(conn_, &expect, result);
}

Status AuditLog::Export(int64_t since_ms, int64_t until_ms,
                        const std::function<Status(const Record&)>& fn) const {
  // A scan in seq order (the table's own order, so nothing is sorted or held
  // in memory); an export is rare enough that an index on time would cost
  // every append more than it saves.
  Stmt stmt(conn_, "SELECT " SAFEGUARD_AUDIT_COLUMNS
                   " FROM audit_log WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY seq");
  stmt.Int(1, since_ms);
  stmt.Int(2, until_ms);
  Record r;
  for (;;) {
    bool row;
    Status s = stmt.Step(&row);
    if (!s.ok() || !row) return s;
    ReadRecord(stmt, &r);
    s = fn(r);
    if (!s.ok()) return s;
  }
}

Status AuditLog::Head(Record* last) const {
  Stmt stmt(conn_, "SELECT " SAFEGUARD_AUDIT_COLUMNS " FROM audit_log ORDER BY seq DESC LIMIT 1");
  bool row;
  Status s = stmt.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("the audit log in " + conn_->path() + " is empty");
  ReadRecord(stmt, last);
  return Status::Ok();
}

Status ParseExpectedHead(std::string_view text, ExpectedHead* out) {
  const auto bad = [&] {
    return Status::InvalidArgument("expected head '" + std::string(text) +
                                   "' is not SEQ:HASH (a record number, a colon and 64 hex digits, as "
                                   "`safeguard audit verify` prints them)");
  };
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return bad();
  uint64_t seq = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') return bad();
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  std::string hash(text.substr(colon + 1));
  std::transform(hash.begin(), hash.end(), hash.begin(),
                 [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; });
  if (!internal::IsHashHex(hash)) return bad();
  // 0 names the head of an empty log, which has no hash but the zeros.
  if (seq == 0 && hash != internal::ZeroHash()) return bad();
  out->seq = seq;
  out->hash = std::move(hash);
  return Status::Ok();
}

#undef SAFEGUARD_AUDIT_COLUMNS

}  // namespace safeguard::audit
