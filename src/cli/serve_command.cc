// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "serve_command.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>

#include "common/sqlite.h"
#include "json_output.h"
#include "safeguard/audit/audit_log.h"
#include "safeguard/server/api_keys.h"
#include "safeguard/server/server.h"
#include "safeguard/server/service_db.h"
#include "safeguard/server/users.h"

namespace safeguard::cli {
namespace {

int Fail(std::ostream& err, const Status& s) {
  err << "safeguard: " << s.message() << '\n';
  return ExitCodeFor(s.code());
}

void AddDataOption(CLI::App* cmd, ServeCommandArgs* args) {
  cmd->add_option("--data", args->store.data_dir,
                  "Data directory (default: $SAFEGUARD_DATA, else $XDG_DATA_HOME/safeguard, else "
                  "~/.local/share/safeguard)");
}

int RunServe(const ServeCommandArgs& a, std::ostream& err) {
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  server::ServerOptions o;
  o.data_dir = a.store.DataDir();
  o.postgres = a.store.postgres;
  o.listen = a.listen;
  o.config_path = a.config;
  o.threads = a.threads;
  std::unique_ptr<server::Server> s;
  Status st = server::Server::Start(o, &s);
  if (!st.ok()) return Fail(err, st);
  int sig = 0;
  sigwait(&stop, &sig);
  s->Shutdown(std::chrono::seconds(a.grace_s));
  return 0;
}

// Opens the service file of the data directory with its key table and audit
// log, for the key commands.
Status OpenKeys(const ServeCommandArgs& a, std::unique_ptr<sqlite::Conn>* conn, std::mutex* mu,
                std::unique_ptr<server::KeyStore>* keys, std::unique_ptr<audit::AuditLog>* log) {
  Status s = server::OpenServiceDb(a.store.DataDir(), /*create=*/true, conn);
  if (s.ok()) s = server::KeyStore::Open(conn->get(), mu, nullptr, keys);
  if (s.ok()) s = audit::AuditLog::Open(conn->get(), nullptr, log);
  return s;
}

Json KeyJson(const server::ApiKey& k) {
  Json j;
  j["id"] = k.id;
  j["name"] = k.name;
  j["scopes"] = server::ScopesText(k.scopes);
  j["created"] = audit::FormatTimeMs(k.created_ms);
  if (k.revoked_ms != 0) j["revoked"] = audit::FormatTimeMs(k.revoked_ms);
  return j;
}

int RunKeys(const CLI::App& keys_cmd, const ServeCommandArgs& a, std::ostream& out, std::ostream& err) {
  std::unique_ptr<sqlite::Conn> conn;
  std::mutex mu;
  std::unique_ptr<server::KeyStore> keys;
  std::unique_ptr<audit::AuditLog> log;
  Status s = OpenKeys(a, &conn, &mu, &keys, &log);
  if (!s.ok()) return Fail(err, s);
  if (keys_cmd.get_subcommand("create")->parsed()) {
    uint32_t scopes = 0;
    s = server::ParseScopes(a.scopes, &scopes);
    if (!s.ok()) return Fail(err, s);
    server::ApiKey key;
    std::string token;
    // The key and its audit record in one transaction.
    s = conn->Exec("BEGIN IMMEDIATE");
    if (s.ok()) s = keys->Create(a.name, scopes, &key, &token);
    if (s.ok()) {
      s = log->Append(audit::Event{.actor = "cli",
                                   .action = "key.create",
                                   .subject = key.id,
                                   .details_json = DumpJson(Json{{"name", key.name}, {"scopes", a.scopes}})},
                      nullptr);
    }
    if (s.ok()) s = conn->Exec("COMMIT");
    if (!s.ok()) {
      conn->Exec("ROLLBACK");
      return Fail(err, s);
    }
    Json j = KeyJson(key);
    j["key"] = token;  // shown this once; only its SHA-256 is stored
    out << DumpJson(j) << '\n';
    return 0;
  }
  if (keys_cmd.get_subcommand("list")->parsed()) {
    std::vector<server::ApiKey> list;
    s = keys->List(&list);
    if (!s.ok()) return Fail(err, s);
    for (const server::ApiKey& k : list) out << DumpJson(KeyJson(k)) << '\n';
    return 0;
  }
  server::ApiKey key;
  s = conn->Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = keys->Revoke(a.key_id, &key);
  if (s.ok()) {
    s = log->Append(
        audit::Event{.actor = "cli", .action = "key.revoke", .subject = a.key_id, .details_json = "{}"},
        nullptr);
  }
  if (s.ok()) s = conn->Exec("COMMIT");
  if (!s.ok()) {
    conn->Exec("ROLLBACK");
    return Fail(err, s);
  }
  out << DumpJson(KeyJson(key)) << '\n';
  return 0;
}

// The password of `users add` and `users passwd`: the first line of
// --password-file, else of standard input (never an argument, which other
// users of the machine could read in the process list).
Status ReadPassword(const ServeCommandArgs& a, std::string* password) {
  std::ifstream file;
  if (!a.password_file.empty()) {
    file.open(a.password_file);
    if (!file) return Status::NotFound("cannot read the password file " + a.password_file);
  }
  std::istream& in = a.password_file.empty() ? std::cin : file;
  if (!std::getline(in, *password)) {
    return Status::InvalidArgument("no password: give it on standard input or with --password-file");
  }
  if (!password->empty() && password->back() == '\r') password->pop_back();
  return Status::Ok();
}

Json UserJson(const server::User& u) {
  Json j;
  j["name"] = u.name;
  j["role"] = u.role;
  j["created"] = audit::FormatTimeMs(u.created_ms);
  if (u.disabled_ms != 0) j["disabled"] = audit::FormatTimeMs(u.disabled_ms);
  return j;
}

int RunUsers(const CLI::App& cmd, const ServeCommandArgs& a, std::ostream& out, std::ostream& err) {
  std::unique_ptr<sqlite::Conn> conn;
  std::mutex mu;
  std::unique_ptr<server::KeyStore> keys;
  std::unique_ptr<audit::AuditLog> log;
  std::unique_ptr<server::UserStore> users;
  Status s = OpenKeys(a, &conn, &mu, &keys, &log);
  if (s.ok()) s = server::UserStore::Open(conn.get(), &mu, server::SessionPolicy(), nullptr, &users);
  if (!s.ok()) return Fail(err, s);
  if (cmd.get_subcommand("list")->parsed()) {
    std::vector<server::User> list;
    s = users->List(&list);
    if (!s.ok()) return Fail(err, s);
    for (const server::User& u : list) out << DumpJson(UserJson(u)) << '\n';
    return 0;
  }
  std::string password, action;
  const bool add = cmd.get_subcommand("add")->parsed(), passwd = cmd.get_subcommand("passwd")->parsed();
  if (add || passwd) {
    s = ReadPassword(a, &password);
    if (!s.ok()) return Fail(err, s);
  }
  // The change and its audit record in one transaction.
  server::User user;
  s = conn->Exec("BEGIN IMMEDIATE");
  if (s.ok() && add) {
    action = "user.create";
    s = users->Create(a.user, a.role, password, &user);
  } else if (s.ok() && passwd) {
    action = "user.password";
    s = users->SetPassword(a.user, password);
  } else if (s.ok()) {
    action = "user.disable";
    s = users->Disable(a.user);
  }
  if (s.ok()) {
    s = log->Append(audit::Event{.actor = "cli",
                                 .action = action,
                                 .subject = a.user,
                                 .details_json = add ? DumpJson(Json{{"role", a.role}}) : "{}"},
                    nullptr);
  }
  if (s.ok()) s = conn->Exec("COMMIT");
  if (!s.ok()) {
    conn->Exec("ROLLBACK");
    return Fail(err, s);
  }
  out << DumpJson(Json{{"user", a.user}, {"done", action}}) << '\n';
  return 0;
}

}  // namespace

void RegisterServeCommands(CLI::App* app, ServeCommandArgs* args) {
  CLI::App* serve = app->add_subcommand("serve", "Run the HTTP scanning API (docs/server.md)");
  AddDataOption(serve, args);
  serve->add_option("--postgres", args->store.postgres,
                    "Keep the banks in PostgreSQL (a libpq connection string)");
  serve->add_option("--listen", args->listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--config", args->config, "JSON configuration file (docs/server.md)");
  serve->add_option("--threads", args->threads, "HTTP worker threads (default: one per core)")
      ->check(CLI::Range(1, 256));
  serve->add_option("--grace", args->grace_s, "Seconds in-flight requests get to finish on SIGTERM")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();

  CLI::App* keys = app->add_subcommand("keys", "Create, list and revoke API keys of the HTTP API");
  keys->require_subcommand(1);
  CLI::App* create = keys->add_subcommand("create", "Create a key; it is printed once and never again");
  AddDataOption(create, args);
  create->add_option("--name", args->name, "Who or what the key is for")->required();
  create->add_option("--scope", args->scopes, "Comma-separated scopes: scan, curate, review, admin")
      ->required();
  CLI::App* list = keys->add_subcommand("list", "List keys (never their secrets)");
  AddDataOption(list, args);
  CLI::App* revoke = keys->add_subcommand("revoke", "Revoke a key (takes effect within a second)");
  AddDataOption(revoke, args);
  revoke->add_option("id", args->key_id, "The key id (16 hex, from keys list)")->required();

  CLI::App* users = app->add_subcommand("users", "Manage the moderation console's users (docs/console.md)");
  users->require_subcommand(1);
  CLI::App* add = users->add_subcommand("add", "Add a user; the password is read from standard input");
  AddDataOption(add, args);
  add->add_option("name", args->user, "User name (letters, digits, . _ @ -)")->required();
  add->add_option("--role", args->role, "moderator, senior_moderator, compliance or admin")->required();
  add->add_option("--password-file", args->password_file, "Read the password from this file's first line");
  CLI::App* ulist = users->add_subcommand("list", "List users (never their passwords)");
  AddDataOption(ulist, args);
  CLI::App* passwd =
      users->add_subcommand("passwd", "Set a user's password (standard input); ends their sessions");
  AddDataOption(passwd, args);
  passwd->add_option("name", args->user, "User name")->required();
  passwd->add_option("--password-file", args->password_file, "Read the password from this file's first line");
  CLI::App* disable = users->add_subcommand("disable", "Stop a user from signing in; ends their sessions");
  AddDataOption(disable, args);
  disable->add_option("name", args->user, "User name")->required();
}

bool RunServeCommands(const CLI::App& app, const ServeCommandArgs& args, std::ostream& out, std::ostream& err,
                      int* exit_code) {
  if (app.get_subcommand("serve")->parsed()) {
    *exit_code = RunServe(args, err);
    return true;
  }
  const CLI::App* keys = app.get_subcommand("keys");
  if (keys->parsed()) {
    *exit_code = RunKeys(*keys, args, out, err);
    return true;
  }
  const CLI::App* users = app.get_subcommand("users");
  if (users->parsed()) {
    *exit_code = RunUsers(*users, args, out, err);
    return true;
  }
  return false;
}

}  // namespace safeguard::cli
