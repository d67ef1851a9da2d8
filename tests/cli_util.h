// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Running the real `safeguard` binary from tests, through the shell.

#ifndef SAFEGUARD_TESTS_CLI_UTIL_H_
#define SAFEGUARD_TESTS_CLI_UTIL_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace safeguard::testing {

/// What a run of the command gave.
struct CliResult {
  int exit_code = -1;
  std::string out;  ///< standard output
  std::string err;  ///< standard error
};

/// Runs `safeguard ARGS` with /bin/sh (so ARGS may hold quotes, redirections
/// and here-documents) and returns its exit status and output. `env`, if not
/// empty, is shell variable assignments put before the command
/// ("NAME=value NAME2=value").
CliResult RunCli(const std::string& args, const std::string& env = "");

/// Parses each line of `out` as one JSON value.
std::vector<nlohmann::json> JsonLines(const std::string& out);

/// Quotes `s` for /bin/sh.
std::string ShellQuote(const std::string& s);

}  // namespace safeguard::testing

#endif  // SAFEGUARD_TESTS_CLI_UTIL_H_
