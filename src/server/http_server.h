// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The HTTP/1.1 listener of `safeguard serve`: Boost.Beast over Asio, with
// optional TLS (OpenSSL), confined to http_server.cc so that no other
// translation unit compiles Beast's headers. It knows nothing of the API:
// each complete request goes to one Handler, whose response is written back.
//
// Limits: request headers up to 16 KiB, bodies up to max_body_bytes (413
// otherwise, without reading the rest), a deadline for receiving a request
// once its first byte arrived, and one for idle keep-alive connections.
// `Expect: 100-continue` is answered, so clients that wait for it (curl
// does, for large uploads) do not stall.
//
// Shutdown: stop accepting; requests being received or handled finish and
// are answered (with `Connection: close`); idle connections are closed; after
// the grace period whatever is left is cut.
//
// Thread-safety: the Handler is called from up to `threads` threads at once.
// Shutdown and Wait may be called from any thread, once each.

#ifndef SAFEGUARD_SRC_SERVER_HTTP_SERVER_H_
#define SAFEGUARD_SRC_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::server {

/// One request, as received.
struct HttpRequest {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< As sent: path and query.
  std::string path;    ///< The target before '?', not decoded.
  std::string query;   ///< The target after '?', not decoded ("" if none).
  /// Headers with lowercase names, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  ///< The peer's address.

  /// The first header named `name` (lowercase), or "" if absent.
  std::string_view Header(std::string_view name) const;
};

/// One response. `Content-Length`, `Date`-free defaults and keep-alive are
/// filled in by the server.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Extra headers.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Answers one request. Called on a server thread; must not block for long.
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

/// How to listen.
struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8080;  ///< 0: any free port (see HttpServer::port()).
  int threads = 2;
  size_t max_body_bytes = size_t{64} << 20;
  /// From a request's first byte to its last.
  std::chrono::seconds request_timeout{60};
  /// A keep-alive connection with no request in progress is closed after this.
  std::chrono::seconds idle_timeout{75};
  /// PEM files; both set: HTTPS only.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Called when a request is refused before reaching the handler (413, 400,
  /// 431, 408), for metrics. May be empty.
  std::function<void(int status)> on_refused;
};

class HttpServer {
 public:
  /// Binds and starts serving on options.threads threads. Returns kIoError if
  /// the address cannot be bound (in use, not local) and kInvalidArgument for
  /// a bad address or unreadable TLS files; stores the server in *out.
  static Status Start(const HttpServerOptions& options, HttpHandler handler,
                      std::unique_ptr<HttpServer>* out);

  /// Stops as described at the top of this file and returns when every
  /// connection is closed or `grace` has passed.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;

  /// The port listened on.
  virtual uint16_t port() const = 0;

  /// Whether TLS is on.
  virtual bool tls() const = 0;

  /// Calls Shutdown with a short grace period if it was not called.
  virtual ~HttpServer() = default;
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_HTTP_SERVER_H_
