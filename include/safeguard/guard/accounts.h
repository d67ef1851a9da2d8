// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Per-account strikes and rate limits for the generation guard. Every
// refused request is a strike for the account that sent it (weighted by how
// severe the refusal was); strikes inside a sliding window escalate:
//
//   cool-down    every request is refused for a while   (rule account_cooldown)
//   suspension   every request is refused and reviewed   (rule account_suspended)
//   report       the account becomes a report candidate  (rule account_report_candidate)
//
// and more than `rate_per_minute` requests in a minute are refused
// (account_rate_limited). Thresholds are the operator's (docs/guard.md).
// State lives in the caller's SQLite database (service.db), so it survives
// restarts and is shared by the routes.
//
// Thread-safety: as the connection given to Open (the server holds its
// database mutex around every call).

#ifndef SAFEGUARD_GUARD_ACCOUNTS_H_
#define SAFEGUARD_GUARD_ACCOUNTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "safeguard/common/status.h"
#include "safeguard/guard/prompt_guard.h"

namespace safeguard::sqlite {
class Conn;
}

namespace safeguard::guard {

/// The escalation thresholds. A threshold of 0 is off.
struct StrikePolicy {
  /// Strikes count within this many seconds.
  int64_t window_s = 24 * 3600;
  /// Strike weights per refusal.
  int weight_block = 1;
  int weight_block_review = 2;
  int weight_block_report = 5;
  /// At this many strikes in the window: refuse everything for cooldown_s.
  int cooldown_at = 3;
  int64_t cooldown_s = 600;
  /// At this many: suspended (refused and reviewed) until a moderator lifts it.
  int suspend_at = 8;
  /// At this many: a report candidate (each refusal from then on is block_report).
  int report_at = 15;
  /// Requests per account per minute; more are refused. 0: no limit.
  int rate_per_minute = 60;
};

/// Where an account stands.
struct AccountStanding {
  int strikes = 0;                ///< weighted strikes in the window
  int64_t cooldown_until_ms = 0;  ///< 0: none
  bool suspended = false;
  bool report_candidate = false;
  int requests_last_minute = 0;
};

/// Strikes and limits over a SQLite database.
class AccountLimits {
 public:
  /// Creates or upgrades the tables in `conn` (which must outlive this).
  /// `clock_ms` gives milliseconds since the epoch (empty: the system clock).
  static Status Open(sqlite::Conn* conn, const StrikePolicy& policy, std::function<int64_t()> clock_ms,
                     std::unique_ptr<AccountLimits>* out);

  ~AccountLimits();

  /// Counts one request of `account` and applies its standing to `verdict`:
  /// after the request was screened, adds a strike if it was refused,
  /// escalates, and adds the account rules (account_rate_limited,
  /// account_cooldown, account_suspended, account_report_candidate) to
  /// verdict->rules, raising verdict->decision. *standing (optional) gets
  /// the account's standing afterwards.
  Status Apply(const std::string& account, PromptVerdict* verdict, AccountStanding* standing);

  /// The account's standing now, without counting a request.
  Status Standing(const std::string& account, AccountStanding* standing);

  /// Lifts a suspension and a cool-down and clears the strikes (a
  /// moderator's decision).
  Status Reinstate(const std::string& account);

 private:
  AccountLimits(sqlite::Conn* conn, const StrikePolicy& policy, std::function<int64_t()> clock_ms);
  int64_t Now() const;
  sqlite::Conn* conn_;
  StrikePolicy policy_;
  std::function<int64_t()> clock_ms_;
};

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_ACCOUNTS_H_
