// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard serve` (the HTTP API, docs/server.md) and `safeguard keys`
// (create, list and revoke its API keys).

#ifndef SAFEGUARD_SRC_CLI_SERVE_COMMAND_H_
#define SAFEGUARD_SRC_CLI_SERVE_COMMAND_H_

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>

#include "store_args.h"

namespace safeguard::cli {

/// Parsed arguments of `serve` and `keys`.
struct ServeCommandArgs {
  StoreArgs store;
  std::string listen;
  std::string config;
  int threads = 0;
  int grace_s = 10;
  // keys
  std::string name;
  std::string scopes;
  std::string key_id;
  // users
  std::string user;
  std::string role;
  std::string password_file;
};

/// Adds `serve` and `keys create|list|revoke` to `app`, storing parsed
/// values in *args (which must outlive parsing).
void RegisterServeCommands(CLI::App* app, ServeCommandArgs* args);

/// If one of those commands was parsed, runs it (serve: until SIGTERM or
/// SIGINT), stores its exit status in *exit_code and returns true; returns
/// false otherwise.
bool RunServeCommands(const CLI::App& app, const ServeCommandArgs& args, std::ostream& out, std::ostream& err,
                      int* exit_code);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_SERVE_COMMAND_H_
