// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/server/users.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <span>

#include "common/sqlite.h"
#include "token_util.h"

namespace safeguard::server {

namespace {

const char* const kMigrations[] = {
    R"sql(
CREATE TABLE console_users (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_ms    INTEGER NOT NULL,
  disabled_ms   INTEGER NOT NULL DEFAULT 0,
  failures      INTEGER NOT NULL DEFAULT 0,
  locked_until  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE console_sessions (
  token_sha256 TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  csrf         TEXT NOT NULL,
  created_ms   INTEGER NOT NULL,
  last_ms      INTEGER NOT NULL,
  expires_ms   INTEGER NOT NULL
);
CREATE INDEX console_sessions_name ON console_sessions(name);
)sql",
};

constexpr size_t kMinPassword = 12;
constexpr size_t kMaxPassword = 1024;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
  });
}

Status HashPassword(const std::string& password, std::string* out) {
  if (password.size() < kMinPassword) {
    return Status::InvalidArgument("a password needs at least " + std::to_string(kMinPassword) +
                                   " characters");
  }
  if (password.size() > kMaxPassword)
    return Status::InvalidArgument("a password may have at most 1024 characters");
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status::Internal("users: out of memory hashing a password");
  }
  *out = hash;
  return Status::Ok();
}

// A hash of a password nobody has, checked for unknown names so that the
// answer takes as long as for a known one.
const std::string& DummyHash() {
  static const std::string kHash = [] {
    std::string h;
    (void)HashPassword(RandomHex(16), &h);
    return h;
  }();
  return kHash;
}

Status ReadUser(sqlite::Conn* conn, const std::string& name, User* user, std::string* hash, int64_t* failures,
                int64_t* locked_until, bool* found) {
  sqlite::Stmt q(
      conn,
      "SELECT role, password_hash, created_ms, disabled_ms, failures, locked_until FROM console_users "
      "WHERE name = ?");
  q.Text(1, name);
  Status s = q.Step(found);
  if (!s.ok() || !*found) return s;
  user->name = name;
  user->role = std::string(q.ColumnText(0));
  if (hash != nullptr) *hash = std::string(q.ColumnText(1));
  user->created_ms = q.ColumnInt(2);
  user->disabled_ms = q.ColumnInt(3);
  if (failures != nullptr) *failures = q.ColumnInt(4);
  if (locked_until != nullptr) *locked_until = q.ColumnInt(5);
  return Status::Ok();
}

Status EndSessions(sqlite::Conn* conn, const std::string& name) {
  sqlite::Stmt d(conn, "DELETE FROM console_sessions WHERE name = ?");
  d.Text(1, name);
  return d.Run();
}

}  // namespace

const std::vector<std::string>& UserRoles() {
  static const std::vector<std::string> kRoles = {"moderator", "senior_moderator", "compliance", "admin"};
  return kRoles;
}

UserStore::UserStore(sqlite::Conn* conn, std::mutex* conn_mu, const SessionPolicy& policy,
                     std::function<int64_t()> clock_ms)
    : conn_(conn), conn_mu_(conn_mu), policy_(policy), clock_ms_(std::move(clock_ms)) {}

Status UserStore::Open(sqlite::Conn* conn, std::mutex* conn_mu, const SessionPolicy& policy,
                       std::function<int64_t()> clock_ms, std::unique_ptr<UserStore>* out) {
  if (sodium_init() < 0) return Status::Internal("users: libsodium failed to initialise");
  Status s = sqlite::Migrate(conn, "console_users", kMigrations);
  if (!s.ok()) return s;
  out->reset(new UserStore(conn, conn_mu, policy, std::move(clock_ms)));
  return Status::Ok();
}

int64_t UserStore::Now() const {
  if (clock_ms_) return clock_ms_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status UserStore::Create(const std::string& name, const std::string& role, const std::string& password,
                         User* out) {
  if (!ValidName(name)) {
    return Status::InvalidArgument(
        "a user name is 1-64 characters of letters, digits, '.', '_', '@' and '-'");
  }
  if (std::find(UserRoles().begin(), UserRoles().end(), role) == UserRoles().end()) {
    return Status::InvalidArgument("unknown role '" + role +
                                   "' (known: moderator, senior_moderator, compliance, admin)");
  }
  User existing;
  bool found = false;
  Status s = ReadUser(conn_, name, &existing, nullptr, nullptr, nullptr, &found);
  if (!s.ok()) return s;
  if (found) return Status::InvalidArgument("user '" + name + "' already exists");
  std::string hash;
  s = HashPassword(password, &hash);
  if (!s.ok()) return s;
  User u{.name = name, .role = role, .created_ms = Now()};
  sqlite::Stmt ins(conn_,
                   "INSERT INTO console_users(name, role, password_hash, created_ms) VALUES (?, ?, ?, ?)");
  ins.Text(1, u.name);
  ins.Text(2, u.role);
  ins.Text(3, hash);
  ins.Int(4, u.created_ms);
  s = ins.Run();
  if (s.ok() && out != nullptr) *out = u;
  return s;
}

Status UserStore::SetPassword(const std::string& name, const std::string& password) {
  User u;
  bool found = false;
  Status s = ReadUser(conn_, name, &u, nullptr, nullptr, nullptr, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound("no user '" + name + "'");
  std::string hash;
  s = HashPassword(password, &hash);
  if (!s.ok()) return s;
  sqlite::Stmt up(
      conn_, "UPDATE console_users SET password_hash = ?, failures = 0, locked_until = 0 WHERE name = ?");
  up.Text(1, hash);
  up.Text(2, name);
  s = up.Run();
  if (s.ok()) s = EndSessions(conn_, name);
  return s;
}

Status UserStore::Disable(const std::string& name) {
  sqlite::Stmt up(conn_, "UPDATE console_users SET disabled_ms = ? WHERE name = ? AND disabled_ms = 0");
  up.Int(1, Now());
  up.Text(2, name);
  Status s = up.Run();
  if (!s.ok()) return s;
  User u;
  bool found = false;
  s = ReadUser(conn_, name, &u, nullptr, nullptr, nullptr, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound("no user '" + name + "'");
  return EndSessions(conn_, name);
}

Status UserStore::List(std::vector<User>* users) {
  users->clear();
  sqlite::Stmt q(conn_, "SELECT name, role, created_ms, disabled_ms FROM console_users ORDER BY name");
  bool row = false;
  Status s = q.Step(&row);
  for (; s.ok() && row; s = q.Step(&row)) {
    users->push_back(User{.name = std::string(q.ColumnText(0)),
                          .role = std::string(q.ColumnText(1)),
                          .created_ms = q.ColumnInt(2),
                          .disabled_ms = q.ColumnInt(3)});
  }
  return s;
}

bool UserStore::VerifyPassword(const std::string& hash, const std::string& password) {
  if (hash.empty() || password.size() > kMaxPassword) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Status UserStore::SignIn(const std::string& name, const std::string& password, Session* session,
                         std::string* token) {
  static const Status kWrong = Status::PermissionDenied("wrong username or password");
  User u;
  std::string hash;
  int64_t failures = 0, locked_until = 0;
  bool found = false;
  int64_t now = Now();
  {
    std::lock_guard<std::mutex> lock(*conn_mu_);
    Status s =
        ValidName(name) ? ReadUser(conn_, name, &u, &hash, &failures, &locked_until, &found) : Status::Ok();
    if (!s.ok()) return s;
  }
  if (found && locked_until > now) {
    const int64_t minutes = (locked_until - now + 59'999) / 60'000;
    return Status::PermissionDenied("too many wrong passwords: this user is locked for " +
                                    std::to_string(minutes) + " more minute(s)");
  }
  // The slow part, unlocked; unknown names cost as much as known ones.
  const bool ok = VerifyPassword(found ? hash : DummyHash(), password);
  if (!found) return kWrong;
  std::lock_guard<std::mutex> lock(*conn_mu_);
  now = Now();
  if (!ok) {
    // Counted in SQL, so that concurrent wrong guesses all count.
    sqlite::Stmt up(
        conn_,
        "UPDATE console_users SET failures = failures + 1, locked_until = CASE WHEN failures + 1 >= ? "
        "THEN ? ELSE locked_until END WHERE name = ?");
    up.Int(1, policy_.max_failures);
    up.Int(2, now + policy_.lock_ms);
    up.Text(3, name);
    Status s = up.Run();
    if (!s.ok()) return s;
    sqlite::Stmt reset(conn_, "UPDATE console_users SET failures = 0 WHERE name = ? AND failures >= ?");
    reset.Text(1, name);
    reset.Int(2, policy_.max_failures);
    s = reset.Run();
    return s.ok() ? kWrong : s;
  }
  if (u.disabled_ms != 0) return kWrong;
  sqlite::Stmt clear(conn_, "UPDATE console_users SET failures = 0 WHERE name = ? AND failures != 0");
  clear.Text(1, name);
  Status s = clear.Run();
  if (!s.ok()) return s;
  const std::string t = RandomHex(32);
  Session out{
      .user = u, .csrf_token = RandomHex(32), .created_ms = now, .expires_ms = now + policy_.absolute_ms};
  if (t.empty() || out.csrf_token.empty()) return Status::Internal("the system's random generator failed");
  sqlite::Stmt ins(conn_,
                   "INSERT INTO console_sessions(token_sha256, name, csrf, created_ms, last_ms, expires_ms) "
                   "VALUES (?, ?, ?, ?, ?, ?)");
  const std::string digest = Sha256Hex(t);
  ins.Text(1, digest);
  ins.Text(2, name);
  ins.Text(3, out.csrf_token);
  ins.Int(4, now);
  ins.Int(5, now);
  ins.Int(6, out.expires_ms);
  s = ins.Run();
  if (!s.ok()) return s;
  // Sessions that ended are forgotten as new ones start.
  sqlite::Stmt gc(conn_, "DELETE FROM console_sessions WHERE expires_ms <= ? OR last_ms <= ?");
  gc.Int(1, now);
  gc.Int(2, now - policy_.idle_ms);
  s = gc.Run();
  if (!s.ok()) return s;
  *session = out;
  *token = t;
  return Status::Ok();
}

Status UserStore::Resolve(std::string_view token, Session* session) {
  static const Status kEnded = Status::PermissionDenied("not signed in, or the session ended: sign in again");
  if (token.size() != 64) return kEnded;
  const std::string digest = Sha256Hex(token);
  sqlite::Stmt q(
      conn_,
      "SELECT name, csrf, created_ms, last_ms, expires_ms FROM console_sessions WHERE token_sha256 = ?");
  q.Text(1, digest);
  bool row = false;
  Status s = q.Step(&row);
  if (!s.ok()) return s;
  if (!row) return kEnded;
  const int64_t now = Now();
  const std::string name(q.ColumnText(0));
  Session out{.user = {},
              .csrf_token = std::string(q.ColumnText(1)),
              .created_ms = q.ColumnInt(2),
              .expires_ms = q.ColumnInt(4)};
  const int64_t last = q.ColumnInt(3);
  q.Reset();
  if (out.expires_ms <= now || last + policy_.idle_ms <= now) return kEnded;
  bool found = false;
  s = ReadUser(conn_, name, &out.user, nullptr, nullptr, nullptr, &found);
  if (!s.ok()) return s;
  if (!found || out.user.disabled_ms != 0) return kEnded;
  // The idle timer moves at most once a minute: fewer writes.
  if (now - last >= 60'000) {
    sqlite::Stmt up(conn_, "UPDATE console_sessions SET last_ms = ? WHERE token_sha256 = ?");
    up.Int(1, now);
    up.Text(2, digest);
    s = up.Run();
    if (!s.ok()) return s;
  }
  *session = out;
  return Status::Ok();
}

Status UserStore::SignOut(std::string_view token) {
  sqlite::Stmt d(conn_, "DELETE FROM console_sessions WHERE token_sha256 = ?");
  const std::string digest = Sha256Hex(token);
  d.Text(1, digest);
  return d.Run();
}

}  // namespace safeguard::server
