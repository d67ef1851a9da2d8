// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard hash`: hash images and videos (files, directories or a list on
// stdin), on all cores, with output in input order (docs/cli.md).

#ifndef SAFEGUARD_SRC_CLI_HASH_COMMAND_H_
#define SAFEGUARD_SRC_CLI_HASH_COMMAND_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "media_hash.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/video/video_hasher.h"

namespace safeguard::cli {

/// Parsed arguments of `safeguard hash`.
struct HashCommandOptions {
  hash::HashOptions hash;
  /// How videos are hashed, and where their vPDQ and TMK files go.
  video::VideoHashOptions video;
  VideoOutputs video_outputs;
  /// Worker threads; 0 means one per core.
  int jobs = 0;
  /// "jsonl" or "csv".
  std::string format = "jsonl";
  /// Show a progress line on stderr: -1 auto (when stderr is a terminal).
  int progress = -1;
  std::vector<std::string> paths;
};

/// Runs the command, writing records to `out` and the progress line to
/// `err`. Returns the exit status: 0 when every file hashed, 1 when any
/// failed (each failure is a record with an "error" object).
int RunHashCommand(const HashCommandOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_HASH_COMMAND_H_
