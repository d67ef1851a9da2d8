// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A client for NCMEC's hash sharing API, v2 (docs/exchange.md), as published
// in Meta's python-threatexchange
// (threatexchange/exchanges/clients/ncmec/hash_api.py, after NCMEC's
// documentation at https://report.cybertip.org/hashsharing/v2/documentation.pdf):
//
//   GET {base}/v2/entries?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z
//   GET {base}{next}        // "next" from <paging><next>, e.g.
//   "/v2/entries?...&start=1001&size=1000&max=3000"
//
// with HTTP basic authentication. The answer is XML:
//
//   <queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
//     <images count="2" maxTimestamp="...">
//       <image><member id="42">Name</member><timestamp>...</timestamp><id>image1</id>
//         <classification>A1</classification>
//         <fingerprints><md5>...</md5><sha1>...</sha1><pdq>...</pdq></fingerprints></image>
//       <deletedImage><member id="43">...</member><id>image4</id>...</deletedImage>
//     </images>
//     <videos ...><video>...</video><deletedVideo>...</deletedVideo></videos>
//     <paging><next>/v2/entries?...</next></paging>
//   </queryResult>
//
// Entries of a time window come in no particular time order, so a window is
// done only when its last page (no <next>) has been read.
//
// XML is parsed with pugixml, which expands no DTD entities (no external
// entities, no entity bombs).
//
// Thread-safety: an NcmecClient holds only its options; its const methods
// may be called from any number of threads at once. The free functions are
// thread-safe.

#ifndef SAFEGUARD_EXCHANGE_NCMEC_CLIENT_H_
#define SAFEGUARD_EXCHANGE_NCMEC_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::exchange {

/// The published production base URL (the "Industry" environment).
inline constexpr std::string_view kNcmecProductionUrl = "https://report.cybertip.org/hashsharing";

/// One entry of an entries page: an image or video added or updated, or
/// deleted.
struct NcmecEntry {
  /// NCMEC's id of the entry (<id>).
  std::string id;
  /// The member (ESP) that shared it: <member id="...">name</member>.
  int64_t member_id = 0;
  std::string member_name;
  /// "image" or "video".
  std::string entry_type;
  /// From <deletedImage>/<deletedVideo>: the entry must no longer be used.
  bool deleted = false;
  /// <classification>, e.g. "A1"; empty if absent.
  std::string classification;
  /// <timestamp> as sent; empty if absent.
  std::string timestamp;
  /// <fingerprints> children as (lowercase element name, trimmed text), in
  /// document order. A fingerprint given only as a link (href) has an empty
  /// value.
  std::vector<std::pair<std::string, std::string>> fingerprints;

  /// Returns the id Safeguard stores as the signals' external id,
  /// "<member_id>-<id>" (the key python-threatexchange uses).
  std::string ExternalId() const;
};

/// One entries response.
struct NcmecPage {
  std::vector<NcmecEntry> entries;
  /// The <paging><next> link (entities decoded), or empty on the last page.
  std::string next;
};

/// Parses an entries response body into *page. Element names are compared
/// without namespace prefix. Returns kCorrupt, naming what is wrong, when
/// the body is not XML, the root is not <queryResult>, an entry is of an
/// unknown kind or lacks <id> or <member id="N">, or a next link is not a
/// path ("/...").
Status ParseNcmecPage(std::string_view body, NcmecPage* page);

/// Returns `unix_seconds` as the API's time format, "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::string NcmecTime(int64_t unix_seconds);

/// How to reach NCMEC.
struct NcmecClientOptions {
  /// Base URL without a trailing slash and without "/v2"; empty:
  /// kNcmecProductionUrl.
  std::string endpoint;
  /// HTTP basic authentication. Both required. Never logged.
  std::string user;
  std::string password;
  /// Per request, connect to last byte, in milliseconds.
  int timeout_ms = 30000;
  /// A response body larger than this fails with kTooLarge.
  size_t max_response_bytes = size_t{64} << 20;
  /// Requests answered 429 or 5xx are retried this many times, 0.2 s,
  /// 0.4 s, ... apart (the reference client retries 4 times).
  int retries = 2;
};

/// An NCMEC hash sharing API client. Holds no connection between calls.
class NcmecClient {
 public:
  explicit NcmecClient(NcmecClientOptions options);

  /// Fetches the first page of the entries changed in [from, to) (Unix
  /// seconds) and stores it in *page. Returns kInvalidArgument when user or
  /// password is empty or refused (HTTP 401/403: "check user and password");
  /// kIoError for no answer, a timeout or another HTTP error; kTooLarge for
  /// an over-large body; kCorrupt for a malformed one (see ParseNcmecPage).
  /// Stores the HTTP status of the answer in *http_status (if not null; 0
  /// when no answer arrived).
  Status GetEntries(int64_t from, int64_t to, NcmecPage* page, int* http_status = nullptr) const;

  /// Fetches the page at `next` (a NcmecPage::next link, relative to the
  /// endpoint) and stores it in *page. Returns as GetEntries.
  Status GetNext(const std::string& next, NcmecPage* page, int* http_status = nullptr) const;

  /// The base URL in use.
  const std::string& endpoint() const { return options_.endpoint; }

 private:
  Status Get(const std::string& url, NcmecPage* page, int* http_status) const;

  NcmecClientOptions options_;
};

}  // namespace safeguard::exchange

#endif  // SAFEGUARD_EXCHANGE_NCMEC_CLIENT_H_
