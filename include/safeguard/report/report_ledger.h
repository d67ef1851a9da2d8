// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The report ledger (docs/reports.md): one row per report made to the NCA
// (UK) or to NCMEC (US) about a piece of content, with its state, so that
// no content is reported twice to the same place and the transparency
// report can count what was sent.
//
// The duplicate rule:
//   - a report of content (by SHA-256) to a destination is refused while
//     another report of it there is pending or sent;
//   - a report to the NCA is refused while a report of the same content to
//     NCMEC is pending or sent: the UK regulations exempt content the
//     provider has already reported to NCMEC (docs/reports.md says where
//     that reading comes from and what to check with counsel).
// A failed or retracted report blocks nothing: the content can be reported
// again.
//
// The table lives in service.db beside the cases and the evidence index:
//
//   std::unique_ptr<ReportLedger> ledger;
//   Status s = ReportLedger::Open(conn, /*clock_ms=*/{}, &ledger);
//   ReportRecord r;
//   s = ledger->Record(case_id, kDestinationNcmec, sha256, 0, &r);   // pending
//   ... send ...
//   s = ledger->MarkSent(r.id, ncmec_report_id);
//
// Thread-safety: not thread-safe; the caller serialises use of the ledger
// and of its connection (the server holds its database mutex).

#ifndef SAFEGUARD_REPORT_REPORT_LEDGER_H_
#define SAFEGUARD_REPORT_REPORT_LEDGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::report {

/// Destinations, as stored in `reports.destination`.
inline constexpr std::string_view kDestinationNca = "nca";
inline constexpr std::string_view kDestinationNcmec = "ncmec";

/// States, as stored in `reports.state`. A report starts "pending" and
/// moves once: to "sent", "failed" or "retracted".
inline constexpr std::string_view kReportPending = "pending";
inline constexpr std::string_view kReportSent = "sent";
inline constexpr std::string_view kReportFailed = "failed";
inline constexpr std::string_view kReportRetracted = "retracted";

/// One row of the ledger.
struct ReportRecord {
  int64_t id = 0;
  /// Safeguard's case the report comes from; 0 if none.
  int64_t case_id = 0;
  /// "nca" or "ncmec".
  std::string destination;
  /// SHA-256 of the content, 64 lowercase hex digits.
  std::string content_sha256;
  /// "pending", "sent", "failed" or "retracted".
  std::string state;
  /// The destination's id for the report (NCMEC's report id, the NCA's
  /// reference); empty until sent.
  std::string external_id;
  /// The NCA priority (1-3); 0 for NCMEC or none.
  int priority = 0;
  /// When recorded and when sent, ms since the epoch; sent_ms is 0 until
  /// sent.
  int64_t created_ms = 0;
  int64_t sent_ms = 0;
  /// Why it failed or was retracted; empty otherwise.
  std::string error;
};

/// The ledger of reports, on a SQLite connection the caller owns.
class ReportLedger {
 public:
  /// Creates or upgrades the `reports` table in `conn` (which must outlive
  /// the ledger) and stores the ledger in *out. `clock_ms` gives ms since
  /// the epoch (empty: the system clock).
  static Status Open(sqlite::Conn* conn, std::function<int64_t()> clock_ms,
                     std::unique_ptr<ReportLedger>* out);

  ReportLedger(const ReportLedger&) = delete;
  ReportLedger& operator=(const ReportLedger&) = delete;

  /// Records a new "pending" report of content `content_sha256` (64 hex
  /// digits, any case; stored lowercase) to `destination` for case
  /// `case_id`, with NCA priority `priority` (1-3 for "nca", 0 for
  /// "ncmec"), after CheckNoDuplicate, in one transaction. Stores the row in
  /// *out (if not null). Returns kInvalidArgument for a malformed argument
  /// or a refused duplicate (see CheckNoDuplicate).
  Status Record(int64_t case_id, std::string_view destination, std::string_view content_sha256, int priority,
                ReportRecord* out);

  /// Marks pending report `id` sent, with the destination's id for it
  /// (required). kNotFound for an unknown id; kInvalidArgument if the
  /// report is not pending.
  Status MarkSent(int64_t id, std::string_view external_id);

  /// Marks pending report `id` failed with `error` (required; at most 2000
  /// bytes are kept). As MarkSent for errors.
  Status MarkFailed(int64_t id, std::string_view error);

  /// Marks pending report `id` retracted (withdrawn before it was complete,
  /// e.g. an NCMEC report retracted after a failed upload), with NCMEC's id
  /// (may be empty) and the reason. As MarkSent for errors.
  Status MarkRetracted(int64_t id, std::string_view external_id, std::string_view reason);

  /// Reads report `id` into *out; kNotFound if there is none.
  Status Get(int64_t id, ReportRecord* out);

  /// The reports recorded in [from_ms, to_ms), oldest first.
  Status List(int64_t from_ms, int64_t to_ms, std::vector<ReportRecord>* out);

  /// The reports still pending (not yet sent, failed or retracted), oldest
  /// first: what a sender has left to do.
  Status Pending(std::vector<ReportRecord>* out);

  /// Sets *reported to whether content `content_sha256` has a pending or
  /// sent report to `destination`. (A Status, not a bare bool: a database
  /// error must not read as "not reported".)
  Status ReportedTo(std::string_view content_sha256, std::string_view destination, bool* reported);

  /// Returns OK if content `content_sha256` may be reported to
  /// `destination` now. Returns kInvalidArgument, saying why and naming the
  /// existing report, when the content already has a pending or sent report
  /// to the same destination, or when `destination` is "nca" and the
  /// content has a pending or sent report to NCMEC (the UK regulations
  /// exempt content already reported to NCMEC). status.h has no "already
  /// exists" code; kInvalidArgument is the closest (HTTP 400).
  Status CheckNoDuplicate(std::string_view destination, std::string_view content_sha256);

 private:
  ReportLedger(sqlite::Conn* conn, std::function<int64_t()> clock_ms);
  int64_t Now() const;
  Status Finish(int64_t id, std::string_view state, std::string_view external_id, std::string_view error);
  Status FindActive(std::string_view content_sha256, std::string_view destination, ReportRecord* found,
                    bool* exists);

  sqlite::Conn* conn_;
  std::function<int64_t()> clock_ms_;
};

}  // namespace safeguard::report

#endif  // SAFEGUARD_REPORT_REPORT_LEDGER_H_
