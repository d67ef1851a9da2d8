// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// A baseline for `safeguard-bench video`: demux and decode straight on
// FFmpeg's libraries, as src/video/video_decoder.cc does it (one decoder
// thread, the same frame sampling, the same rule for skipping frames nothing
// refers to), with the conversion of sampled frames to RGB timed apart. It
// splits the library's one "decode" stage into decoding and converting
// without touching library code.
#ifndef SAFEGUARD_BENCH_DECODE_ALONE_H_
#define SAFEGUARD_BENCH_DECODE_ALONE_H_

#include <cstdint>
#include <string>

#include "safeguard/common/status.h"

namespace safeguard::bench {

/// What one decode-alone pass did and how long it took.
struct DecodeAloneResult {
  int64_t frames_decoded = 0;  ///< Frames the decoder produced.
  int64_t frames_sampled = 0;  ///< Frames the sampling picked (converted when asked).
  double decode_seconds = 0;   ///< Open, demux and decode (wall clock, everything but convert).
  double convert_seconds = 0;  ///< sws_scale of the sampled frames to RGB24 at the coded size (SWS_AREA).
  int64_t i_frames = 0;        ///< Decoded frames by picture type (describes the GOP).
  int64_t p_frames = 0;
  int64_t b_frames = 0;
};

/// Decodes the first video stream of the file at `path`, sampling one frame
/// per `seconds_between_frames` (0: every frame) and, when `skip_unneeded`,
/// letting the decoder drop non-reference frames away from sampling times by
/// the library's rule. Converts the sampled frames when `convert` is true.
/// Returns a non-OK status when the file cannot be opened or decoded.
Status DecodeAlone(const std::string& path, double seconds_between_frames, bool skip_unneeded, bool convert,
                   DecodeAloneResult* result);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_DECODE_ALONE_H_
