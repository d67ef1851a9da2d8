// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The scanning service behind `safeguard serve` (docs/server.md, API in
// docs/openapi.json): an HTTP API over the banks, the matcher, the policy,
// the audit log and the webhook outbox.
//
//   server::ServerOptions o;
//   o.data_dir = "/var/lib/safeguard";
//   std::unique_ptr<server::Server> s;
//   Status st = server::Server::Start(o, &s);   // listening at once
//   ...                                         // /readyz turns 200 when the index is loaded
//   s->Shutdown(std::chrono::seconds(10));      // SIGTERM: finish in-flight requests
//
// Thread-safety: Start, Shutdown and the accessors may be called from any
// thread; Shutdown once.

#ifndef SAFEGUARD_SERVER_SERVER_H_
#define SAFEGUARD_SERVER_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::server {

/// How to run the server. The configuration file (if any) is read first;
/// options set here override it.
struct ServerOptions {
  /// Where the bank store (SQLite, unless `postgres` is set), the index
  /// snapshot and service.db live. Required.
  std::string data_dir;
  /// A libpq connection string: keep the banks in PostgreSQL instead.
  std::string postgres;
  /// HOST:PORT to listen on; empty: the config file's, else 127.0.0.1:8080.
  /// Port 0 picks a free port (see Server::port()).
  std::string listen;
  /// A JSON configuration file (docs/server.md); empty: none.
  std::string config_path;
  /// Worker threads for HTTP; 0: the config file's, else one per core.
  int threads = 0;
  /// Receives one JSON line per event worth logging (start, ready, errors,
  /// shutdown). Never media, never keys. Empty: standard error.
  std::function<void(std::string_view line)> log;
  /// Milliseconds since the epoch; empty: the system clock.
  std::function<int64_t()> clock_ms;
};

class Server {
 public:
  /// Reads the configuration, opens the stores, starts listening and loads
  /// the index in the background. Returns kInvalidArgument for a bad
  /// configuration (naming the key), kIoError if it cannot listen, or the
  /// stores' errors; stores the server in *out.
  static Status Start(const ServerOptions& options, std::unique_ptr<Server>* out);

  /// Stops accepting, lets requests in progress finish (up to `grace`),
  /// stops the background threads and closes the stores. Idempotent.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;

  /// The port listened on.
  virtual uint16_t port() const = 0;

  /// Whether the index is loaded (what /readyz reports).
  virtual bool ready() const = 0;

  /// Waits up to `timeout` for ready(); returns the load error if loading
  /// failed, kUnavailable on timeout.
  virtual Status WaitReady(std::chrono::milliseconds timeout) = 0;

  /// Shuts down with a short grace period if Shutdown was not called.
  virtual ~Server() = default;
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_SERVER_H_
