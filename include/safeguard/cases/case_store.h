// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Cases: everything that needs a person (docs/cases.md). A scan decision that
// asks for review, a guard refusal that is a report candidate or needs a
// moderator, and a user's report of an intimate image each open a case with
// a deadline; moderators work the queue in priority order and every action
// is kept in the case's history.
//
// A CaseStore lives in service.db beside the decisions and the audit log, so
// a decision and the case it opens commit in one transaction.
//
//   std::unique_ptr<CaseStore> cases;
//   Status s = CaseStore::Open(conn, CasePolicy(), /*clock_ms=*/{}, &cases);
//   NewCase c;
//   c.source = Source::kNciiReport;
//   c.category = "ncii";
//   Case opened;
//   s = cases->Create(c, &opened);          // deadline: 48 hours
//   std::vector<Case> queue;
//   s = cases->Queue(QueueOptions(), &queue);  // most urgent first

#ifndef SAFEGUARD_CASES_CASE_STORE_H_
#define SAFEGUARD_CASES_CASE_STORE_H_

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

namespace safeguard::cases {

/// Where a case came from.
enum class Source : uint8_t {
  kScanReview = 0,  ///< "scan_review": a scan decision asked for review
  kGuard,           ///< "guard": a guard refusal (block_report or block_review)
  kNciiReport,      ///< "ncii_report": a person reported an intimate image of them
  kAppeal,          ///< "appeal": a user contests an automated action
};

/// "scan_review", "guard", "ncii_report", "appeal".
std::string_view SourceName(Source source);

/// Where a case is in its life.
enum class State : uint8_t {
  kOpen = 0,   ///< "open": in the queue
  kEscalated,  ///< "escalated": in the queue, for a senior moderator
  kWaiting,    ///< "waiting": more information was requested; still in the queue
  kClosed,     ///< "closed": acted on (see Case::outcome)
};

/// "open", "escalated", "waiting", "closed".
std::string_view StateName(State state);

/// What a case is about when it is opened.
struct NewCase {
  Source source = Source::kScanReview;
  /// The kind of harm: a bank category ("csam", "ncii", "terrorism",
  /// "other") or "guard".
  std::string category = "other";
  /// 1 (most severe) to 3.
  int severity = 2;
  /// What the case is about: a decision id, a guard record id, a report id.
  std::string subject;
  /// The platform's id of the content, and of the account concerned.
  std::string content_id;
  std::string account_id;
  /// Views plus shares, as the platform reports them (0 if unknown).
  int64_t reach = 0;
  /// Reported by a trusted flagger (served first, as the law asks).
  bool trusted_flagger = false;
  /// When it must be acted on, in ms since the epoch; 0 takes the policy's
  /// deadline for the source.
  int64_t deadline_ms = 0;
  /// Facts for the moderator as a JSON object: hashes, matches, rules,
  /// declarations. Never media: evidence lives only in the evidence store.
  std::string details_json = "{}";
};

/// A case as stored.
struct Case {
  int64_t id = 0;
  NewCase fields;
  State state = State::kOpen;
  /// The closing action ("confirm", "remove", "restore", "dismiss"); empty
  /// while the case is in the queue.
  std::string outcome;
  int64_t created_ms = 0;
  int64_t deadline_ms = 0;
  int64_t closed_ms = 0;  ///< 0 while open
  /// Where it stands in the queue now (Priority()); higher is sooner.
  double priority = 0;
};

/// One entry of a case's history.
struct CaseEvent {
  int64_t time_ms = 0;
  std::string actor;   ///< "key:ID", or "system"
  std::string action;  ///< "open", or an action of Act
  std::string note;
};

/// Deadlines by source, in milliseconds from the case's creation.
struct CasePolicy {
  /// A report of an intimate image: 48 hours from the report.
  int64_t ncii_report_ms = int64_t{48} * 3600 * 1000;
  /// A guard report candidate or review: 24 hours.
  int64_t guard_ms = int64_t{24} * 3600 * 1000;
  /// A scan decision held for review: 24 hours.
  int64_t scan_review_ms = int64_t{24} * 3600 * 1000;
  /// An appeal: 7 days.
  int64_t appeal_ms = int64_t{7} * 24 * 3600 * 1000;
};

/// The queue order at `now_ms` (docs/cases.md):
///   {1: 1000, 2: 600, 3: 300}[severity]
///   + 200 for a trusted flagger
///   + 100 * log10(1 + reach)
///   + 400 * (the fraction of the time to the deadline used, at most 1)
///   + 500 once the deadline has passed.
/// A closed case has priority 0.
double Priority(const Case& c, int64_t now_ms);

/// Which cases Queue returns.
struct QueueOptions {
  /// Include closed cases too (most recently closed after the open ones).
  bool include_closed = false;
  /// Only this source / category; empty: any.
  std::string source;
  std::string category;
  /// At most this many (1 to 10,000).
  int limit = 100;
};

/// What the console's dashboard plots for a period (CaseStore::Figures).
struct CaseFigures {
  /// Cases opened in the period, by category and source.
  struct Volume {
    std::string category;
    std::string source;
    int64_t count = 0;
  };
  std::vector<Volume> volumes;
  /// Cases closed in the period, by source: how long they took (nearest-rank
  /// percentiles) against the time the source allows.
  struct TimeToAction {
    std::string source;
    int64_t target_ms = 0;  ///< The source's deadline (CasePolicy).
    int64_t count = 0;
    int64_t p50_ms = 0, p90_ms = 0, p99_ms = 0;
    int64_t late = 0;  ///< Closed after their deadline.
  };
  std::vector<TimeToAction> time_to_action;
  /// Now: open cases, and those of them past their deadline.
  int64_t open = 0;
  int64_t overdue = 0;
};

/// The cases of one service database. Not thread-safe: the caller
/// serialises access (the server holds its database mutex).
class CaseStore {
 public:
  /// Creates or upgrades the tables in `conn` (which must outlive this).
  /// `clock_ms` gives milliseconds since the epoch (empty: the system clock).
  static Status Open(sqlite::Conn* conn, const CasePolicy& policy, std::function<int64_t()> clock_ms,
                     std::unique_ptr<CaseStore>* out);

  ~CaseStore();
  CaseStore(const CaseStore&) = delete;
  CaseStore& operator=(const CaseStore&) = delete;

  /// Opens a case (history: "open" by `actor`). kInvalidArgument for a
  /// severity outside 1..3, a negative reach or details that are not a JSON
  /// object. Runs inside the caller's transaction if one is open.
  Status Create(const NewCase& c, const std::string& actor, Case* out);

  /// One case and, if `history` is not null, its events oldest first.
  /// kNotFound if there is no such case.
  Status Get(int64_t id, Case* out, std::vector<CaseEvent>* history);

  /// The queue: cases not closed, by priority (ties: earlier deadline, then
  /// lower id).
  Status Queue(const QueueOptions& options, std::vector<Case>* out);

  /// A moderator's action on case `id`, with a note for the history:
  ///   confirm, remove, restore, dismiss   close the case with that outcome
  ///   escalate                            state escalated (senior moderator)
  ///   request_info                        state waiting
  /// kInvalidArgument for another action or a closed case; kNotFound for no
  /// such case. *out gets the case afterwards.
  Status Act(int64_t id, std::string_view action, const std::string& actor, std::string_view note, Case* out);

  /// The dashboard's figures for [from_ms, to_ms).
  Status Figures(int64_t from_ms, int64_t to_ms, CaseFigures* out);

  /// The actions Act accepts.
  static const std::vector<std::string>& Actions();

 private:
  CaseStore(sqlite::Conn* conn, const CasePolicy& policy, std::function<int64_t()> clock_ms);
  int64_t Now() const;
  sqlite::Conn* conn_;
  CasePolicy policy_;
  std::function<int64_t()> clock_ms_;
};

}  // namespace safeguard::cases

#endif  // SAFEGUARD_CASES_CASE_STORE_H_
