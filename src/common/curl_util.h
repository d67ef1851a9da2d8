// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The pieces every libcurl caller here needs: one-time global set-up, owners
// for curl's handles, and a response body capped in size. Shared by the
// exchange clients (src/exchange/http_client.cc) and the CyberTipline
// client (src/report/cybertipline.cc). Internal, header-only: its users
// link libcurl themselves.

#ifndef SAFEGUARD_COMMON_CURL_UTIL_H_
#define SAFEGUARD_COMMON_CURL_UTIL_H_

#include <curl/curl.h>

#include <cstddef>
#include <mutex>
#include <string>

namespace safeguard::curl {

/// curl_global_init is not thread-safe in every libcurl release; calling
/// this before each transfer does it once, from any thread.
inline void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// Owners for unique_ptr.
struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct MimeDeleter {
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};

/// Where WriteBody appends a response: at most `max_bytes` into *body;
/// `too_large` is set when more came.
struct Sink {
  std::string* body;
  size_t max_bytes;
  bool too_large = false;
};

/// CURLOPT_WRITEFUNCTION for a Sink (CURLOPT_WRITEDATA). Returning less than
/// asked makes curl stop with CURLE_WRITE_ERROR; that is how a body without
/// Content-Length (chunked) is cut off at the cap.
inline size_t WriteBody(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->body->size() + n > sink->max_bytes) {
    sink->too_large = true;
    return 0;
  }
  sink->body->append(data, n);
  return n;
}

}  // namespace safeguard::curl

#endif  // SAFEGUARD_COMMON_CURL_UTIL_H_
