// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The people who sign in to the moderation console (docs/console.md), and
// their sessions.
//
// A user has a name, a role and a password. Passwords are stored only as
// libsodium's crypto_pwhash_str (Argon2id, the "interactive" limits), which
// embeds its own salt and parameters. Five wrong passwords in a row lock the
// name for 15 minutes. Roles:
//
//   moderator         works the queue: every case action but `confirm`
//   senior_moderator  every case action, including confirm and report
//   compliance        reads cases, the dashboard and reports; acts on none
//   admin             everything, as an `admin` API key may
//
// A session is 256 random bits sent back in an HttpOnly, Secure,
// SameSite=Strict cookie; only its SHA-256 is stored, with a CSRF token (the
// console echoes it in `X-CSRF-Token` on every request that changes
// something). A session ends at sign-out, after 30 minutes without a request
// or 12 hours after sign-in, whichever comes first.
//
// Thread-safety: a UserStore is used under the caller's lock on its
// connection (`conn_mu`), like the other stores of service.db, except
// SignIn, which takes that lock itself and only around its reads and writes:
// its password check is slow on purpose (about 0.1 s) and runs unlocked.

#ifndef SAFEGUARD_SERVER_USERS_H_
#define SAFEGUARD_SERVER_USERS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"

namespace safeguard::sqlite {
class Conn;
}  // namespace safeguard::sqlite

namespace safeguard::server {

/// The roles, in the order of the documentation.
const std::vector<std::string>& UserRoles();

/// One user's record (never the password or its hash).
struct User {
  std::string name;
  std::string role;
  int64_t created_ms = 0;
  int64_t disabled_ms = 0;  ///< 0: may sign in.
};

/// A signed-in user's session (never its token).
struct Session {
  User user;
  std::string csrf_token;  ///< 64 hex; the console sends it back in X-CSRF-Token.
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  ///< The absolute end (12 hours after sign-in).
};

/// How long sessions last.
struct SessionPolicy {
  int64_t idle_ms = int64_t{30} * 60 * 1000;
  int64_t absolute_ms = int64_t{12} * 3600 * 1000;
  int max_failures = 5;  ///< Wrong passwords in a row before a lock.
  int64_t lock_ms = int64_t{15} * 60 * 1000;
};

class UserStore {
 public:
  /// Creates the users and sessions tables in `conn` if missing. `conn` and
  /// `conn_mu` (not owned) must outlive the store. `clock_ms` may be empty
  /// (system clock).
  static Status Open(sqlite::Conn* conn, std::mutex* conn_mu, const SessionPolicy& policy,
                     std::function<int64_t()> clock_ms, std::unique_ptr<UserStore>* out);

  /// Adds a user. Names are 1-64 characters of [A-Za-z0-9._@-]; the role
  /// one of UserRoles(); the password at least 12 characters.
  /// kInvalidArgument, saying why, for a taken name or a bad value.
  Status Create(const std::string& name, const std::string& role, const std::string& password, User* out);

  /// Replaces a user's password and ends their sessions; clears a lock.
  Status SetPassword(const std::string& name, const std::string& password);

  /// Stops a user from signing in and ends their sessions. kNotFound.
  Status Disable(const std::string& name);

  /// Every user, by name.
  Status List(std::vector<User>* users);

  /// Checks a name and password and starts a session: *token is the cookie
  /// value, shown once. kPermissionDenied "wrong username or password" for
  /// an unknown name, a wrong password or a disabled user (the message never
  /// says which); kPermissionDenied saying for how long while the name is
  /// locked (the password is not even checked then). The caller must not
  /// hold `conn_mu`.
  Status SignIn(const std::string& name, const std::string& password, Session* session, std::string* token);

  /// The session of a cookie value, refreshing its idle timer;
  /// kPermissionDenied when unknown, expired or its user was disabled.
  Status Resolve(std::string_view token, Session* session);

  /// Ends the session of a cookie value. Ending an unknown one is OK.
  Status SignOut(std::string_view token);

  /// Checks `password` against a crypto_pwhash_str hash. Thread-safe.
  static bool VerifyPassword(const std::string& hash, const std::string& password);

 private:
  UserStore(sqlite::Conn* conn, std::mutex* conn_mu, const SessionPolicy& policy,
            std::function<int64_t()> clock_ms);
  int64_t Now() const;

  sqlite::Conn* const conn_;
  std::mutex* const conn_mu_;
  const SessionPolicy policy_;
  const std::function<int64_t()> clock_ms_;
};

}  // namespace safeguard::server

#endif  // SAFEGUARD_SERVER_USERS_H_
