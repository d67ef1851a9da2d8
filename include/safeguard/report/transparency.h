// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The transparency report (docs/transparency.md): what the service decided
// over a period, for the figures Ofcom asks of a regulated service and the
// statements of reasons the EU's Digital Services Act asks of a platform.
// Read from service.db (decisions, cases, the audit log); it changes
// nothing. `safeguard report transparency` writes it.
//
//   TransparencyOptions o;
//   o.from_ms = ...; o.to_ms = ...; o.out_dir = "report-2026-11";
//   TransparencySummary summary;
//   Status s = WriteTransparencyReport(conn, o, &summary);
//   // report-2026-11/transparency.html, decisions.csv, guard.csv, cases.csv,
//   // appeals.csv, reports.csv, statements_of_reasons.jsonl

#ifndef SAFEGUARD_REPORT_TRANSPARENCY_H_
#define SAFEGUARD_REPORT_TRANSPARENCY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::report {

/// What to report on, and where.
struct TransparencyOptions {
  /// The period, [from_ms, to_ms), in milliseconds since the epoch.
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  /// The folder the files are written to (created if missing).
  std::string out_dir;
  /// The service's name, shown in the report's title.
  std::string service_name = "Safeguard";
  /// ISO 3166 codes of the countries the decisions apply in, for the
  /// statements of reasons (the DSA database requires them). Empty: every
  /// EEA country.
  std::vector<std::string> territorial_scope;
};

/// The headline figures of a report.
struct TransparencySummary {
  int64_t decisions = 0;       ///< scan decisions in the period
  int64_t restricted = 0;      ///< of which blocked or quarantined
  int64_t statements = 0;      ///< statements of reasons written
  int64_t guard_requests = 0;  ///< guard records in the period
  int64_t guard_refused = 0;   ///< of which refused
  int64_t cases_opened = 0;    ///< cases opened in the period
  int64_t cases_closed = 0;    ///< cases closed in the period
  int64_t cases_overdue = 0;   ///< closed after their deadline, or still open past it
  int64_t appeals = 0;         ///< appeal cases opened in the period
  int64_t reversals = 0;       ///< appeal cases closed by restore
  int64_t reports_nca = 0;     ///< reports to the NCA made in the period and sent (written for submission)
  int64_t reports_ncmec = 0;   ///< reports to NCMEC made in the period and sent
};

/// Reads `service_db` (the server's service.db, opened by the caller) and
/// writes the report's files into options.out_dir. kInvalidArgument for an
/// empty or reversed period or a territorial scope that is not two-letter
/// codes; kIoError if a file cannot be written.
Status WriteTransparencyReport(sqlite::Conn* service_db, const TransparencyOptions& options,
                               TransparencySummary* summary);

}  // namespace safeguard::report

#endif  // SAFEGUARD_REPORT_TRANSPARENCY_H_
