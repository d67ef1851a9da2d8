// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The duplicate rule is checked in code (it spans destinations) and, for the
// same destination, also by a partial unique index: two processes recording
// the same content at once cannot both succeed, whatever their timing.

#include "safeguard/report/report_ledger.h"

#include <chrono>

#include "common/sqlite.h"

namespace safeguard::report {
namespace {

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE reports (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  case_id        INTEGER NOT NULL,
  destination    TEXT NOT NULL CHECK (destination IN ('nca', 'ncmec')),
  content_sha256 TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'retracted')),
  external_id    TEXT NOT NULL DEFAULT '',
  priority       INTEGER NOT NULL DEFAULT 0,
  created_ms     INTEGER NOT NULL,
  sent_ms        INTEGER NOT NULL DEFAULT 0,
  error          TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX reports_one_active ON reports (destination, content_sha256)
  WHERE state IN ('pending', 'sent');
CREATE INDEX reports_content ON reports (content_sha256, state);
CREATE INDEX reports_created ON reports (created_ms);
)sql",
};

constexpr const char* kColumns =
    "id, case_id, destination, content_sha256, state, external_id, priority, created_ms, sent_ms, error";
constexpr size_t kMaxErrorBytes = 2000;
constexpr size_t kMaxExternalIdBytes = 200;

void ReadRow(const sqlite::Stmt& q, ReportRecord* r) {
  r->id = q.ColumnInt(0);
  r->case_id = q.ColumnInt(1);
  r->destination = std::string(q.ColumnText(2));
  r->content_sha256 = std::string(q.ColumnText(3));
  r->state = std::string(q.ColumnText(4));
  r->external_id = std::string(q.ColumnText(5));
  r->priority = static_cast<int>(q.ColumnInt(6));
  r->created_ms = q.ColumnInt(7);
  r->sent_ms = q.ColumnInt(8);
  r->error = std::string(q.ColumnText(9));
}

// Every row `q` gives, appended to *out.
Status ReadRows(sqlite::Stmt* q, std::vector<ReportRecord>* out) {
  bool row = false;
  Status s;
  while ((s = q->Step(&row)).ok() && row) {
    ReportRecord r;
    ReadRow(*q, &r);
    out->push_back(std::move(r));
  }
  return s;
}

Status CheckDestination(std::string_view d) {
  if (d == kDestinationNca || d == kDestinationNcmec) return Status::Ok();
  return Status::InvalidArgument("report destination must be \"nca\" or \"ncmec\"");
}

// Lowercases a 64-hex-digit SHA-256 into *out; false if it is not one.
bool NormaliseSha256(std::string_view in, std::string* out) {
  if (in.size() != 64) return false;
  out->assign(in);
  for (char& c : *out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status BadSha256() { return Status::InvalidArgument("content SHA-256 must be 64 hex digits"); }

std::string Describe(const ReportRecord& r) {
  std::string s = "report " + std::to_string(r.id) + " (" + r.state;
  if (!r.external_id.empty()) s += ", " + r.destination + " id " + r.external_id;
  if (r.case_id > 0) s += ", case " + std::to_string(r.case_id);
  return s + ")";
}

}  // namespace

ReportLedger::ReportLedger(sqlite::Conn* conn, std::function<int64_t()> clock_ms)
    : conn_(conn), clock_ms_(std::move(clock_ms)) {}

Status ReportLedger::Open(sqlite::Conn* conn, std::function<int64_t()> clock_ms,
                          std::unique_ptr<ReportLedger>* out) {
  Status s = sqlite::Migrate(conn, "reports", kMigrations);
  if (!s.ok()) return s;
  out->reset(new ReportLedger(conn, std::move(clock_ms)));
  return Status::Ok();
}

int64_t ReportLedger::Now() const {
  if (clock_ms_) return clock_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status ReportLedger::FindActive(std::string_view sha256, std::string_view destination, ReportRecord* found,
                                bool* exists) {
  *exists = false;
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM reports WHERE content_sha256 = ?1 AND destination = ?2 "
                          "AND state IN ('pending', 'sent') ORDER BY id LIMIT 1";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Text(1, sha256);
  q.Text(2, destination);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (row) {
    ReadRow(q, found);
    *exists = true;
  }
  return Status::Ok();
}

Status ReportLedger::ReportedTo(std::string_view content_sha256, std::string_view destination,
                                bool* reported) {
  *reported = false;
  Status s = CheckDestination(destination);
  if (!s.ok()) return s;
  std::string sha;
  if (!NormaliseSha256(content_sha256, &sha)) return BadSha256();
  ReportRecord r;
  return FindActive(sha, destination, &r, reported);
}

Status ReportLedger::CheckNoDuplicate(std::string_view destination, std::string_view content_sha256) {
  Status s = CheckDestination(destination);
  if (!s.ok()) return s;
  std::string sha;
  if (!NormaliseSha256(content_sha256, &sha)) return BadSha256();
  ReportRecord existing;
  bool exists = false;
  s = FindActive(sha, destination, &existing, &exists);
  if (!s.ok()) return s;
  if (exists) {
    return Status::InvalidArgument("content " + sha + " is already reported to " + std::string(destination) +
                                   ": " + Describe(existing) +
                                   "; a second report of the same content is refused (mark the first failed "
                                   "or retracted to report again)");
  }
  if (destination == kDestinationNca) {
    s = FindActive(sha, kDestinationNcmec, &existing, &exists);
    if (!s.ok()) return s;
    if (exists) {
      return Status::InvalidArgument(
          "content " + sha + " is already reported to NCMEC: " + Describe(existing) +
          "; no NCA report is made, as the UK CSEA reporting regulations (SI 2026/268) exempt content "
          "the provider has already reported to NCMEC");
    }
  }
  return Status::Ok();
}

Status ReportLedger::Record(int64_t case_id, std::string_view destination, std::string_view content_sha256,
                            int priority, ReportRecord* out) {
  Status s = CheckDestination(destination);
  if (!s.ok()) return s;
  std::string sha;
  if (!NormaliseSha256(content_sha256, &sha)) return BadSha256();
  if (case_id < 0) return Status::InvalidArgument("case id must not be negative (0: none)");
  if (destination == kDestinationNca && (priority < 1 || priority > 3)) {
    return Status::InvalidArgument("an NCA report needs a priority of 1 to 3 (NcaPriority)");
  }
  if (destination == kDestinationNcmec && priority != 0) {
    return Status::InvalidArgument("an NCMEC report has no NCA priority; pass 0");
  }
  ReportRecord r;
  r.case_id = case_id;
  r.destination = std::string(destination);
  r.content_sha256 = sha;
  r.state = std::string(kReportPending);
  r.priority = priority;
  r.created_ms = Now();
  // The check and the insert in one savepoint, so nothing this connection
  // does can slip between them.
  s = conn_->Exec("SAVEPOINT report_record");
  if (!s.ok()) return s;
  s = CheckNoDuplicate(destination, sha);
  if (s.ok()) {
    sqlite::Stmt ins(
        conn_,
        "INSERT INTO reports (case_id, destination, content_sha256, state, priority, created_ms) "
        "VALUES (?1, ?2, ?3, 'pending', ?4, ?5)");
    ins.Int(1, r.case_id);
    ins.Text(2, r.destination);
    ins.Text(3, r.content_sha256);
    ins.Int(4, r.priority);
    ins.Int(5, r.created_ms);
    s = ins.Run();
  }
  if (s.ok()) {
    r.id = sqlite3_last_insert_rowid(conn_->db());
    s = conn_->Exec("RELEASE report_record");
  }
  if (!s.ok()) {
    conn_->Exec("ROLLBACK TO report_record");
    conn_->Exec("RELEASE report_record");
    return s;
  }
  if (out != nullptr) *out = r;
  return Status::Ok();
}

Status ReportLedger::Finish(int64_t id, std::string_view state, std::string_view external_id,
                            std::string_view error) {
  ReportRecord r;
  Status s = Get(id, &r);
  if (!s.ok()) return s;
  if (r.state != kReportPending) {
    return Status::InvalidArgument("report " + std::to_string(id) + " is " + r.state +
                                   ", not pending; only a " + "pending report can be marked " +
                                   std::string(state));
  }
  sqlite::Stmt up(conn_,
                  "UPDATE reports SET state = ?2, external_id = ?3, error = ?4, sent_ms = ?5 "
                  "WHERE id = ?1 AND state = 'pending'");
  up.Int(1, id);
  up.Text(2, state);
  up.Text(3, external_id);
  up.Text(4, error.substr(0, kMaxErrorBytes));
  up.Int(5, state == kReportSent ? Now() : 0);
  s = up.Run();
  if (!s.ok()) return s;
  if (sqlite3_changes(conn_->db()) != 1) {
    return Status::InvalidArgument("report " + std::to_string(id) +
                                   " changed state meanwhile; read it again");
  }
  return Status::Ok();
}

Status ReportLedger::MarkSent(int64_t id, std::string_view external_id) {
  if (external_id.empty() || external_id.size() > kMaxExternalIdBytes) {
    return Status::InvalidArgument("a sent report needs the destination's id for it (1 to 200 bytes)");
  }
  return Finish(id, kReportSent, external_id, "");
}

Status ReportLedger::MarkFailed(int64_t id, std::string_view error) {
  if (error.empty()) return Status::InvalidArgument("a failed report needs the error that failed it");
  return Finish(id, kReportFailed, "", error);
}

Status ReportLedger::MarkRetracted(int64_t id, std::string_view external_id, std::string_view reason) {
  if (external_id.size() > kMaxExternalIdBytes) {
    return Status::InvalidArgument("a report's external id is at most 200 bytes");
  }
  if (reason.empty()) return Status::InvalidArgument("a retracted report needs the reason");
  return Finish(id, kReportRetracted, external_id, reason);
}

Status ReportLedger::Get(int64_t id, ReportRecord* out) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM reports WHERE id = ?1";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Int(1, id);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("no report " + std::to_string(id));
  ReadRow(q, out);
  return Status::Ok();
}

Status ReportLedger::List(int64_t from_ms, int64_t to_ms, std::vector<ReportRecord>* out) {
  out->clear();
  if (to_ms < from_ms) return Status::InvalidArgument("report list: the period ends before it starts");
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM reports WHERE created_ms >= ?1 AND created_ms < ?2 ORDER BY created_ms, id";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Int(1, from_ms);
  q.Int(2, to_ms);
  return ReadRows(&q, out);
}

Status ReportLedger::Pending(std::vector<ReportRecord>* out) {
  out->clear();
  const std::string sql =
      std::string("SELECT ") + kColumns + " FROM reports WHERE state = 'pending' ORDER BY created_ms, id";
  sqlite::Stmt q(conn_, sql.c_str());
  return ReadRows(&q, out);
}

}  // namespace safeguard::report
