// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The one HTTP client of the exchange sync code and of the webhook deliverer
// (src/server/outbox_delivery.cc): a blocking GET or POST over libcurl with a
// hard timeout and a cap on the response body, so a slow or hostile server
// can neither hang a sync or a delivery nor make it allocate without bound.
// Internal (not a public header): this is the only file pair that knows
// about curl.
//
// Thread-safety: HttpFetch may be called from any number of threads at once
// (each call uses its own curl handle; global initialisation runs once).

#ifndef SAFEGUARD_SRC_EXCHANGE_HTTP_CLIENT_H_
#define SAFEGUARD_SRC_EXCHANGE_HTTP_CLIENT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::exchange::internal {

/// One HTTP request.
struct HttpRequest {
  /// "GET" or "POST".
  std::string method = "GET";
  /// An absolute http:// or https:// URL, query included (already encoded).
  std::string url;
  /// Extra request headers, each "Name: value". May hold secrets: they are
  /// never copied into an error message.
  std::vector<std::string> headers;
  /// The POST body (ignored for GET).
  std::string body;
  /// HTTP basic authentication when `basic_auth` is set. Never logged.
  bool basic_auth = false;
  std::string user;
  std::string password;
  /// The whole exchange (connect, send, receive) must finish within this
  /// many milliseconds (at least 1).
  int timeout_ms = 30000;
  /// A response body longer than this is refused with kTooLarge, without
  /// reading (or holding) more than this many bytes of it.
  size_t max_response_bytes = size_t{64} << 20;
};

/// What the server answered.
struct HttpResponse {
  /// The HTTP status code, e.g. 200.
  int status = 0;
  /// The response body, decompressed if the server used gzip or deflate.
  std::string body;
};

/// Performs `request` and stores the answer in *response.
///
/// Returns OK whenever the server answered, whatever the HTTP status (the
/// caller decides what a 401 or 500 means); kIoError when no answer arrived
/// (cannot resolve or connect, connection reset, TLS failure, or the timeout
/// expired: the message says which); kTooLarge when the body exceeds
/// max_response_bytes; kInvalidArgument for a URL that is not http(s).
/// Error messages name the URL without its query and never contain headers
/// or credentials. Redirects are not followed, so credentials never go to
/// another host.
Status HttpFetch(const HttpRequest& request, HttpResponse* response);

/// As HttpFetch, but a GET answered 429, 500, 502, 503 or 504 is tried again
/// up to `retries` times, 200 ms, 400 ms, ... apart. Returns the last answer.
Status HttpFetchWithRetries(const HttpRequest& request, int retries, HttpResponse* response);

/// Turns a non-2xx answer into an error for the exchange `service` ("StopNCII",
/// "NCMEC"): kPermissionDenied for 401/403 with `credential_hint` ("check the
/// API key"), kUnavailable for 429 and 5xx, kIoError otherwise, with the
/// status, `request`'s method and URL (without query) and the start of the
/// body (escaped). Returns OK for 2xx.
Status CheckHttpStatus(std::string_view service, const HttpRequest& request, const HttpResponse& response,
                       std::string_view credential_hint);

/// HttpFetchWithRetries, then CheckHttpStatus: what every exchange call does.
/// Stores the answer's HTTP status in *http_status (if not null) whenever an
/// answer came, also a non-2xx one, so a caller can react to a refused cursor.
Status FetchChecked(std::string_view service, const HttpRequest& request, int retries,
                    std::string_view credential_hint, HttpResponse* response, int* http_status);

/// Returns `s` percent-encoded for use in a URL query (RFC 3986 unreserved
/// characters are kept).
std::string UrlEncode(const std::string& s);

}  // namespace safeguard::exchange::internal

#endif  // SAFEGUARD_SRC_EXCHANGE_HTTP_CLIENT_H_
