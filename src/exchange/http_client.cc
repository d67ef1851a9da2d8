// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libcurl is wrapped here and nowhere else, so the rest of the exchange code
// sees only Status and strings, and swapping the transport touches one file.

#include "http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/curl_util.h"
#include "text.h"

namespace safeguard::exchange::internal {
namespace {

using curl::GlobalInitOnce;
using curl::Sink;
using curl::WriteBody;
using CurlDeleter = curl::EasyDeleter;
using curl::SlistDeleter;

// Error messages name the URL so a user sees which server failed, but not
// its query: page tokens are long and say nothing useful.
std::string UrlForMessage(std::string_view url) { return std::string(url.substr(0, url.find('?'))); }

}  // namespace

std::string UrlEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Status HttpFetch(const HttpRequest& request, HttpResponse* response) {
  response->status = 0;
  response->body.clear();
  const std::string where = request.method + " " + UrlForMessage(request.url);
  if (request.url.rfind("http://", 0) != 0 && request.url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("URL '" + UrlForMessage(request.url) +
                                   "' is not an http:// or https:// URL");
  }
  if (request.method != "GET" && request.method != "POST") {
    return Status::InvalidArgument("HTTP method " + request.method + " is not supported");
  }
  GlobalInitOnce();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Status::Internal("cannot create a curl handle");
  CURL* c = curl.get();

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& h : request.headers) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next == nullptr) return Status::Internal("out of memory building HTTP headers");
    headers.release();
    headers.reset(next);
  }
  // Without this curl sends "Expect: 100-continue" for larger POST bodies
  // and waits for an interim answer some servers never send.
  curl_slist* next = curl_slist_append(headers.get(), "Expect:");
  if (next == nullptr) return Status::Internal("out of memory building HTTP headers");
  headers.release();
  headers.reset(next);

  char error[CURL_ERROR_SIZE] = {0};
  Sink sink{&response->body, request.max_response_bytes};
  const long timeout_ms = std::max(1, request.timeout_ms);
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  // Signals are process-wide; a library must not use them for its timeouts.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "safeguard-exchange/1");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate; the cap applies after decoding
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  // Refuses a declared Content-Length above the cap before any byte is read.
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_response_bytes));
  if (request.basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, request.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, request.password.c_str());
  }
  if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
  }

  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    response->body.clear();
    if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return Status::TooLarge(where + ": the response is larger than the limit of " +
                              std::to_string(request.max_response_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return Status::Unavailable(where + ": no complete answer within " + std::to_string(timeout_ms) +
                                 " ms (timed out); check the endpoint or raise the timeout");
    }
    std::string detail = error[0] != 0 ? std::string(error) : std::string(curl_easy_strerror(rc));
    return Status::Unavailable(where + ": " + detail);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response->status = static_cast<int>(status);
  return Status::Ok();
}

Status HttpFetchWithRetries(const HttpRequest& request, int retries, HttpResponse* response) {
  for (int attempt = 0;; ++attempt) {
    Status s = HttpFetch(request, response);
    if (!s.ok()) return s;
    const int st = response->status;
    const bool transient = st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
    // Only reads are repeated: a POST that failed half-way may have been
    // applied, and the reference clients do not retry POSTs either.
    if (!transient || request.method != "GET" || attempt >= retries) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt, 5)));
  }
}

Status CheckHttpStatus(std::string_view service, const HttpRequest& request, const HttpResponse& response,
                       std::string_view credential_hint) {
  const int st = response.status;
  if (st >= 200 && st < 300) return Status::Ok();
  std::string msg = std::string(service) + " answered HTTP " + std::to_string(st) + " to " + request.method +
                    " " + UrlForMessage(request.url);
  if (st == 401 || st == 403) {
    return Status::PermissionDenied(msg + ": the credentials were refused; " + std::string(credential_hint));
  }
  if (!response.body.empty()) msg += ": " + Quote(response.body, 200);
  if (st == 429 || st >= 500) return Status::Unavailable(msg + "; try again later");
  return Status::IoError(msg);
}

Status FetchChecked(std::string_view service, const HttpRequest& request, int retries,
                    std::string_view credential_hint, HttpResponse* response, int* http_status) {
  Status s = HttpFetchWithRetries(request, retries, response);
  if (!s.ok()) return s;
  if (http_status != nullptr) *http_status = response->status;
  return CheckHttpStatus(service, request, *response, credential_hint);
}

}  // namespace safeguard::exchange::internal
