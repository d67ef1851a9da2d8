// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// AuditLog: the append-only, hash-chained record of every decision and every
// change to banks, API keys and configuration, kept in the `audit_log` table
// of the service database so a platform can show its regulator what it did
// and when. Record format v1 and the chain are specified in docs/audit.md.
//
//   std::unique_ptr<audit::AuditLog> log;
//   Status s = audit::AuditLog::Open(conn, /*clock_ms=*/nullptr, &log);
//   if (!s.ok()) return s;
//   s = log->Append({"key:k1", "bank.create", "stand-in", R"({"category":"csam"})"}, nullptr);
//
// Each record's hash covers its own fields and the previous record's hash, so
// editing, inserting, removing or reordering records breaks the chain at the
// first record concerned, and Verify names it. Removing records from the end
// leaves a valid (shorter) chain: keep the head that Verify reports somewhere
// else and check it later (ExpectedHead).
//
// Thread-safety: an AuditLog uses the caller's sqlite::Conn and inherits its
// rule: one thread at a time, serialised with every other use of that Conn
// (the server holds its own mutex). Appends through different connections,
// threads or processes to the same file are safe: SQLite's writer lock
// serialises them and each takes the next sequence number inside its write
// transaction.

#ifndef SAFEGUARD_AUDIT_AUDIT_LOG_H_
#define SAFEGUARD_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}

namespace safeguard::audit {

/// The record format this build writes and verifies (docs/audit.md).
inline constexpr int kRecordFormatVersion = 1;
/// Largest `details_json`, in bytes, before and after canonicalisation.
inline constexpr size_t kMaxDetailsBytes = 64 * 1024;
/// Largest actor, action or subject, in bytes.
inline constexpr size_t kMaxFieldBytes = 1024;

/// What happened, as the caller describes it.
struct Event {
  /// Who: "key:<key id>", "cli", "system". Not empty.
  std::string actor;
  /// What: "decision", "bank.create", "bank.update", "bank.delete", "signals.add",
  /// "signals.withdraw", "key.create", "key.revoke", "config.load", ... Not empty.
  std::string action;
  /// On what: a decision id, a bank name, a key id; may be empty.
  std::string subject;
  /// A JSON object with integers, strings, booleans, null, arrays and objects
  /// (no fractional numbers: write them as strings). Stored canonically (keys
  /// sorted, no spaces). Never media bytes: at most kMaxDetailsBytes.
  std::string details_json = "{}";
};

/// One record of the log. Hashes are 64 lowercase hex digits.
struct Record {
  /// 1 for the first record, then consecutive.
  uint64_t seq = 0;
  /// Milliseconds since the Unix epoch; never earlier than the previous record's.
  int64_t time_ms = 0;
  /// The event, with details_json in canonical form.
  Event event;
  /// The previous record's hash; 64 zeros for the first record.
  std::string prev_hash;
  /// SHA-256 of the record's canonical serialisation (docs/audit.md).
  std::string hash;
};

/// A record an operator saved from an earlier Verify (its head) and expects
/// the log still to hold, unchanged.
struct ExpectedHead {
  /// The record's sequence number; 0 (with 64 zeros) is the head of an empty log.
  uint64_t seq = 0;
  /// Its hash, 64 lowercase hex digits.
  std::string hash;
};

/// The outcome of Verify.
struct VerifyResult {
  /// True if every record checks out (and the expected head, if any, is there).
  bool ok = false;
  /// How many records the log holds (all of them, also past a bad one).
  uint64_t records = 0;
  /// The smallest sequence number at which the log departs from a valid
  /// chain (a removed record's own number); 0 when ok.
  uint64_t first_bad_seq = 0;
  /// What is wrong there, for a person; empty when ok.
  std::string problem;
  /// The last record's seq; 0 for an empty log.
  uint64_t head_seq = 0;
  /// The last record's hash; 64 zeros for an empty log. Worth keeping
  /// elsewhere only when ok.
  std::string head_hash;
};

/// The hash-chained audit log in the `audit_log` table of one database.
class AuditLog {
 public:
  /// Creates or upgrades the audit tables in `conn`'s database (in their own
  /// transaction: call it outside any transaction) and stores the log in
  /// *out. `conn` is borrowed and must outlive the log. `clock_ms` returns
  /// milliseconds since the Unix epoch; null means the system clock.
  /// Returns kCorrupt if the file's audit tables are newer than this build.
  static Status Open(sqlite::Conn* conn, std::function<int64_t()> clock_ms, std::unique_ptr<AuditLog>* out);

  /// For readers (verify, export): opens the database file at `path` with a
  /// connection of the log's own, creating and changing nothing, and stores
  /// the log in *out. Returns kNotFound if the file does not exist or holds no
  /// audit log, kCorrupt if its audit tables are newer than this build.
  /// Append works on such a log too, but is not what it is for.
  static Status OpenFile(const std::string& path, std::unique_ptr<AuditLog>* out);

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  /// Appends `e` as the next record and, if `appended` is not null, stores
  /// the record there. If the caller holds a transaction on the connection
  /// (begin it with BEGIN IMMEDIATE), the record joins it and disappears if
  /// the caller rolls back; otherwise Append commits the record in its own
  /// transaction. Returns kInvalidArgument for an empty actor or action,
  /// text that is not UTF-8 or holds NUL, details that are not a JSON object
  /// or hold fractional numbers; kTooLarge above the size limits; kCorrupt if
  /// the last record is damaged (nothing is chained onto it).
  Status Append(const Event& e, Record* appended);

  /// Checks the whole chain in sequence order, reading one record at a time
  /// (constant memory). A broken chain is a result (result->ok false), not an
  /// error; returns an error only if the table cannot be read.
  Status Verify(VerifyResult* result) const;
  /// Verify, and also check that the log holds record `expect.seq` with hash
  /// `expect.hash` (a head saved earlier): reports a log that was truncated
  /// or rewritten since.
  Status Verify(const ExpectedHead& expect, VerifyResult* result) const;

  /// Calls `fn` for each record with since_ms <= time_ms < until_ms, in
  /// sequence order, one at a time; stops at the first non-OK status `fn`
  /// returns and returns it. Records are passed as stored, damaged ones too
  /// (a column of the wrong type reads as 0 or empty).
  Status Export(int64_t since_ms, int64_t until_ms, const std::function<Status(const Record&)>& fn) const;

  /// Stores the last record in *last; returns kNotFound if the log is empty.
  Status Head(Record* last) const;

 private:
  AuditLog(sqlite::Conn* conn, std::function<int64_t()> clock_ms);

  std::unique_ptr<sqlite::Conn> owned_conn_;  // set by OpenFile only
  sqlite::Conn* conn_;
  const std::function<int64_t()> clock_ms_;
};

/// Returns `r` as one JSON object on one line, without a newline: the export
/// format (docs/audit.md). Thread-safe.
std::string RecordToJson(const Record& r);

/// Parses "SEQ:HASH" (as `safeguard audit verify` prints the head) into
/// *out; returns kInvalidArgument if it is not a positive number, a colon
/// and 64 hex digits.
Status ParseExpectedHead(std::string_view text, ExpectedHead* out);

/// Parses a time for Export: milliseconds since the Unix epoch, or RFC 3339
/// ("2026-11-29T12:00:00Z", "2026-11-29T12:00:00.250+01:00"). Stores
/// milliseconds since the epoch in *ms; returns kInvalidArgument otherwise.
Status ParseTimeMs(std::string_view text, int64_t* ms);

/// Returns `ms` (since the Unix epoch) as RFC 3339 UTC with milliseconds,
/// e.g. "2026-11-29T12:00:00.000Z".
std::string FormatTimeMs(int64_t ms);

}  // namespace safeguard::audit

#endif  // SAFEGUARD_AUDIT_AUDIT_LOG_H_
