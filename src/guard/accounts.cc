// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Two tables: every request (for the rate limit) and every strike (for the
// window) as rows, pruned as they age out; and one row per account for the
// escalations that outlive the window (cool-down end, suspension, report).

#include "safeguard/guard/accounts.h"

#include <algorithm>
#include <chrono>

#include "common/sqlite.h"

namespace safeguard::guard {
namespace {

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE guard_requests (
  account_id TEXT NOT NULL,
  time_ms    INTEGER NOT NULL
);
CREATE INDEX guard_requests_account ON guard_requests (account_id, time_ms);
CREATE TABLE guard_strikes (
  account_id TEXT NOT NULL,
  time_ms    INTEGER NOT NULL,
  weight     INTEGER NOT NULL
);
CREATE INDEX guard_strikes_account ON guard_strikes (account_id, time_ms);
CREATE TABLE guard_accounts (
  account_id        TEXT PRIMARY KEY,
  cooldown_until_ms INTEGER NOT NULL DEFAULT 0,
  suspended         INTEGER NOT NULL DEFAULT 0,
  report_candidate  INTEGER NOT NULL DEFAULT 0
);
)sql",
};

void AddRule(PromptVerdict* v, const char* name, Decision d) {
  RuleHit r;
  r.rule = name;
  r.decision = d;
  r.categories = {"account"};
  v->rules.push_back(std::move(r));
}

}  // namespace

AccountLimits::AccountLimits(sqlite::Conn* conn, const StrikePolicy& policy,
                             std::function<int64_t()> clock_ms)
    : conn_(conn), policy_(policy), clock_ms_(std::move(clock_ms)) {}

AccountLimits::~AccountLimits() = default;

Status AccountLimits::Open(sqlite::Conn* conn, const StrikePolicy& policy, std::function<int64_t()> clock_ms,
                           std::unique_ptr<AccountLimits>* out) {
  Status s = sqlite::Migrate(conn, "guard_accounts", kMigrations);
  if (!s.ok()) return s;
  out->reset(new AccountLimits(conn, policy, std::move(clock_ms)));
  return Status::Ok();
}

int64_t AccountLimits::Now() const {
  if (clock_ms_) return clock_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status AccountLimits::Standing(const std::string& account, AccountStanding* st) {
  *st = AccountStanding();
  const int64_t now = Now();
  {
    sqlite::Stmt q(
        conn_, "SELECT COALESCE(SUM(weight), 0) FROM guard_strikes WHERE account_id = ?1 AND time_ms > ?2");
    q.Text(1, account);
    q.Int(2, now - policy_.window_s * 1000);
    bool row = false;
    Status s = q.Step(&row);
    if (!s.ok()) return s;
    if (row) st->strikes = static_cast<int>(q.ColumnInt(0));
  }
  {
    sqlite::Stmt q(conn_, "SELECT COUNT(*) FROM guard_requests WHERE account_id = ?1 AND time_ms > ?2");
    q.Text(1, account);
    q.Int(2, now - 60'000);
    bool row = false;
    Status s = q.Step(&row);
    if (!s.ok()) return s;
    if (row) st->requests_last_minute = static_cast<int>(q.ColumnInt(0));
  }
  sqlite::Stmt q(
      conn_,
      "SELECT cooldown_until_ms, suspended, report_candidate FROM guard_accounts WHERE account_id = ?1");
  q.Text(1, account);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (row) {
    st->cooldown_until_ms = q.ColumnInt(0) > now ? q.ColumnInt(0) : 0;
    st->suspended = q.ColumnInt(1) != 0;
    st->report_candidate = q.ColumnInt(2) != 0;
  }
  return Status::Ok();
}

Status AccountLimits::Apply(const std::string& account, PromptVerdict* verdict, AccountStanding* standing) {
  const int64_t now = Now();
  Status s = conn_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  auto fail = [&](Status e) {
    conn_->Exec("ROLLBACK");
    return e;
  };
  // Age out old rows (cheap with the indexes; keeps the tables small).
  {
    sqlite::Stmt d(conn_, "DELETE FROM guard_requests WHERE time_ms <= ?1");
    d.Int(1, now - 60'000);
    s = d.Run();
    if (!s.ok()) return fail(s);
  }
  {
    sqlite::Stmt d(conn_, "DELETE FROM guard_strikes WHERE time_ms <= ?1");
    d.Int(1, now - policy_.window_s * 1000);
    s = d.Run();
    if (!s.ok()) return fail(s);
  }
  AccountStanding before;
  s = Standing(account, &before);
  if (!s.ok()) return fail(s);
  {
    sqlite::Stmt ins(conn_, "INSERT INTO guard_requests (account_id, time_ms) VALUES (?1, ?2)");
    ins.Text(1, account);
    ins.Int(2, now);
    s = ins.Run();
    if (!s.ok()) return fail(s);
  }
  // The account's standing before this request refuses it.
  if (policy_.rate_per_minute > 0 && before.requests_last_minute >= policy_.rate_per_minute) {
    AddRule(verdict, "account_rate_limited", Decision::kBlock);
  }
  if (before.cooldown_until_ms > now) AddRule(verdict, "account_cooldown", Decision::kBlock);
  if (before.suspended) AddRule(verdict, "account_suspended", Decision::kBlockReview);

  // Strike for what the screen refused (not for the account rules above:
  // a refused request during a cool-down is not a new offence).
  const Decision screened = verdict->decision;
  int weight = 0;
  if (screened == Decision::kBlock) weight = policy_.weight_block;
  if (screened == Decision::kBlockReview) weight = policy_.weight_block_review;
  if (screened == Decision::kBlockReport) weight = policy_.weight_block_report;
  AccountStanding after = before;
  if (weight > 0) {
    sqlite::Stmt ins(conn_, "INSERT INTO guard_strikes (account_id, time_ms, weight) VALUES (?1, ?2, ?3)");
    ins.Text(1, account);
    ins.Int(2, now);
    ins.Int(3, weight);
    s = ins.Run();
    if (!s.ok()) return fail(s);
    after.strikes += weight;
    int64_t cooldown_until = before.cooldown_until_ms;
    bool suspended = before.suspended;
    bool report = before.report_candidate;
    if (policy_.cooldown_at > 0 && after.strikes >= policy_.cooldown_at) {
      cooldown_until = std::max(cooldown_until, now + policy_.cooldown_s * 1000);
    }
    if (policy_.suspend_at > 0 && after.strikes >= policy_.suspend_at) suspended = true;
    if (policy_.report_at > 0 && after.strikes >= policy_.report_at) report = true;
    sqlite::Stmt up(conn_,
                    "INSERT INTO guard_accounts (account_id, cooldown_until_ms, suspended, report_candidate) "
                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id) DO UPDATE SET "
                    "cooldown_until_ms = excluded.cooldown_until_ms, suspended = excluded.suspended, "
                    "report_candidate = excluded.report_candidate");
    up.Text(1, account);
    up.Int(2, cooldown_until);
    up.Int(3, suspended ? 1 : 0);
    up.Int(4, report ? 1 : 0);
    s = up.Run();
    if (!s.ok()) return fail(s);
    after.cooldown_until_ms = cooldown_until;
    after.suspended = suspended;
    after.report_candidate = report;
  }
  // A report candidate's refusals are report candidates too.
  if (after.report_candidate && screened != Decision::kAllow) {
    AddRule(verdict, "account_report_candidate", Decision::kBlockReport);
  }
  after.requests_last_minute = before.requests_last_minute + 1;
  s = conn_->Exec("COMMIT");
  if (!s.ok()) return fail(s);
  std::stable_sort(verdict->rules.begin(), verdict->rules.end(),
                   [](const RuleHit& a, const RuleHit& b) { return a.decision > b.decision; });
  if (!verdict->rules.empty())
    verdict->decision = std::max(verdict->decision, verdict->rules.front().decision);
  if (standing != nullptr) *standing = after;
  return Status::Ok();
}

Status AccountLimits::Reinstate(const std::string& account) {
  Status s = conn_->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  for (const char* sql : {"DELETE FROM guard_strikes WHERE account_id = ?1",
                          "DELETE FROM guard_accounts WHERE account_id = ?1"}) {
    sqlite::Stmt d(conn_, sql);
    d.Text(1, account);
    s = d.Run();
    if (!s.ok()) {
      conn_->Exec("ROLLBACK");
      return s;
    }
  }
  return conn_->Exec("COMMIT");
}

}  // namespace safeguard::guard
