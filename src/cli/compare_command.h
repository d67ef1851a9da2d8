// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// `safeguard compare A B`: how alike two images or two videos are, by the
// measures the hash lists use (docs/cli.md).

#ifndef SAFEGUARD_SRC_CLI_COMPARE_COMMAND_H_
#define SAFEGUARD_SRC_CLI_COMPARE_COMMAND_H_

#include <iosfwd>
#include <string>

#include "safeguard/video/video_hasher.h"

namespace safeguard::cli {

/// Parsed arguments of `safeguard compare`.
struct CompareArgs {
  std::string a, b;
  /// How videos are hashed (vPDQ sampling, limits).
  video::VideoHashOptions video;
};

/// Compares two files and writes one JSON object to `out`. Each may be an
/// image, a video, a .tmk file or a vPDQ text file (frame,quality,pdq,
/// timestamp lines). Images: the PDQ distance. Videos: the vPDQ match
/// percentages both ways and the TMK level-1 and level-2 scores, each with
/// its verdict. Returns the exit status: 0 compared, 1 a file could not be
/// hashed, 2 an image compared with a video.
int RunCompareCommand(const CompareArgs& args, std::ostream& out, std::ostream& err);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_COMPARE_COMMAND_H_
