// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard report transparency`: the transparency report over a period
// (docs/transparency.md).

#ifndef SAFEGUARD_SRC_CLI_REPORT_COMMAND_H_
#define SAFEGUARD_SRC_CLI_REPORT_COMMAND_H_

#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace safeguard::cli {

/// What `safeguard report transparency` was given.
struct ReportCommandArgs {
  /// Data directory holding service.db; empty: DefaultDataDir().
  std::string data_dir;
  /// The period: YYYY-MM-DD (midnight UTC) or RFC 3339; `to` is exclusive.
  std::string from;
  std::string to;
  /// Where the files go.
  std::string out_dir;
  /// Comma-separated ISO country codes for the statements of reasons;
  /// empty: every EEA country.
  std::string territorial_scope;
  /// The service's name in the report's title.
  std::string name = "Safeguard";
};

/// Adds `report transparency` to `app`.
void RegisterReportCommands(CLI::App* app, ReportCommandArgs* args);

/// Runs it if it was given (true), setting *exit_code.
bool RunReportCommands(const CLI::App& app, const ReportCommandArgs& args, std::ostream& out,
                       std::ostream& err, int* exit_code);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_REPORT_COMMAND_H_
