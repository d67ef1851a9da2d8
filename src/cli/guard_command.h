// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard guard prompt "…"` screens an image-generation prompt,
// `safeguard guard input PHOTO --prompt "…"` an edit request (the photo
// against the banks, its faces, the prompt), and `safeguard guard trace
// IMAGE --key-file F` reads the provenance watermark; each prints one JSON
// object (docs/guard.md, docs/watermark.md, docs/cli.md).

#ifndef SAFEGUARD_SRC_CLI_GUARD_COMMAND_H_
#define SAFEGUARD_SRC_CLI_GUARD_COMMAND_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "store_args.h"

namespace CLI {
class App;
}

namespace safeguard::cli {

/// Parsed arguments of the guard subcommands.
struct GuardCommandArgs {
  /// prompt: the text; "-" reads it from standard input.
  std::string prompt;
  /// The data folder of term lists and rules; empty: the default.
  std::string data_dir;
  /// The decision for a sexual request with nothing else wrong: block or allow.
  std::string sexual_content = "block";
  /// The request edits a photo / the photo has a face (what `guard input`
  /// will set from the image; here by hand).
  bool photo_edit = false;
  bool face = false;
  /// input: the photo to be edited, and where the banks are; trace: the
  /// image to read a mark from.
  std::string photo;
  StoreArgs store;
  /// trace, output: a file holding the service's watermark key (64 hex digits).
  std::string key_file;
  /// output: the generated image (in `photo`), the edited photo if it was an
  /// edit, where to write the watermarked image, the generation id (decimal;
  /// empty picks one), the nsfwjs model (empty: the build's) and operator
  /// classifier specs (JSON files).
  std::string edit_of;
  std::string out_path;
  std::string generation_id;
  std::string nsfw_model;
  std::vector<std::string> classifiers;
};

/// Adds the `guard` command with its subcommands to `app`.
void RegisterGuardCommands(CLI::App* app, GuardCommandArgs* args);

/// If a guard subcommand was parsed, runs it and stores its exit status in
/// *exit_code (0 allowed, 3 refused, 1 the lists could not be loaded, 2 a
/// usage error), returning true; returns false otherwise.
bool RunGuardCommands(const CLI::App& app, const GuardCommandArgs& args, std::istream& in, std::ostream& out,
                      std::ostream& err, int* exit_code);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_GUARD_COMMAND_H_
