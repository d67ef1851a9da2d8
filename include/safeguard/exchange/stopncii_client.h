// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A client for the StopNCII.org hash exchange API (docs/exchange.md), as
// published in Meta's python-threatexchange
// (threatexchange/exchanges/clients/stopncii/api.py):
//
//   GET  {base}/FetchHashes?startTimestamp=T&pageSize=N[&nextPageToken=P]
//   POST {base}/SubmitFeedback  {"count": n, "hashFeedbacks": [...]}
//
// with the headers "Ocp-Apim-Subscription-Key" (the subscription key) and
// "x-functions-key" (a key per endpoint). Every record of a FetchHashes page
// is the current state of one (signalType, hashValue): a later record for the
// same hash replaces the earlier one, and a hashStatus of "Withdrawn" or
// "Deleted" means the hash must no longer be used.
//
//   exchange::StopNciiClientOptions o;
//   o.subscription_key = key;
//   o.fetch_function_key = fetch_key;
//   exchange::StopNciiClient client(o);
//   exchange::StopNciiPage page;
//   Status s = client.FetchHashes(/*start_timestamp=*/10, /*page_token=*/"", &page);
//
// This header knows nothing about banks; safeguard/exchange/sync.h applies
// pages to a bank::Store.
//
// Thread-safety: a StopNciiClient holds only its options; its const methods
// may be called from any number of threads at once. The free functions are
// thread-safe.

#ifndef SAFEGUARD_EXCHANGE_STOPNCII_CLIENT_H_
#define SAFEGUARD_EXCHANGE_STOPNCII_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::exchange {

/// The published production base URL.
inline constexpr std::string_view kStopNciiProductionUrl = "https://api.stopncii.org/v1";
/// The startTimestamp the reference client uses for a first fetch.
inline constexpr int64_t kStopNciiDefaultStartTimestamp = 10;
/// The pageSize the reference client asks for.
inline constexpr int kStopNciiDefaultPageSize = 800;

/// What a platform (a "CSP") says about a hash it matched: the protocol's
/// feedbackValue strings.
enum class StopNciiFeedback : uint8_t {
  kNone,            ///< "None": tags without a state.
  kQualityUnknown,  ///< "QualityUnknown".
  kPendingReview,   ///< "PendingReview": there was a match, under review.
  kBlocked,         ///< "Blocked": reviewed, found to be NCII and blocked.
  kNotBlocked,      ///< "NotBlocked": reviewed, not blocked.
  kWithdrawn,       ///< "Withdrawn".
  kDeleted,         ///< "Deleted".
};

/// Returns the protocol's spelling of `value`, e.g. "NotBlocked".
std::string_view StopNciiFeedbackName(StopNciiFeedback value);
/// Parses a feedback value as StopNciiFeedbackName spells it, ignoring ASCII
/// case. Returns kInvalidArgument, naming the accepted values, otherwise.
Status ParseStopNciiFeedback(std::string_view name, StopNciiFeedback* value);

/// One record of a FetchHashes page.
struct StopNciiHashRecord {
  /// As the feed spells it: "ImagePDQ", "VideoMD5", "VideoTMK", "Text", "URL", ...
  std::string signal_type;
  /// The hash as the feed gives it (hex for ImagePDQ and VideoMD5).
  std::string hash_value;
  /// "Received", "Active", "Withdrawn", "Deleted", ... (empty if absent).
  std::string hash_status;
  /// lastModtimestamp (Unix seconds; 0 if absent).
  int64_t last_modified = 0;
  /// The record's other fields that say something about it (caseNumbers,
  /// CSPFeedbacks, hashRegions, hashStatus, lastModtimestamp, signalType)
  /// as one compact JSON object, at most 64 KiB: when larger, caseNumbers
  /// and CSPFeedbacks are dropped and "truncated": true is set.
  std::string metadata_json;

  /// Returns true if the hash must no longer be used (hashStatus
  /// "Withdrawn" or "Deleted").
  bool withdrawn() const;
};

/// One FetchHashes response.
struct StopNciiPage {
  /// The server's "count".
  uint64_t count = 0;
  /// The cursor for the next page of the same set (may be empty when
  /// has_more is false). Only valid for a short time.
  std::string next_page_token;
  /// The startTimestamp to use for the next set, once this set is done.
  int64_t next_set_timestamp = 0;
  /// Whether another page of this set follows.
  bool has_more = false;
  std::vector<StopNciiHashRecord> records;
};

/// Parses a FetchHashes response body into *page. Returns kCorrupt, naming
/// the field (and record index), when the body is not JSON, nests deeper
/// than 64 levels, or lacks or mistypes nextSetTimestamp, hasMoreRecords,
/// hashRecords, or a record's signalType or hashValue; also when has_more is
/// set without a nextPageToken.
Status ParseStopNciiPage(std::string_view body, StopNciiPage* page);

/// Feedback on one hash for SubmitFeedback.
struct StopNciiFeedbackItem {
  /// The hash as the feed gave it (StopNciiHashRecord::hash_value).
  std::string hash_value;
  StopNciiFeedback value = StopNciiFeedback::kBlocked;
  /// Free-form tags, sent as given.
  std::vector<std::string> tags;
};

/// Returns the SubmitFeedback request body for `items`:
/// {"count": n, "hashFeedbacks": [{"tags": [...], "feedbackValue": "...",
/// "hashValue": "..."}, ...]}.
std::string StopNciiFeedbackBody(std::span<const StopNciiFeedbackItem> items);

/// How to reach StopNCII.
struct StopNciiClientOptions {
  /// Base URL without a trailing slash; empty: kStopNciiProductionUrl.
  std::string endpoint;
  /// Sent as "Ocp-Apim-Subscription-Key". Required. Never logged.
  std::string subscription_key;
  /// Sent as "x-functions-key" on FetchHashes and on SubmitFeedback (unless
  /// feedback_function_key is set); not sent when empty. Never logged.
  std::string fetch_function_key;
  /// Sent as "x-functions-key" on SubmitFeedback; empty: fetch_function_key.
  std::string feedback_function_key;
  /// Per request, connect to last byte, in milliseconds.
  int timeout_ms = 30000;
  /// A response body larger than this fails with kTooLarge.
  size_t max_response_bytes = size_t{64} << 20;
  /// GET requests answered 429 or 5xx are retried this many times, 0.2 s,
  /// 0.4 s, ... apart (the reference client retries 4 times). POSTs are not
  /// retried.
  int retries = 2;
};

/// A StopNCII API client. Holds no connection between calls.
class StopNciiClient {
 public:
  explicit StopNciiClient(StopNciiClientOptions options);

  /// Fetches one page of the set of records changed since `start_timestamp`
  /// (Unix seconds), continuing at `page_token` if not empty, and stores it
  /// in *page. Returns kInvalidArgument when the server refuses the keys
  /// (HTTP 401/403: "check the API key") or no subscription key is set;
  /// kIoError for no answer, a timeout or another HTTP error (the message
  /// has the status and the start of the body); kTooLarge for an over-large
  /// body; kCorrupt for a malformed body (see ParseStopNciiPage).
  /// Stores the HTTP status of the answer in *http_status (if not null; 0
  /// when no answer arrived).
  Status FetchHashes(int64_t start_timestamp, const std::string& page_token, int page_size,
                     StopNciiPage* page, int* http_status = nullptr) const;

  /// Sends `items` in one SubmitFeedback request (at most 1000 items).
  /// Returns OK on any 2xx answer, otherwise as FetchHashes.
  Status SubmitFeedback(std::span<const StopNciiFeedbackItem> items) const;

  /// The base URL in use.
  const std::string& endpoint() const { return options_.endpoint; }

 private:
  StopNciiClientOptions options_;
};

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_STOPNCII_CLIENT_H_
