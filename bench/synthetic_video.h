// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Synthetic H.264 clips for `safeguard-bench video`: slow pans and zooms
// across benign photos (real texture, so decoding costs what it costs on
// camera footage of a still scene), encoded with FFmpeg's libx264 wrapper at
// x264's defaults for GOP structure and written to an mp4 by libavformat.
#ifndef SAFEGUARD_BENCH_SYNTHETIC_VIDEO_H_
#define SAFEGUARD_BENCH_SYNTHETIC_VIDEO_H_

#include <string>

#include "safeguard/common/status.h"

namespace safeguard::bench {

/// What to generate.
struct SyntheticClipSpec {
  int width = 1920;
  int height = 1080;
  int fps = 30;
  int seconds = 120;
  /// x264 preset; GOP settings stay at x264's defaults (keyint 250,
  /// min-keyint 25, scenecut 40, 3 B-frames, B-pyramid normal), crf 23.
  std::string preset = "medium";
  /// Seconds each photo is shown (a scene cut at each change).
  int seconds_per_photo = 8;
  /// Amplitude of fresh per-frame noise added to luma (0: none), in 8-bit
  /// levels: a stand-in for camera sensor noise, which a pan over a still
  /// photo lacks and which drives the bitrate (and the decode cost) of real
  /// footage up.
  int grain = 0;
};

/// Returns the cache file name for `spec`, e.g.
/// "synthetic-1920x1080-30fps-120s-x264-medium.mp4" ("-grain4" before
/// ".mp4" with grain 4).
std::string SyntheticClipName(const SyntheticClipSpec& spec);

/// Makes sure `work_dir`/SyntheticClipName(spec) exists, generating it from
/// the photos under `photos_dir` when it does not (a few minutes for two
/// minutes of 1080p on one core; written to a temporary name and renamed,
/// so an interrupted run leaves no half file). Stores the path in *path and,
/// when it generated the clip, what it did in *note (encoder, photos used);
/// falls back to the native mpeg4 encoder, and says so in *note, only when
/// libavcodec has no libx264. Single-threaded (x264 threads=1).
Status EnsureSyntheticClip(const SyntheticClipSpec& spec, const std::string& photos_dir,
                           const std::string& work_dir, std::string* path, std::string* note);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_SYNTHETIC_VIDEO_H_
