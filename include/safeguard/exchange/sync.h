// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Syncing a bank from the exchange it names in Bank::source ("stopncii" or
// "ncmec"), and sending StopNCII feedback. The CLI and the HTTP server call
// these functions; docs/exchange.md describes what each exchange speaks and
// how its feed maps onto the bank.
//
//   exchange::SyncOptions o;
//   o.api_key = getenv("SAFEGUARD_STOPNCII_API_KEY");
//   o.progress = [](const std::string& line) { std::cerr << line << "\n"; };
//   exchange::SyncResult r;
//   Status s = exchange::SyncBank(store.get(), "ncii-stopncii", o, &r);
//
// Every page fetched is applied with one bank::Store::Apply that carries the
// page's additions, its withdrawals and the new checkpoint, so a sync that
// is killed or fails at any point keeps every page before it and the next
// run continues with the page after the last one applied; a run after a
// complete sync fetches only what changed since. Applying a page twice is
// harmless (additions of live values are duplicates, withdrawals of withdrawn
// signals are ignored).
//
// Thread-safety: the functions are thread-safe as far as the store is, but
// two syncs of the same bank at once would fetch the same pages twice and
// race on its checkpoint; callers run one sync per bank at a time.

#ifndef SAFEGUARD_EXCHANGE_SYNC_H_
#define SAFEGUARD_EXCHANGE_SYNC_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "safeguard/bank/store.h"
#include "safeguard/common/status.h"
#include "safeguard/exchange/stopncii_client.h"

namespace safeguard::exchange {

/// The Bank::source values SyncBank accepts.
inline constexpr std::string_view kStopNciiSource = "stopncii";
inline constexpr std::string_view kNcmecSource = "ncmec";
/// The bank checkpoint keys a sync keeps its position under (the value is
/// a small JSON object, see docs/exchange.md).
inline constexpr std::string_view kStopNciiCheckpointKey = "stopncii";
inline constexpr std::string_view kNcmecCheckpointKey = "ncmec";

/// How to reach the exchange and what to report. Credentials are never
/// logged or copied into a Status message.
struct SyncOptions {
  /// Base URL; empty: the protocol's published production URL
  /// (kStopNciiProductionUrl, kNcmecProductionUrl).
  std::string endpoint;
  /// StopNCII: the subscription key ("Ocp-Apim-Subscription-Key").
  std::string api_key;
  /// StopNCII: the function key of FetchHashes ("x-functions-key"), and of
  /// SubmitFeedback unless feedback_function_key is set. Not sent if empty.
  std::string function_key;
  std::string feedback_function_key;
  /// NCMEC: HTTP basic authentication.
  std::string user, password;
  /// Per HTTP request, connect to last byte.
  int timeout_ms = 30000;
  /// A response body larger than this fails the sync with kTooLarge.
  size_t max_response_bytes = size_t{64} << 20;
  /// GETs answered 429 or 5xx are retried this many times (0.2 s, 0.4 s, ...).
  int retries = 2;
  /// StopNCII: records per page (pageSize); 0: kStopNciiDefaultPageSize.
  int page_size = 0;
  /// Returns the current Unix time in seconds (NCMEC fetches up to now - 5 s,
  /// as the reference client does). Empty: the system clock.
  std::function<int64_t()> now;
  /// Optional; called on the calling thread with one human-readable line per
  /// page and a summary (no credentials in them).
  std::function<void(const std::string& line)> progress;
};

/// What a sync did. Filled in also when it fails (what was applied before
/// the failure).
struct SyncResult {
  /// Records (StopNCII) or entries (NCMEC) received, deletions included.
  uint64_t fetched = 0;
  /// bank::ApplyResult summed over the pages applied.
  uint64_t added = 0, duplicates = 0, withdrawn = 0;
  /// Pages applied.
  uint64_t pages = 0;
  /// Hashes not stored: types the bank does not hold (StopNCII VideoTMK,
  /// Text, URL; NCMEC sha1, PhotoDNA, TMK, ...) and malformed values, by
  /// reason ("unsupported fingerprint type 'sha1'") in skip_reasons.
  uint64_t skipped = 0;
  std::map<std::string, uint64_t> skip_reasons;
  /// The checkpoint value stored by the last page applied (or found, if
  /// none was applied).
  std::string checkpoint;
};

/// Syncs bank `bank_name` from its exchange, page by page as described
/// above, until the exchange has nothing more. `store` is not owned.
///
/// Returns kNotFound for an unknown bank; kInvalidArgument when the bank's
/// source is neither "stopncii" nor "ncmec" (naming the accepted sources) or
/// credentials are missing; kPermissionDenied when the exchange refuses them
/// ("check the API key", "check user and password"); kUnavailable when the
/// exchange cannot be reached, times out or answers 429/5xx; kIoError for
/// another HTTP error; kTooLarge for an over-large response;
/// kCorrupt for a malformed page or a damaged stored checkpoint; the store's
/// errors. On any error the pages before the failing one stay applied and
/// *result (if not null) says what they did.
Status SyncBank(bank::Store* store, const std::string& bank_name, const SyncOptions& options,
                SyncResult* result);

/// Feedback on one signal of a StopNCII bank.
struct FeedbackItem {
  /// The signal, as a match reports it (bank::Hit::signal_id); or 0 and:
  uint64_t signal_id = 0;
  /// the signal's external id, which for a StopNCII bank is the hash value
  /// as the feed gave it.
  std::string external_id;
  StopNciiFeedback value = StopNciiFeedback::kBlocked;
  /// Free-form tags, sent as given.
  std::vector<std::string> tags;
};

/// Sends `items` to StopNCII's SubmitFeedback (in requests of up to 1000).
/// Stores the number of items sent in *sent (if not null). `store` is not
/// owned.
///
/// Returns kNotFound for an unknown bank or a signal_id the store does not
/// hold; kInvalidArgument when the bank's source is not "stopncii", a
/// signal belongs to another bank, an external id is not a StopNCII hash
/// value, `items` is empty, or the keys are missing or refused; otherwise
/// as SyncBank. Items of requests before a failing one have been sent.
Status SubmitFeedback(bank::Store* store, const std::string& bank_name, std::span<const FeedbackItem> items,
                      const SyncOptions& options, uint64_t* sent);

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_SYNC_H_
