// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The server's configuration file (JSON, docs/server.md): listening, limits,
// the policy, webhook endpoints and index options. Secrets are never in the
// file itself: a webhook names the environment variable or file that holds
// its secret.

#ifndef SAFEGUARD_SRC_SERVER_CONFIG_H_
#define SAFEGUARD_SRC_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/guard/accounts.h"
#include "safeguard/policy/policy.h"
#include "safeguard/server/webhooks.h"

namespace safeguard::server {

/// Everything the configuration file can set, with the defaults in force
/// when it does not.
struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  int threads = 0;  ///< 0: one per core.
  std::string tls_cert_file;
  std::string tls_key_file;
  size_t max_body_bytes = size_t{64} << 20;
  uint64_t max_pixels = 100'000'000;
  int request_timeout_s = 60;
  policy::Policy policy = policy::DefaultPolicy();
  /// Secrets resolved.
  std::vector<WebhookEndpoint> webhooks;
  int webhook_timeout_ms = 5000;
  int webhook_max_attempts = 0;
  bool snapshot = true;
  int refresh_interval_ms = 1000;
  /// index.layout: "fast" (the default) or "compact" (bank::MatcherOptions::pdq_layout).
  bool index_compact = false;
  /// index.signal_cache_mib: memory for matched signals' records that
  /// lookups reuse (src/server/signal_cache.h); 0 turns it off.
  size_t signal_cache_mib = 64;
  /// The generation guard (docs/guard.md): the data folder of term lists
  /// and rules (empty: PromptGuard::DefaultDataDir()) and the decision for
  /// a sexual request with nothing else wrong ("block" or "allow").
  std::string guard_data_dir;
  std::string guard_sexual_content = "block";
  /// Per-account strikes and rate limits (guard.strikes).
  guard::StrikePolicy guard_strikes;
  /// The output guard (POST /v1/guard/output): the converted nsfwjs model
  /// (empty: the build's, guard::NsfwModelPath()), the operator's
  /// classifiers (each a JSON spec, guard::ParseClassifierSpec), the
  /// watermark key file (empty: DATA_DIR/watermark.key, made on first
  /// start) and the time limit of the image checks.
  std::string guard_nsfw_model;
  std::vector<std::string> guard_classifiers;
  std::string guard_watermark_key_file;
  int guard_check_timeout_ms = 5000;
  /// Cases (docs/cases.md): the bank a confirmed report of an intimate
  /// image adds its PDQ to (empty: none), and how far back near-duplicates
  /// of it are looked for among past scan decisions.
  std::string cases_ncii_bank;
  int cases_near_duplicate_days = 90;
  /// The evidence store's key file (64 hex digits); empty:
  /// DATA_DIR/evidence.key, made on first start.
  std::string cases_evidence_key_file;
  /// Reports of confirmed CSAM (docs/reports.md): where to (in order;
  /// "nca", "ncmec"; empty: none), the service and the person reporting,
  /// the folder NCA report documents are written to (empty:
  /// DATA_DIR/reports/nca), NCMEC's CyberTipline (password resolved) and
  /// how long to wait before trying an unanswered submission again.
  std::vector<std::string> reports_destinations = {"nca"};
  std::string reports_service_name = "Safeguard";
  std::string reports_reporter_name;
  std::string reports_reporter_email;
  std::string reports_reporter_phone;
  std::string reports_nca_dir;
  std::string reports_ncmec_url;
  std::string reports_ncmec_username;
  std::string reports_ncmec_password;
  int reports_retry_s = 60;
  /// The moderation console (docs/console.md): the folder of its built
  /// files (empty: the build's web/dist) and how long a session may sit
  /// idle.
  std::string console_dir;
  int console_session_idle_minutes = 30;
  /// The file's content with secrets left as their references, canonical
  /// (keys sorted): what the audit log records as the configuration.
  std::string canonical_json = "{}";
};

/// The event types a webhook endpoint with no `events` list receives: every
/// decision but `allow` (a platform rarely wants a request per clean upload).
std::vector<std::string> DefaultWebhookEvents();

/// Parses configuration text into *config (starting from the defaults).
/// Returns kInvalidArgument naming the key for unknown keys, wrong types,
/// bad values, or a webhook secret whose variable or file is missing.
Status ParseServerConfig(const std::string& text, ServerConfig* config);

/// Reads and parses the file at `path`; kNotFound if it does not exist.
Status LoadServerConfig(const std::string& path, ServerConfig* config);

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_CONFIG_H_
