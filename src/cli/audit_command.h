// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard audit verify` and `safeguard audit export`: check and export the
// hash-chained audit log in DATA/service.db (docs/cli.md, docs/audit.md).

#ifndef SAFEGUARD_SRC_CLI_AUDIT_COMMAND_H_
#define SAFEGUARD_SRC_CLI_AUDIT_COMMAND_H_

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace safeguard::cli {

/// Parsed arguments of the audit subcommands.
struct AuditCommandArgs {
  /// Data directory holding service.db; empty: DefaultDataDir().
  std::string data_dir;
  /// verify: a head saved earlier, "SEQ:HASH"; empty: none.
  std::string expect_head;
  /// export: RFC 3339 or milliseconds since the epoch; empty: unbounded.
  std::string since;
  std::string until;
};

/// Adds the `audit` command with its subcommands to `app`, storing parsed
/// values in *args (which must outlive parsing).
void RegisterAuditCommands(CLI::App* app, AuditCommandArgs* args);

/// If an audit subcommand was parsed, runs it and stores its exit status in
/// *exit_code (0 ok, 1 a broken log or a failure, 2 a usage error),
/// returning true; returns false otherwise. Results go to `out` as JSON
/// lines, messages to `err`. Never creates or changes the database.
bool RunAuditCommands(const CLI::App& app, const AuditCommandArgs& args, std::ostream& out, std::ostream& err,
                      int* exit_code);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_AUDIT_COMMAND_H_
