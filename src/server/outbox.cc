// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The outbox's storage: its tables in the service database, queueing inside
// the caller's transaction, counts and cleanup. Delivery is in
// outbox_delivery.cc.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "common/sqlite.h"
#include "safeguard/server/webhooks.h"

namespace safeguard::server {
namespace {

// Secrets are deliberately absent: a row names its endpoint, and the
// deliverer looks the URL and secret up in its options at send time, so a
// copy of the database never leaks a signing key.
//
// Totals are kept in their own row rather than counted, because delivered
// rows are deleted after the retention time and /metrics wants counters
// that never go down.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE webhook_outbox (
  id INTEGER PRIMARY KEY,
  endpoint TEXT NOT NULL,
  event_type TEXT NOT NULL,
  event_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  last_attempt_ms INTEGER,
  delivered_ms INTEGER,
  last_status INTEGER,
  last_error TEXT,
  UNIQUE (endpoint, event_id));
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_ms, id) WHERE state = 'pending';
CREATE INDEX webhook_outbox_delivered ON webhook_outbox (delivered_ms) WHERE state = 'delivered';
CREATE INDEX webhook_outbox_failed ON webhook_outbox (id) WHERE state = 'failed';
CREATE TABLE webhook_outbox_totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  delivered INTEGER NOT NULL,
  attempts INTEGER NOT NULL);
INSERT INTO webhook_outbox_totals (id, delivered, attempts) VALUES (1, 0, 0);
)sql",
};

// Event types and ids travel as HTTP header values; anything but visible
// ASCII could split or forge a header.
bool IsHeaderToken(std::string_view s) {
  if (s.empty() || s.size() > 200) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool IsEndpointName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsHttpUrl(std::string_view url) {
  const bool scheme = url.starts_with("http://") || url.starts_with("https://");
  if (!scheme || url.size() <= 8) return false;
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// The endpoint is named, never shown: the URL may carry a token and the
// secret must not appear in any message.
Status CheckOptions(const OutboxOptions& o) {
  std::vector<std::string_view> names;
  for (const WebhookEndpoint& e : o.endpoints) {
    if (!IsEndpointName(e.name)) {
      return Status::InvalidArgument("webhook endpoint name '" + e.name.substr(0, 64) +
                                     "' is not 1-64 characters from [A-Za-z0-9._-]");
    }
    for (std::string_view n : names) {
      if (n == e.name)
        return Status::InvalidArgument("webhook endpoint '" + e.name + "' is configured twice");
    }
    names.push_back(e.name);
    if (!IsHttpUrl(e.url)) {
      return Status::InvalidArgument("webhook endpoint '" + e.name +
                                     "': the URL is not an absolute http:// or https:// URL");
    }
    if (e.secret.empty()) {
      return Status::InvalidArgument("webhook endpoint '" + e.name +
                                     "' has no secret; receivers could not verify its requests");
    }
    for (const std::string& type : e.events) {
      if (!IsHeaderToken(type)) {
        return Status::InvalidArgument("webhook endpoint '" + e.name + "': event type '" +
                                       type.substr(0, 200) + "' is not 1-200 visible ASCII characters");
      }
    }
  }
  if (o.timeout_ms < 1) return Status::InvalidArgument("webhook timeout_ms must be at least 1");
  if (o.min_backoff_ms < 1) return Status::InvalidArgument("webhook min_backoff_ms must be at least 1");
  if (o.max_backoff_ms < o.min_backoff_ms) {
    return Status::InvalidArgument("webhook max_backoff_ms must be at least min_backoff_ms");
  }
  if (o.max_attempts < 0) return Status::InvalidArgument("webhook max_attempts must be 0 (forever) or more");
  if (o.delivered_retention_days < 1) {
    return Status::InvalidArgument("webhook delivered_retention_days must be at least 1");
  }
  if (o.poll_interval_ms < 1) return Status::InvalidArgument("webhook poll_interval_ms must be at least 1");
  return Status::Ok();
}

bool Subscribed(const WebhookEndpoint& e, std::string_view event_type) {
  if (e.events.empty()) return true;
  for (const std::string& t : e.events) {
    if (t == event_type) return true;
  }
  return false;
}

}  // namespace

Outbox::Outbox(OutboxOptions options, std::unique_ptr<sqlite::Conn> conn)
    : options_(std::move(options)), conn_(std::move(conn)), rng_(std::random_device{}()) {}

Outbox::~Outbox() { Stop(); }

Status Outbox::Open(const std::string& service_db_path, OutboxOptions options, std::unique_ptr<Outbox>* out) {
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  std::unique_ptr<sqlite::Conn> conn;
  s = sqlite::Conn::Open(service_db_path, /*create=*/true, /*cache_mib=*/2, &conn);
  if (!s.ok()) return s;
  // WAL lets the delivery thread read and claim rows while the server's
  // connection writes decisions; NORMAL skips the fsync per commit, and the
  // worst a power cut can then undo is a "delivered" mark, which means one
  // more delivery, not a lost one. The server's commits keep whatever
  // durability its own connection sets.
  {
    sqlite::Stmt wal(conn.get(), "PRAGMA journal_mode = WAL");
    bool row = false;
    s = wal.Step(&row);
    if (!s.ok()) return s;
    const std::string mode = row ? std::string(wal.ColumnText(0)) : std::string();
    if (mode != "wal") {
      return Status::IoError("SQLite database " + service_db_path +
                             ": cannot switch to WAL mode (journal mode is '" + mode + "')");
    }
  }
  s = conn->Exec("PRAGMA synchronous = NORMAL");
  if (!s.ok()) return s;
  s = sqlite::Migrate(conn.get(), "outbox", kMigrations);
  if (!s.ok()) return s;
  out->reset(new Outbox(std::move(options), std::move(conn)));
  return Status::Ok();
}

int64_t Outbox::Now() const {
  if (options_.clock_ms) return options_.clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const WebhookEndpoint* Outbox::FindEndpoint(std::string_view name) const {
  for (const WebhookEndpoint& e : options_.endpoints) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Status Outbox::Enqueue(sqlite::Conn* conn, std::string_view event_type, std::string_view event_id,
                       const std::string& payload_json, size_t* queued) const {
  if (queued != nullptr) *queued = 0;
  if (!IsHeaderToken(event_type)) {
    return Status::InvalidArgument("webhook event type is not 1-200 visible ASCII characters");
  }
  if (!IsHeaderToken(event_id)) {
    return Status::InvalidArgument("webhook event id is not 1-200 visible ASCII characters");
  }
  if (payload_json.size() > kMaxWebhookPayloadBytes) {
    return Status::TooLarge("webhook payload of " + std::to_string(payload_json.size()) +
                            " bytes is above the limit of " + std::to_string(kMaxWebhookPayloadBytes));
  }
  const nlohmann::json parsed = nlohmann::json::parse(payload_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::InvalidArgument("webhook payload for event " + std::string(event_id) +
                                   " is not a JSON object");
  }
  // In autocommit mode each row would commit on its own, and a crash between
  // the decision and its rows could lose the event: the whole point of the
  // outbox is that they commit together.
  if (sqlite3_get_autocommit(conn->db()) != 0) {
    return Status::InvalidArgument(
        "webhook events must be queued inside the caller's transaction (BEGIN before Enqueue, COMMIT after)");
  }
  const int64_t now = Now();
  size_t n = 0;
  for (const WebhookEndpoint& e : options_.endpoints) {
    if (!Subscribed(e, event_type)) continue;
    sqlite::Stmt insert(
        conn,
        "INSERT INTO webhook_outbox (endpoint, event_type, event_id, payload, state, attempts, "
        "created_ms, next_attempt_ms) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)");
    insert.Text(1, e.name);
    insert.Text(2, event_type);
    insert.Text(3, event_id);
    insert.Text(4, payload_json);
    insert.Int(5, now);
    Status s = insert.Run();
    if (s.code() == StatusCode::kInvalidArgument) {
      return Status::InvalidArgument("webhook event id " + std::string(event_id) +
                                     " is already queued for endpoint '" + e.name + "'");
    }
    if (!s.ok()) return s;
    ++n;
  }
  if (queued != nullptr) *queued = n;
  return Status::Ok();
}

Status Outbox::Stats(OutboxStats* stats) const {
  *stats = OutboxStats();
  std::lock_guard<std::mutex> lock(db_mu_);
  // One statement, so the four numbers come from one snapshot.
  sqlite::Stmt q(conn_.get(),
                 "SELECT (SELECT count(*) FROM webhook_outbox WHERE state = 'pending'), "
                 "(SELECT count(*) FROM webhook_outbox WHERE state = 'failed'), delivered, attempts "
                 "FROM webhook_outbox_totals WHERE id = 1");
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return Status::Corrupt("SQLite database " + conn_->path() + ": webhook_outbox_totals has no row");
  stats->pending = static_cast<uint64_t>(q.ColumnInt(0));
  stats->failed = static_cast<uint64_t>(q.ColumnInt(1));
  stats->delivered = static_cast<uint64_t>(q.ColumnInt(2));
  stats->attempts = static_cast<uint64_t>(q.ColumnInt(3));
  return Status::Ok();
}

Status Outbox::PruneDelivered(size_t* removed) {
  if (removed != nullptr) *removed = 0;
  const int64_t cutoff = Now() - int64_t{options_.delivered_retention_days} * 24 * 3600 * 1000;
  std::lock_guard<std::mutex> lock(db_mu_);
  sqlite::Stmt del(conn_.get(), "DELETE FROM webhook_outbox WHERE state = 'delivered' AND delivered_ms < ?1");
  del.Int(1, cutoff);
  Status s = del.Run();
  if (!s.ok()) return s;
  if (removed != nullptr) *removed = static_cast<size_t>(sqlite3_changes(conn_->db()));
  return Status::Ok();
}

}  // namespace safeguard::server
