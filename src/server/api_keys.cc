// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/server/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <chrono>
#include <span>

#include "common/sqlite.h"
#include "safeguard/hash/digest.h"
#include "token_util.h"

namespace safeguard::server {
namespace {

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  scopes     INTEGER NOT NULL,
  key_sha256 TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL DEFAULT 0
);
)sql",
};

constexpr struct {
  Scope bit;
  const char* name;
} kScopeNames[] = {
    {kScopeScan, "scan"}, {kScopeCurate, "curate"}, {kScopeReview, "review"}, {kScopeAdmin, "admin"}};

// Cached answers are re-read after this long: the bound on how late a
// revocation made by another process (`safeguard keys revoke`) applies.
constexpr int64_t kCacheMs = 1000;
// Unknown ids are cached too (so a flood of bad keys does not become a
// flood of reads); past this many entries the cache starts over.
constexpr size_t kMaxCached = 10000;

bool IsHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

Status ParseScopes(std::string_view text, uint32_t* scopes) {
  uint32_t out = 0;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view name =
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    bool known = false;
    for (const auto& s : kScopeNames) {
      if (name == s.name) {
        out |= s.bit;
        known = true;
      }
    }
    if (!known) {
      return Status::InvalidArgument("unknown scope '" + std::string(name) +
                                     "' (accepted: scan, curate, review, admin, comma-separated)");
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  *scopes = out;
  return Status::Ok();
}

std::string ScopesText(uint32_t scopes) {
  std::string out;
  for (const auto& s : kScopeNames) {
    if (scopes & s.bit) out += (out.empty() ? "" : ",") + std::string(s.name);
  }
  return out;
}

KeyStore::KeyStore(sqlite::Conn* conn, std::mutex* conn_mu, std::function<int64_t()> clock_ms)
    : conn_(conn), conn_mu_(conn_mu), clock_ms_(std::move(clock_ms)) {}

Status KeyStore::Open(sqlite::Conn* conn, std::mutex* conn_mu, std::function<int64_t()> clock_ms,
                      std::unique_ptr<KeyStore>* out) {
  if (!clock_ms) {
    clock_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  Status s = sqlite::Migrate(conn, "keys", kMigrations);
  if (!s.ok()) return s;
  out->reset(new KeyStore(conn, conn_mu, std::move(clock_ms)));
  return Status::Ok();
}

Status KeyStore::Create(const std::string& name, uint32_t scopes, ApiKey* key, std::string* token) {
  if (name.empty() || name.size() > 200)
    return Status::InvalidArgument("a key needs a name of 1 to 200 characters");
  if (scopes == 0)
    return Status::InvalidArgument("a key needs at least one scope (scan, curate, review, admin)");
  const std::string id = RandomHex(8), secret = RandomHex(32);
  if (id.empty() || secret.empty()) return Status::Internal("the system's random generator failed");
  ApiKey k{.id = id, .name = name, .scopes = scopes, .created_ms = clock_ms_(), .revoked_ms = 0, .role = {}};
  const std::string text = "sg_" + id + "_" + secret;
  sqlite::Stmt stmt(
      conn_, "INSERT INTO api_keys (id, name, scopes, key_sha256, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)");
  const std::string digest = Sha256Hex(text);
  stmt.Text(1, k.id);
  stmt.Text(2, k.name);
  stmt.Int(3, k.scopes);
  stmt.Text(4, digest);
  stmt.Int(5, k.created_ms);
  Status s = stmt.Run();
  if (!s.ok()) return s;
  *key = k;
  *token = text;
  return Status::Ok();
}

Status KeyStore::List(std::vector<ApiKey>* keys) {
  keys->clear();
  sqlite::Stmt stmt(
      conn_, "SELECT id, name, scopes, created_ms, revoked_ms FROM api_keys ORDER BY created_ms DESC, id");
  bool row;
  Status s;
  while ((s = stmt.Step(&row)).ok() && row) {
    keys->push_back(ApiKey{.id = std::string(stmt.ColumnText(0)),
                           .name = std::string(stmt.ColumnText(1)),
                           .scopes = static_cast<uint32_t>(stmt.ColumnInt(2)),
                           .created_ms = stmt.ColumnInt(3),
                           .revoked_ms = stmt.ColumnInt(4),
                           .role = {}});
  }
  return s;
}

Status KeyStore::Revoke(const std::string& id, ApiKey* key) {
  {
    sqlite::Stmt stmt(conn_, "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0");
    stmt.Text(1, id);
    stmt.Int(2, clock_ms_());
    Status s = stmt.Run();
    if (!s.ok()) return s;
  }
  std::string hash;
  bool found = false;
  Status s = Read(id, key, &hash, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound("no API key with id " + id + " (safeguard keys list shows them)");
  std::unique_lock<std::shared_mutex> lock(cache_mu_);
  cache_.erase(id);
  return Status::Ok();
}

Status KeyStore::Read(const std::string& id, ApiKey* key, std::string* hash, bool* found) {
  sqlite::Stmt stmt(conn_,
                    "SELECT name, scopes, created_ms, revoked_ms, key_sha256 FROM api_keys WHERE id = ?1");
  stmt.Text(1, id);
  bool row;
  Status s = stmt.Step(&row);
  if (!s.ok()) return s;
  *found = row;
  if (row) {
    *key = ApiKey{.id = id,
                  .name = std::string(stmt.ColumnText(0)),
                  .scopes = static_cast<uint32_t>(stmt.ColumnInt(1)),
                  .created_ms = stmt.ColumnInt(2),
                  .revoked_ms = stmt.ColumnInt(3),
                  .role = {}};
    *hash = std::string(stmt.ColumnText(4));
  }
  return Status::Ok();
}

Status KeyStore::Authenticate(std::string_view token, ApiKey* key) {
  if (token.empty()) {
    return Status::PermissionDenied(
        "missing API key: send 'Authorization: Bearer <key>' (safeguard keys create)");
  }
  // sg_ + 16 hex + _ + 64 hex
  if (token.size() != 3 + 16 + 1 + 64 || token.substr(0, 3) != "sg_" || token[19] != '_' ||
      !IsHex(token.substr(3, 16)) || !IsHex(token.substr(20))) {
    return Status::PermissionDenied("malformed API key: expected sg_<16 hex>_<64 hex>");
  }
  const std::string id(token.substr(3, 16));
  const int64_t now = clock_ms_();
  Cached c;
  bool fresh = false;
  {
    std::shared_lock<std::shared_mutex> lock(cache_mu_);
    auto it = cache_.find(id);
    if (it != cache_.end() && now - it->second.read_ms < kCacheMs && now >= it->second.read_ms) {
      c = it->second;
      fresh = true;
    }
  }
  if (!fresh) {
    {
      std::lock_guard<std::mutex> lock(*conn_mu_);
      Status s = Read(id, &c.key, &c.hash, &c.found);
      if (!s.ok()) return s;
    }
    c.read_ms = now;
    std::unique_lock<std::shared_mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[id] = c;
  }
  const std::string digest = Sha256Hex(token);
  if (!c.found || c.key.revoked_ms != 0 || c.hash.size() != digest.size() ||
      CRYPTO_memcmp(c.hash.data(), digest.data(), digest.size()) != 0) {
    return Status::PermissionDenied("unknown or revoked API key");
  }
  *key = c.key;
  return Status::Ok();
}

}  // namespace safeguard::server
