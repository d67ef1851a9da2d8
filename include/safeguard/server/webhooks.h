// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Signed webhooks, delivered at least once from a persistent outbox in the
// server's SQLite file (docs/webhooks.md). The server queues an event in the
// same transaction as the decision it reports, commits, and wakes the outbox;
// a background thread then POSTs it to every subscribed endpoint, retrying
// with exponential backoff until the endpoint answers 2xx. Because the rows
// are in SQLite, a receiver that is down or a server that restarts delays an
// event but never loses it; a receiver may see an event more than once and
// dedupes on its Safeguard-Event-Id.
//
//   server::OutboxOptions o;
//   o.endpoints = {{"moderation", "https://hooks.example.org/safeguard", secret, {}}};
//   std::unique_ptr<server::Outbox> outbox;
//   Status s = server::Outbox::Open(data_dir + "/service.db", o, &outbox);
//   outbox->Start();
//   ...
//   conn->Exec("BEGIN IMMEDIATE");
//   ... write the decision on conn ...
//   s = outbox->Enqueue(conn, "decision.created", decision_id, payload_json);
//   conn->Exec("COMMIT");
//   outbox->Wake();
//
// Webhook secrets live only in OutboxOptions: they are never written to the
// database, a log or a Status message.

#ifndef SAFEGUARD_SERVER_WEBHOOKS_H_
#define SAFEGUARD_SERVER_WEBHOOKS_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::server {

/// The largest payload Enqueue accepts (1 MiB): a webhook reports a decision,
/// it does not carry media.
inline constexpr size_t kMaxWebhookPayloadBytes = size_t{1} << 20;

/// One receiver of webhooks.
struct WebhookEndpoint {
  /// Names the endpoint in the outbox rows, Stats and error messages:
  /// 1-64 characters from [A-Za-z0-9._-]. Renaming an endpoint orphans its
  /// queued rows (they are marked failed), so keep names stable.
  std::string name;
  /// An absolute http:// or https:// URL. Redirects are not followed.
  std::string url;
  /// The HMAC-SHA256 key the signature is made with (not empty). Never
  /// stored, logged or copied into an error.
  std::string secret;
  /// The event types this endpoint receives; empty: all of them.
  std::vector<std::string> events;
};

/// How the outbox delivers.
struct OutboxOptions {
  /// The receivers. Rows are per endpoint, so one endpoint being down does
  /// not hold up another.
  std::vector<WebhookEndpoint> endpoints;
  /// Per delivery attempt, connect to last byte (at least 1).
  int timeout_ms = 5000;
  /// The first retry comes at least this long after a failure (at least 1);
  /// the n-th retry after a uniformly random delay in
  /// [min_backoff_ms, min(max_backoff_ms, min_backoff_ms * 2^n)].
  int64_t min_backoff_ms = 1000;
  /// The longest delay between two attempts of one event (>= min_backoff_ms).
  int64_t max_backoff_ms = 300000;
  /// 0: retry forever. Otherwise an event that failed this many attempts is
  /// marked "failed": kept in the table and counted in Stats, not retried.
  int max_attempts = 0;
  /// Delivered rows are deleted this many days after delivery (at least 1).
  int delivered_retention_days = 7;
  /// Returns the current Unix time in milliseconds. Empty: the system clock.
  /// Tests inject one to step through backoff without sleeping. Called from
  /// the delivery thread and from the callers of the methods below.
  std::function<int64_t()> clock_ms;
  /// How often (milliseconds, at least 1) the delivery thread looks for due
  /// rows when nobody calls Wake().
  int poll_interval_ms = 200;
};

/// What the outbox holds and has done, for /metrics.
struct OutboxStats {
  /// Events waiting for delivery (the backlog), including those in backoff.
  uint64_t pending = 0;
  /// Events delivered since the outbox tables were created (survives the
  /// cleanup of old delivered rows).
  uint64_t delivered = 0;
  /// Events given up on (max_attempts reached, or the endpoint is no longer
  /// configured); they stay in the table.
  uint64_t failed = 0;
  /// HTTP delivery attempts started since the outbox tables were created.
  uint64_t attempts = 0;
};

/// The webhook outbox of one service database. One Outbox per process and
/// file is the intended use; two (a server and `safeguard webhooks flush`)
/// do not send one row twice at once, because a row is claimed in a write
/// transaction before it is sent.
///
/// Thread-safety: every method may be called from any thread, also while
/// the delivery thread runs. Delivery passes (the thread's and
/// DeliverDueNow's) run one at a time.
class Outbox {
 public:
  /// Opens its own connection to the SQLite file `service_db_path` (creating
  /// the file if needed), switches the file to WAL (synchronous=NORMAL on
  /// this connection) and creates or migrates the outbox tables (component
  /// "outbox" in schema_versions). Checks `options` (names unique and well
  /// formed, URLs http(s), secrets not empty, limits positive): a bad option
  /// is kInvalidArgument naming the endpoint, never showing its secret.
  /// Stores the outbox in *out; the delivery thread is not started.
  static Status Open(const std::string& service_db_path, OutboxOptions options, std::unique_ptr<Outbox>* out);

  /// Stops the delivery thread (see Stop) and closes the connection.
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Queues the event `event_type` with id `event_id` and body
  /// `payload_json` (a JSON object, sent byte for byte) for every endpoint
  /// subscribed to `event_type`, on `conn`, which must be a connection to the
  /// same file inside a transaction the caller opened: Enqueue neither begins
  /// nor commits. Nothing is sent until the caller commits (then call Wake()),
  /// and a rollback removes the rows with the rest of the transaction. On
  /// error the caller should roll back. Open the transaction with BEGIN
  /// IMMEDIATE: the delivery thread writes to the same file, and a deferred
  /// transaction that read before it wrote can then fail with "database is
  /// locked" instead of waiting.
  ///
  /// `event_type` and `event_id` are 1-200 visible ASCII characters (they
  /// become HTTP headers). Returns kTooLarge for a payload above
  /// kMaxWebhookPayloadBytes; kInvalidArgument if the type, id or payload
  /// are malformed, if `conn` is not inside a transaction, or if `event_id`
  /// is already queued (or delivered within the retention time) for an
  /// endpoint: one event id names one event. Stores the number of rows
  /// queued (0 when no endpoint subscribes) in *queued if not null.
  ///
  /// Thread-safe with the delivery thread (which uses its own connection);
  /// `conn` itself is the caller's to serialize.
  Status Enqueue(sqlite::Conn* conn, std::string_view event_type, std::string_view event_id,
                 const std::string& payload_json, size_t* queued = nullptr) const;

  /// Starts the delivery thread, which delivers due rows whenever it is woken
  /// and every poll_interval_ms, and deletes delivered rows past their
  /// retention about once an hour. Does nothing if it is already running.
  void Start();
  /// Stops the delivery thread and waits for it: an attempt in flight
  /// finishes (bounded by timeout_ms), nothing after it starts. Idempotent.
  void Stop();
  /// Makes the delivery thread look for due rows now, e.g. right after the
  /// caller committed new ones. Cheap; never blocks on delivery.
  void Wake();

  /// Stores the counts of the outbox rows and totals in *stats.
  Status Stats(OutboxStats* stats) const;

  /// One synchronous delivery pass on the calling thread: marks rows of
  /// endpoints no longer configured as failed, then sends every row that is
  /// due now (oldest next attempt first), at most once each. An endpoint
  /// that did not answer or answered 429 or 5xx is paused until that row's
  /// next attempt, in this pass and the following ones: its other rows wait
  /// with it, other endpoints go on. Stores the number of HTTP attempts made
  /// in *attempted (if not null). Delivery failures are recorded in the rows,
  /// not returned; the result is an error only if the database failed. For
  /// tests and `safeguard webhooks flush`; blocks while the delivery thread
  /// is in a pass.
  Status DeliverDueNow(size_t* attempted);

  /// Deletes delivered rows older than delivered_retention_days; pending and
  /// failed rows are kept. Stores the number deleted in *removed (if not null).
  Status PruneDelivered(size_t* removed);

 private:
  // A claimed row, as the delivery pass sends it.
  struct Row {
    int64_t id = 0;
    std::string endpoint, event_type, event_id, payload;
    int64_t attempts = 0;  // including the one being made
  };
  Outbox(OutboxOptions options, std::unique_ptr<sqlite::Conn> conn);

  int64_t Now() const;
  const WebhookEndpoint* FindEndpoint(std::string_view name) const;
  Status DeliverPass(bool from_worker, size_t* attempted);
  Status FailUnconfigured();
  Status Claim(int64_t due_by, const std::vector<std::string>& active, Row* row, bool* found);
  Status Record(const Row& row, bool delivered, int http_status, const std::string& error,
                int64_t backoff_ms);
  int64_t NextBackoffMs(int64_t attempts);
  void Run();

  const OutboxOptions options_;

  // Guards conn_ (one statement sequence or transaction at a time). Held only
  // for short database work, never across an HTTP call, so Stats never waits
  // for a slow receiver.
  mutable std::mutex db_mu_;
  const std::unique_ptr<sqlite::Conn> conn_;

  // Serializes delivery passes (held across HTTP calls) and guards rng_ and
  // paused_until_ (endpoint name -> clock time before which the endpoint,
  // having not answered or answered 429/5xx, is skipped).
  std::mutex pass_mu_;
  std::mt19937_64 rng_;
  std::map<std::string, int64_t, std::less<>> paused_until_;

  // Held for all of Start and Stop, so they never race on thread_.
  std::mutex lifecycle_mu_;
  std::thread thread_;
  // Guards wake_ and the writes of stopping_ (which a pass also reads
  // without it, to stop between two attempts).
  std::mutex thread_mu_;
  std::condition_variable wake_cv_;
  bool wake_ = false;
  std::atomic<bool> stopping_{false};
};

/// Returns the Safeguard-Signature header value for `body` sent at Unix time
/// `timestamp_s`: "t=<timestamp_s>,v1=<lowercase hex of HMAC-SHA256(secret,
/// "<timestamp_s>." + body)>". Thread-safe.
std::string SignWebhook(std::string_view secret, int64_t timestamp_s, std::string_view body);

/// Checks a received Safeguard-Signature header against `body` and `secret`
/// (for receivers and tests). The header is comma-separated key=value items:
/// exactly one t (decimal seconds), one or more v1 (64 hex digits; any one
/// matching is enough, so a sender may sign with an old and a new secret),
/// unknown keys ignored. Returns OK if a v1 matches (compared in constant
/// time) and t is within `tolerance_s` of `now_s`; kPermissionDenied if no
/// v1 matches or t is too old or too far ahead; kInvalidArgument if the
/// header is malformed. Messages never contain the secret or the expected
/// signature. Thread-safe.
Status VerifyWebhookSignature(std::string_view header, std::string_view secret, std::string_view body,
                              int64_t now_s, int64_t tolerance_s);

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_WEBHOOKS_H_
