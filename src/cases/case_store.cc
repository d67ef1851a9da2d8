// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/cases/case_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/sqlite.h"

namespace safeguard::cases {
namespace {

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE cases (
  id              INTEGER PRIMARY KEY,
  source          INTEGER NOT NULL,
  category        TEXT NOT NULL,
  severity        INTEGER NOT NULL,
  subject         TEXT NOT NULL,
  content_id      TEXT NOT NULL,
  account_id      TEXT NOT NULL,
  reach           INTEGER NOT NULL,
  trusted_flagger INTEGER NOT NULL,
  details         TEXT NOT NULL,
  state           INTEGER NOT NULL,
  outcome         TEXT NOT NULL DEFAULT '',
  created_ms      INTEGER NOT NULL,
  deadline_ms     INTEGER NOT NULL,
  closed_ms       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cases_state ON cases (state, deadline_ms);
CREATE TABLE case_events (
  case_id INTEGER NOT NULL REFERENCES cases (id),
  time_ms INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  note    TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, time_ms);
)sql",
};

constexpr const char* kColumns =
    "id, source, category, severity, subject, content_id, account_id, reach, trusted_flagger, details, "
    "state, "
    "outcome, created_ms, deadline_ms, closed_ms";

void ReadRow(const sqlite::Stmt& q, Case* c) {
  c->id = q.ColumnInt(0);
  c->fields.source = static_cast<Source>(q.ColumnInt(1));
  c->fields.category = std::string(q.ColumnText(2));
  c->fields.severity = static_cast<int>(q.ColumnInt(3));
  c->fields.subject = std::string(q.ColumnText(4));
  c->fields.content_id = std::string(q.ColumnText(5));
  c->fields.account_id = std::string(q.ColumnText(6));
  c->fields.reach = q.ColumnInt(7);
  c->fields.trusted_flagger = q.ColumnInt(8) != 0;
  c->fields.details_json = std::string(q.ColumnText(9));
  c->state = static_cast<State>(q.ColumnInt(10));
  c->outcome = std::string(q.ColumnText(11));
  c->created_ms = q.ColumnInt(12);
  c->deadline_ms = q.ColumnInt(13);
  c->closed_ms = q.ColumnInt(14);
  c->fields.deadline_ms = c->deadline_ms;
}

Status AddEvent(sqlite::Conn* conn, int64_t id, int64_t now, const std::string& actor,
                std::string_view action, std::string_view note) {
  sqlite::Stmt ins(
      conn, "INSERT INTO case_events (case_id, time_ms, actor, action, note) VALUES (?1, ?2, ?3, ?4, ?5)");
  ins.Int(1, id);
  ins.Int(2, now);
  ins.Text(3, actor);
  ins.Text(4, action);
  ins.Text(5, note);
  return ins.Run();
}

// Runs `body` inside a savepoint: all of it or none, inside the caller's
// transaction if one is open.
template <typename F>
Status Atomically(sqlite::Conn* conn, F body) {
  Status s = conn->Exec("SAVEPOINT case_store");
  if (!s.ok()) return s;
  s = body();
  if (s.ok()) return conn->Exec("RELEASE case_store");
  conn->Exec("ROLLBACK TO case_store");
  conn->Exec("RELEASE case_store");
  return s;
}

}  // namespace

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kScanReview:
      return "scan_review";
    case Source::kGuard:
      return "guard";
    case Source::kNciiReport:
      return "ncii_report";
    case Source::kAppeal:
      return "appeal";
  }
  return "unknown";
}

std::string_view StateName(State state) {
  switch (state) {
    case State::kOpen:
      return "open";
    case State::kEscalated:
      return "escalated";
    case State::kWaiting:
      return "waiting";
    case State::kClosed:
      return "closed";
  }
  return "unknown";
}

double Priority(const Case& c, int64_t now_ms) {
  if (c.state == State::kClosed) return 0;
  static const double kBase[] = {1000, 600, 300};
  double p = kBase[std::clamp(c.fields.severity, 1, 3) - 1];
  if (c.fields.trusted_flagger) p += 200;
  p += 100 * std::log10(1.0 + static_cast<double>(std::max<int64_t>(0, c.fields.reach)));
  const double allowed = static_cast<double>(std::max<int64_t>(1, c.deadline_ms - c.created_ms));
  const double used = static_cast<double>(now_ms - c.created_ms) / allowed;
  p += 400 * std::clamp(used, 0.0, 1.0);
  if (now_ms > c.deadline_ms) p += 500;
  return p;
}

CaseStore::CaseStore(sqlite::Conn* conn, const CasePolicy& policy, std::function<int64_t()> clock_ms)
    : conn_(conn), policy_(policy), clock_ms_(std::move(clock_ms)) {}

CaseStore::~CaseStore() = default;

Status CaseStore::Open(sqlite::Conn* conn, const CasePolicy& policy, std::function<int64_t()> clock_ms,
                       std::unique_ptr<CaseStore>* out) {
  Status s = sqlite::Migrate(conn, "cases", kMigrations);
  if (!s.ok()) return s;
  out->reset(new CaseStore(conn, policy, std::move(clock_ms)));
  return Status::Ok();
}

int64_t CaseStore::Now() const {
  if (clock_ms_) return clock_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::vector<std::string>& CaseStore::Actions() {
  static const std::vector<std::string> kActions = {"confirm", "remove",   "restore",
                                                    "dismiss", "escalate", "request_info"};
  return kActions;
}

Status CaseStore::Create(const NewCase& c, const std::string& actor, Case* out) {
  if (c.severity < 1 || c.severity > 3) return Status::InvalidArgument("case severity must be 1, 2 or 3");
  if (c.reach < 0) return Status::InvalidArgument("case reach must not be negative");
  if (c.category.empty()) return Status::InvalidArgument("a case needs a category");
  const nlohmann::json details = nlohmann::json::parse(c.details_json, nullptr, false);
  if (details.is_discarded() || !details.is_object()) {
    return Status::InvalidArgument("case details must be a JSON object");
  }
  const int64_t now = Now();
  int64_t deadline = c.deadline_ms;
  if (deadline == 0) {
    switch (c.source) {
      case Source::kScanReview:
        deadline = now + policy_.scan_review_ms;
        break;
      case Source::kGuard:
        deadline = now + policy_.guard_ms;
        break;
      case Source::kNciiReport:
        deadline = now + policy_.ncii_report_ms;
        break;
      case Source::kAppeal:
        deadline = now + policy_.appeal_ms;
        break;
    }
  }
  int64_t id = 0;
  Status s = Atomically(conn_, [&] {
    sqlite::Stmt ins(conn_,
                     "INSERT INTO cases (source, category, severity, subject, content_id, account_id, reach, "
                     "trusted_flagger, details, state, created_ms, deadline_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11)");
    ins.Int(1, static_cast<int64_t>(c.source));
    ins.Text(2, c.category);
    ins.Int(3, c.severity);
    ins.Text(4, c.subject);
    ins.Text(5, c.content_id);
    ins.Text(6, c.account_id);
    ins.Int(7, c.reach);
    ins.Int(8, c.trusted_flagger ? 1 : 0);
    ins.Text(9, c.details_json);
    ins.Int(10, now);
    ins.Int(11, deadline);
    Status r = ins.Run();
    if (!r.ok()) return r;
    id = sqlite3_last_insert_rowid(conn_->db());
    return AddEvent(conn_, id, now, actor, "open", "");
  });
  if (!s.ok()) return s;
  return Get(id, out, nullptr);
}

Status CaseStore::Get(int64_t id, Case* out, std::vector<CaseEvent>* history) {
  const std::string sql = std::string("SELECT ") + kColumns + " FROM cases WHERE id = ?1";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Int(1, id);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::NotFound("no case " + std::to_string(id));
  *out = Case();
  ReadRow(q, out);
  out->priority = Priority(*out, Now());
  if (history != nullptr) {
    history->clear();
    sqlite::Stmt h(
        conn_,
        "SELECT time_ms, actor, action, note FROM case_events WHERE case_id = ?1 ORDER BY time_ms, rowid");
    h.Int(1, id);
    while ((s = h.Step(&row)).ok() && row) {
      history->push_back(CaseEvent{h.ColumnInt(0), std::string(h.ColumnText(1)), std::string(h.ColumnText(2)),
                                   std::string(h.ColumnText(3))});
    }
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status CaseStore::Queue(const QueueOptions& options, std::vector<Case>* out) {
  out->clear();
  if (options.limit < 1 || options.limit > 10000) return Status::InvalidArgument("limit must be 1 to 10000");
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM cases WHERE (?1 OR state != 3) AND (?2 = '' OR category = ?2) "
                          "ORDER BY state = 3, closed_ms DESC, deadline_ms, id";
  sqlite::Stmt q(conn_, sql.c_str());
  q.Int(1, options.include_closed ? 1 : 0);
  q.Text(2, options.category);
  const int64_t now = Now();
  bool row = false;
  Status s;
  std::vector<Case> open, closed;
  while ((s = q.Step(&row)).ok() && row) {
    Case c;
    ReadRow(q, &c);
    if (!options.source.empty() && SourceName(c.fields.source) != options.source) continue;
    c.priority = Priority(c, now);
    (c.state == State::kClosed ? closed : open).push_back(std::move(c));
  }
  if (!s.ok()) return s;
  std::stable_sort(open.begin(), open.end(), [](const Case& a, const Case& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.deadline_ms != b.deadline_ms) return a.deadline_ms < b.deadline_ms;
    return a.id < b.id;
  });
  for (Case& c : open) out->push_back(std::move(c));
  for (Case& c : closed) out->push_back(std::move(c));
  if (out->size() > static_cast<size_t>(options.limit)) out->resize(static_cast<size_t>(options.limit));
  return Status::Ok();
}

Status CaseStore::Act(int64_t id, std::string_view action, const std::string& actor, std::string_view note,
                      Case* out) {
  const auto& actions = Actions();
  if (std::find(actions.begin(), actions.end(), action) == actions.end()) {
    return Status::InvalidArgument("unknown case action \"" + std::string(action) +
                                   "\" (known: confirm, remove, restore, dismiss, escalate, request_info)");
  }
  if (note.size() > 4000) return Status::InvalidArgument("a case note is at most 4000 bytes");
  Case c;
  Status s = Get(id, &c, nullptr);
  if (!s.ok()) return s;
  if (c.state == State::kClosed) {
    return Status::InvalidArgument("case " + std::to_string(id) + " is closed (" + c.outcome + ")");
  }
  const int64_t now = Now();
  const bool closes = action == "confirm" || action == "remove" || action == "restore" || action == "dismiss";
  const State next = closes ? State::kClosed : action == "escalate" ? State::kEscalated : State::kWaiting;
  s = Atomically(conn_, [&] {
    sqlite::Stmt up(conn_, "UPDATE cases SET state = ?2, outcome = ?3, closed_ms = ?4 WHERE id = ?1");
    up.Int(1, id);
    up.Int(2, static_cast<int64_t>(next));
    up.Text(3, closes ? action : std::string_view());
    up.Int(4, closes ? now : 0);
    Status r = up.Run();
    if (!r.ok()) return r;
    return AddEvent(conn_, id, now, actor, action, note);
  });
  if (!s.ok()) return s;
  return Get(id, out, nullptr);
}

Status CaseStore::Figures(int64_t from_ms, int64_t to_ms, CaseFigures* out) {
  *out = CaseFigures();
  sqlite::Stmt v(conn_,
                 "SELECT category, source, COUNT(*) FROM cases WHERE created_ms >= ? AND created_ms < ? "
                 "GROUP BY category, source ORDER BY category, source");
  v.Int(1, from_ms);
  v.Int(2, to_ms);
  bool row = false;
  Status s = v.Step(&row);
  for (; s.ok() && row; s = v.Step(&row)) {
    out->volumes.push_back(
        CaseFigures::Volume{.category = std::string(v.ColumnText(0)),
                            .source = std::string(SourceName(static_cast<Source>(v.ColumnInt(1)))),
                            .count = v.ColumnInt(2)});
  }
  if (!s.ok()) return s;
  // Times to action, per source in the enum's order.
  const Source sources[] = {Source::kScanReview, Source::kGuard, Source::kNciiReport, Source::kAppeal};
  const int64_t targets[] = {policy_.scan_review_ms, policy_.guard_ms, policy_.ncii_report_ms,
                             policy_.appeal_ms};
  sqlite::Stmt t(conn_,
                 "SELECT closed_ms - created_ms, closed_ms > deadline_ms FROM cases WHERE source = ? AND "
                 "closed_ms >= ? AND closed_ms < ? AND closed_ms > 0");
  for (size_t i = 0; i < 4; ++i) {
    t.Reset();
    t.Int(1, static_cast<int64_t>(sources[i]));
    t.Int(2, from_ms);
    t.Int(3, to_ms);
    CaseFigures::TimeToAction tta{.source = std::string(SourceName(sources[i])), .target_ms = targets[i]};
    std::vector<int64_t> took;
    for (s = t.Step(&row); s.ok() && row; s = t.Step(&row)) {
      took.push_back(t.ColumnInt(0));
      tta.late += t.ColumnInt(1);
    }
    if (!s.ok()) return s;
    std::sort(took.begin(), took.end());
    // Nearest rank: the smallest value with at least p of them at or below.
    auto rank = [&](double p) {
      if (took.empty()) return int64_t{0};
      size_t k = static_cast<size_t>(std::ceil(p * static_cast<double>(took.size())));
      return took[std::clamp<size_t>(k, 1, took.size()) - 1];
    };
    tta.count = static_cast<int64_t>(took.size());
    tta.p50_ms = rank(0.5);
    tta.p90_ms = rank(0.9);
    tta.p99_ms = rank(0.99);
    out->time_to_action.push_back(tta);
  }
  sqlite::Stmt o(conn_, "SELECT COUNT(*), COALESCE(SUM(deadline_ms < ?), 0) FROM cases WHERE closed_ms = 0");
  o.Int(1, Now());
  s = o.Step(&row);
  if (s.ok() && row) {
    out->open = o.ColumnInt(0);
    out->overdue = o.ColumnInt(1);
  }
  return s;
}

}  // namespace safeguard::cases
