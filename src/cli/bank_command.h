// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard bank ...` (create, list, update, delete, import, export,
// withdraw, sync) and `safeguard match` (docs/cli.md).

#ifndef SAFEGUARD_SRC_CLI_BANK_COMMAND_H_
#define SAFEGUARD_SRC_CLI_BANK_COMMAND_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "safeguard/hash/image_hasher.h"
#include "safeguard/video/video_hasher.h"
#include "store_args.h"

namespace CLI {
class App;
}

namespace safeguard::cli {

/// Parsed arguments of every bank subcommand and of `match`.
struct BankCommandArgs {
  StoreArgs store;
  std::string name;
  // create / update
  std::string category;
  int distance = -1;  // -1: not given
  std::string source = "file";
  bool disabled = false;
  bool enable = false;
  // import / export
  std::string file;
  std::string format = "auto";
  bool skip_invalid = false;
  std::string source_list;
  std::string source_version;
  std::string output;
  // withdraw
  std::vector<std::string> external_ids;
  std::vector<uint64_t> signal_ids;
  // sync / feedback
  std::string endpoint;
  int timeout_s = 30;
  std::string feedback = "Blocked";
  std::vector<std::string> tags;
  // add-video
  std::string external_id;
  // match, add-video
  hash::HashOptions hash;
  video::VideoHashOptions video;
  int jobs = 0;
  int progress = -1;
  std::vector<std::string> paths;
  std::string snapshot;
};

/// Adds the `bank` command with its subcommands and the `match` command to
/// `app`, storing parsed values in *args (which must outlive parsing).
void RegisterBankCommands(CLI::App* app, BankCommandArgs* args);

/// If a bank subcommand or `match` was parsed, runs it and stores its exit
/// status in *exit_code, returning true; returns false otherwise. Results go
/// to `out` as JSON, messages to `err`.
bool RunBankCommands(const CLI::App& app, const BankCommandArgs& args, std::istream& in, std::ostream& out,
                     std::ostream& err, int* exit_code);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_BANK_COMMAND_H_
