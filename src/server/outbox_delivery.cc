// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Delivering the outbox: the pass that claims due rows and POSTs them, the
// backoff between attempts, and the background thread that runs passes.
//
// A row is claimed in a short write transaction that counts the attempt and
// pushes its next_attempt_ms a lease ahead, then sent with no transaction
// open, then its outcome recorded in a second short transaction. If the
// process dies during the HTTP call the row simply becomes due again when the
// lease runs out: the receiver may then see the event twice, never zero
// times. The lease also keeps a second Outbox on the same file (the CLI's
// flush next to a running server) from sending the row at the same time.

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "exchange/http_client.h"
#include "safeguard/server/webhooks.h"

namespace safeguard::server {
namespace {

// Long enough that no attempt still in flight can outlive it.
constexpr int64_t kClaimLeaseExtraMs = 60000;
constexpr int64_t kPruneIntervalMs = 3600 * 1000;
// Webhook receivers answer with a short acknowledgement; more is not read.
constexpr size_t kMaxResponseBytes = size_t{1} << 20;

std::string JsonArray(const std::vector<std::string>& names) { return nlohmann::json(names).dump(); }

// Replaces every occurrence of `what` in *s (if `what` is not empty).
void Redact(std::string* s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (size_t pos = s->find(what); pos != std::string::npos; pos = s->find(what, pos + with.size())) {
    s->replace(pos, what.size(), with);
  }
}

// last_error is shown to operators and kept in the table: it names the
// endpoint rather than its URL (which may carry a token in its path) and can
// never contain the secret, even if a receiver echoes something back.
std::string SafeError(std::string message, const WebhookEndpoint& e) {
  Redact(&message, e.secret, "[secret]");
  Redact(&message, e.url.substr(0, e.url.find('?')), "endpoint '" + e.name + "'");
  return message;
}

std::string BodySnippet(const std::string& body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  if (body.size() > 200) out += "...";
  return out;
}

// Runs `body` in a write transaction on `conn`: BEGIN IMMEDIATE takes the
// write lock up front, so the claim cannot fail half-way on a lock upgrade.
template <typename F>
Status InWriteTransaction(sqlite::Conn* conn, F body) {
  Status s = conn->Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  s = body();
  if (s.ok()) s = conn->Exec("COMMIT");
  // Also after a failed COMMIT: a transaction left open would make every
  // later BEGIN fail.
  if (!s.ok()) conn->Exec("ROLLBACK");
  return s;
}

}  // namespace

int64_t Outbox::NextBackoffMs(int64_t attempts) {
  const int64_t lo = options_.min_backoff_ms;
  int64_t hi = options_.max_backoff_ms;
  // min * 2^attempts, without overflowing: stop doubling at the maximum.
  int64_t cap = lo;
  for (int64_t i = 0; i < attempts && cap < hi; ++i) cap = cap > hi / 2 ? hi : cap * 2;
  hi = std::min(hi, cap);
  // Full jitter over the window spreads the retries of many rows that failed
  // together (a receiver outage) instead of sending them in one burst.
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  return dist(rng_);
}

Status Outbox::FailUnconfigured() {
  std::vector<std::string> names;
  for (const WebhookEndpoint& e : options_.endpoints) names.push_back(e.name);
  const std::string configured = JsonArray(names);
  std::lock_guard<std::mutex> lock(db_mu_);
  // Read first: an UPDATE takes the write lock even when it matches nothing,
  // and the server's decisions should not wait on that several times a second.
  {
    sqlite::Stmt any(conn_.get(),
                     "SELECT 1 FROM webhook_outbox WHERE state = 'pending' "
                     "AND endpoint NOT IN (SELECT value FROM json_each(?1)) LIMIT 1");
    any.Text(1, configured);
    bool row = false;
    Status s = any.Step(&row);
    if (!s.ok() || !row) return s;
  }
  sqlite::Stmt fail(conn_.get(),
                    "UPDATE webhook_outbox SET state = 'failed', "
                    "last_error = 'endpoint ''' || endpoint || ''' is no longer configured; not delivered' "
                    "WHERE state = 'pending' AND endpoint NOT IN (SELECT value FROM json_each(?1))");
  fail.Text(1, configured);
  return fail.Run();
}

Status Outbox::Claim(int64_t due_by, const std::vector<std::string>& active, Row* row, bool* found) {
  *found = false;
  const std::string active_json = JsonArray(active);
  static constexpr const char* kNextDue =
      "SELECT id, endpoint, event_type, event_id, payload, attempts FROM webhook_outbox "
      "WHERE state = 'pending' AND next_attempt_ms <= ?1 AND endpoint IN (SELECT value FROM json_each(?2)) "
      "ORDER BY next_attempt_ms, id LIMIT 1";
  std::lock_guard<std::mutex> lock(db_mu_);
  // An idle outbox polls several times a second; it looks without the write
  // lock and takes it only when there is something to claim.
  {
    sqlite::Stmt peek(conn_.get(), kNextDue);
    peek.Int(1, due_by);
    peek.Text(2, active_json);
    bool has = false;
    Status s = peek.Step(&has);
    if (!s.ok() || !has) return s;
  }
  return InWriteTransaction(conn_.get(), [&]() -> Status {
    for (;;) {
      sqlite::Stmt next(conn_.get(), kNextDue);
      next.Int(1, due_by);
      next.Text(2, active_json);
      bool has = false;
      Status s = next.Step(&has);
      if (!s.ok() || !has) return s;
      Row r;
      r.id = next.ColumnInt(0);
      r.endpoint = next.ColumnText(1);
      r.event_type = next.ColumnText(2);
      r.event_id = next.ColumnText(3);
      r.payload = next.ColumnText(4);
      r.attempts = next.ColumnInt(5);
      next.Reset();
      const int64_t now = Now();
      if (options_.max_attempts > 0 && r.attempts >= options_.max_attempts) {
        // Only reachable when the process stopped during the last allowed
        // attempt: its outcome is unknown, and no attempt is left.
        sqlite::Stmt fail(conn_.get(),
                          "UPDATE webhook_outbox SET state = 'failed', last_error = ?2 WHERE id = ?1");
        // Bound without copying: the text must outlive Run().
        const std::string error =
            "gave up after " + std::to_string(r.attempts) +
            " attempts (the outcome of the last one is unknown: delivery was interrupted)";
        fail.Int(1, r.id);
        fail.Text(2, error);
        s = fail.Run();
        if (!s.ok()) return s;
        continue;
      }
      r.attempts += 1;
      sqlite::Stmt claim(
          conn_.get(),
          "UPDATE webhook_outbox SET attempts = ?2, last_attempt_ms = ?3, next_attempt_ms = ?4 "
          "WHERE id = ?1");
      claim.Int(1, r.id);
      claim.Int(2, r.attempts);
      claim.Int(3, now);
      claim.Int(4, now + options_.timeout_ms + kClaimLeaseExtraMs);
      s = claim.Run();
      if (!s.ok()) return s;
      sqlite::Stmt total(conn_.get(),
                         "UPDATE webhook_outbox_totals SET attempts = attempts + 1 WHERE id = 1");
      s = total.Run();
      if (!s.ok()) return s;
      *row = std::move(r);
      *found = true;
      return Status::Ok();
    }
  });
}

Status Outbox::Record(const Row& row, bool delivered, int http_status, const std::string& error,
                      int64_t backoff_ms) {
  const int64_t now = Now();
  std::lock_guard<std::mutex> lock(db_mu_);
  return InWriteTransaction(conn_.get(), [&]() -> Status {
    if (delivered) {
      sqlite::Stmt done(conn_.get(),
                        "UPDATE webhook_outbox SET state = 'delivered', delivered_ms = ?2, last_status = ?3, "
                        "last_error = NULL WHERE id = ?1 AND state = 'pending'");
      done.Int(1, row.id);
      done.Int(2, now);
      done.Int(3, http_status);
      Status s = done.Run();
      if (!s.ok()) return s;
      sqlite::Stmt total(conn_.get(),
                         "UPDATE webhook_outbox_totals SET delivered = delivered + ?1 WHERE id = 1");
      total.Int(1, sqlite3_changes(conn_->db()));
      return total.Run();
    }
    const bool give_up = options_.max_attempts > 0 && row.attempts >= options_.max_attempts;
    sqlite::Stmt failed(conn_.get(),
                        "UPDATE webhook_outbox SET state = ?2, next_attempt_ms = ?3, last_status = ?4, "
                        "last_error = ?5 WHERE id = ?1 AND state = 'pending'");
    failed.Int(1, row.id);
    failed.Text(2, give_up ? "failed" : "pending");
    failed.Int(3, now + backoff_ms);
    if (http_status > 0) {
      failed.Int(4, http_status);
    } else {
      failed.Null(4);
    }
    // Bound without copying: the text must outlive Run().
    const std::string last_error =
        give_up ? error + "; gave up after " + std::to_string(row.attempts) + " attempts" : error;
    failed.Text(5, last_error);
    return failed.Run();
  });
}

Status Outbox::DeliverDueNow(size_t* attempted) { return DeliverPass(/*from_worker=*/false, attempted); }

Status Outbox::DeliverPass(bool from_worker, size_t* attempted) {
  if (attempted != nullptr) *attempted = 0;
  std::lock_guard<std::mutex> pass(pass_mu_);
  Status s = FailUnconfigured();
  if (!s.ok()) return s;
  // Rows are due if due at the start of the pass, so a row that fails and
  // gets a short backoff is not tried again within the same pass.
  const int64_t due_by = Now();
  std::vector<std::string> active;
  for (const WebhookEndpoint& e : options_.endpoints) {
    auto it = paused_until_.find(e.name);
    if (it != paused_until_.end() && it->second > due_by) continue;
    active.push_back(e.name);
  }
  size_t n = 0;
  while (!active.empty()) {
    if (from_worker && stopping_.load()) break;
    Row row;
    bool found = false;
    s = Claim(due_by, active, &row, &found);
    if (!s.ok() || !found) break;
    // Claim only returns rows of configured endpoints.
    const WebhookEndpoint& e = *FindEndpoint(row.endpoint);

    exchange::internal::HttpRequest req;
    req.method = "POST";
    req.url = e.url;
    req.body = row.payload;
    req.timeout_ms = options_.timeout_ms;
    req.max_response_bytes = kMaxResponseBytes;
    // Signed at send time, so a retry hours later still passes a receiver's
    // timestamp tolerance.
    const int64_t sent_s = Now() / 1000;
    req.headers = {"Content-Type: application/json",
                   "User-Agent: safeguard-webhooks/1",
                   "Safeguard-Event-Id: " + row.event_id,
                   "Safeguard-Event-Type: " + row.event_type,
                   "Safeguard-Delivery-Attempt: " + std::to_string(row.attempts),
                   "Safeguard-Signature: " + SignWebhook(e.secret, sent_s, row.payload)};
    exchange::internal::HttpResponse resp;
    const Status http = exchange::internal::HttpFetch(req, &resp);
    ++n;

    const bool delivered = http.ok() && resp.status >= 200 && resp.status < 300;
    std::string error;
    int64_t backoff = 0;
    if (!delivered) {
      if (!http.ok()) {
        error = SafeError(http.message(), e);
      } else {
        error = "endpoint '" + e.name + "' answered HTTP " + std::to_string(resp.status);
        if (!resp.body.empty()) error += ": " + SafeError(BodySnippet(resp.body), e);
      }
      backoff = NextBackoffMs(row.attempts);
      // No answer, 429 or 5xx says the receiver is down or overloaded: its
      // other rows wait too, so an outage costs one attempt per backoff
      // rather than one per queued event. Another 4xx is about this event.
      const bool endpoint_trouble = !http.ok() || resp.status == 429 || resp.status >= 500;
      if (endpoint_trouble) {
        paused_until_[e.name] = Now() + backoff;
        active.erase(std::find(active.begin(), active.end(), e.name));
      }
    } else {
      paused_until_.erase(e.name);
    }
    s = Record(row, delivered, http.ok() ? resp.status : 0, error, backoff);
    if (!s.ok()) break;
  }
  if (attempted != nullptr) *attempted = n;
  return s;
}

void Outbox::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = false;
    wake_ = true;  // deliver what is already due (e.g. rows left from before a restart)
  }
  thread_ = std::thread([this] { Run(); });
}

void Outbox::Stop() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  thread_.join();
}

void Outbox::Wake() {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    wake_ = true;
  }
  wake_cv_.notify_all();
}

void Outbox::Run() {
  int64_t next_prune_ms = INT64_MIN;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(thread_mu_);
      wake_cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_interval_ms),
                        [this] { return wake_ || stopping_.load(); });
      if (stopping_) return;
      wake_ = false;
    }
    // A failed pass (the database busy or full) is retried at the next poll;
    // the rows stay where they are.
    DeliverPass(/*from_worker=*/true, nullptr);
    const int64_t now = Now();
    if (now >= next_prune_ms) {
      PruneDelivered(nullptr);
      next_prune_ms = now + kPruneIntervalMs;
    }
  }
}

}  // namespace safeguard::server
