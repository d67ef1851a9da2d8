// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// API keys of the HTTP API. A key is shown once, when created:
//
//   sg_<16 hex: key id>_<64 hex: secret>
//
// Only the key id, its name, scopes and the SHA-256 of the whole key are
// stored (the secret is 256 random bits, so a plain hash is as good as a
// slow one and costs nothing per request). Clients send it as
// `Authorization: Bearer <key>`.
//
// Scopes: `scan` (scan, hash, lookup), `curate` (banks and signals),
// `review` (read decisions), `admin` (everything).
//
// Thread-safety: a KeyStore is used under the caller's lock on its
// connection, except Authenticate, which is thread-safe on its own: it
// answers from a cache and reads the table (under `conn_mu`) at most once a
// second per key, so a revocation takes effect within a second.

#ifndef SAFEGUARD_SERVER_API_KEYS_H_
#define SAFEGUARD_SERVER_API_KEYS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::server {

/// Scope bits.
enum Scope : uint32_t {
  kScopeScan = 1,
  kScopeCurate = 2,
  kScopeReview = 4,
  kScopeAdmin = 8,
};

/// Parses "scan,curate" (any order, no spaces) into *scopes. Returns
/// kInvalidArgument naming the accepted scopes for anything else or an
/// empty list.
Status ParseScopes(std::string_view text, uint32_t* scopes);
/// "scan,curate": the names of the bits set, in the order of the enum.
std::string ScopesText(uint32_t scopes);

/// One key's record (never its secret).
struct ApiKey {
  std::string id;    ///< 16 lowercase hex.
  std::string name;  ///< Who or what it is for.
  uint32_t scopes = 0;
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;  ///< 0: in force.
  /// Set only for a console user's session (docs/console.md): the user's
  /// role, with `name` the user's name and `id` empty.
  std::string role;
};

/// Who a request acted as, for the audit log and case histories: "key:ID"
/// for an API key, "user:NAME" for a console user.
inline std::string ActorOf(const ApiKey& key) {
  return key.role.empty() ? "key:" + key.id : "user:" + key.name;
}

class KeyStore {
 public:
  /// Creates the key table in `conn` if missing. `conn` (not owned) must
  /// outlive the store; `conn_mu` (not owned) guards it for Authenticate.
  /// `clock_ms` may be empty (system clock).
  static Status Open(sqlite::Conn* conn, std::mutex* conn_mu, std::function<int64_t()> clock_ms,
                     std::unique_ptr<KeyStore>* out);

  /// Creates a key; stores its record in *key and the key text, to be shown
  /// once, in *token. Runs in the caller's transaction if one is open.
  Status Create(const std::string& name, uint32_t scopes, ApiKey* key, std::string* token);

  /// Every key, newest first.
  Status List(std::vector<ApiKey>* keys);

  /// Revokes key `id`; kNotFound if there is none. Revoking twice is OK.
  Status Revoke(const std::string& id, ApiKey* key);

  /// Checks a key as sent by a client and stores its record in *key.
  /// Returns kPermissionDenied ("missing", "malformed", "unknown or revoked"
  /// key; the message never contains the key) otherwise. Thread-safe.
  Status Authenticate(std::string_view token, ApiKey* key);

 private:
  KeyStore(sqlite::Conn* conn, std::mutex* conn_mu, std::function<int64_t()> clock_ms);
  Status Read(const std::string& id, ApiKey* key, std::string* hash, bool* found);

  struct Cached {
    ApiKey key;
    std::string hash;  // hex SHA-256 of the whole key
    bool found = false;
    int64_t read_ms = 0;
  };

  sqlite::Conn* const conn_;
  std::mutex* const conn_mu_;
  const std::function<int64_t()> clock_ms_;
  std::shared_mutex cache_mu_;
  std::map<std::string, Cached> cache_;  // by key id; guarded by cache_mu_
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_API_KEYS_H_
