// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// vPDQ, Meta's video hash: one PDQ hash per sampled frame, and video-to-video
// matching by the share of frames that find a near-identical frame in the
// other video. Compatible with Meta's reference (ThreatExchange vpdq/): the
// same frames (RGB at the coded size, no display rotation), the same per-frame
// PDQ, the same text form `frame,quality,pdq,timestamp`.
//
// Matching as vPDQ defines it: each side keeps its distinct frame hashes of
// quality >= 50; a frame matches when some frame of the other side is within
// Hamming distance 31; the query match percent is the share of the query's
// frames that match, the target match percent the share of the target's.
// See docs/video.md for why Safeguard calls two videos a match when either
// share reaches 80%.

#ifndef SAFEGUARD_VIDEO_VPDQ_H_
#define SAFEGUARD_VIDEO_VPDQ_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/video/video_decoder.h"

namespace safeguard::video {

/// Frames of lower quality take no part in matching.
inline constexpr int kVpdqMinQuality = 50;
/// A frame matches a frame within this Hamming distance (inclusive).
inline constexpr int kVpdqMaxDistance = 31;
/// Two videos match when at least this share of frames (percent) match.
inline constexpr double kVpdqMatchPercent = 80.0;

/// The hash of one sampled frame.
struct VpdqFrame {
  int64_t index = 0;     ///< Frame number from 0 (see RgbFrame::index).
  int quality = 0;       ///< PDQ quality, 0..100.
  pdq::Hash256 hash;     ///< PDQ hash of the frame.
  double timestamp = 0;  ///< Seconds from the start.
};

/// How frames are sampled for vPDQ.
struct VpdqOptions {
  /// 0 hashes every frame (the reference's expected files); the default, one
  /// frame a second, is what banks and the service use.
  double seconds_between_frames = 1.0;
  /// See FrameSampling::skip_unneeded.
  bool skip_unneeded = true;
  /// Scale frames to this size first (the reference's -d option, e.g.
  /// 128x128); 0 keeps the coded size.
  int width = 0;
  int height = 0;
};

/// Time spent in each stage of HashVideoVpdq, in seconds of the calling
/// thread's wall clock.
struct VpdqTimings {
  double decode = 0;  ///< Demuxing, decoding and conversion to RGB.
  double hash = 0;    ///< Luma and PDQ.
};

/// Hashes the sampled frames of `input` into *frames (in presentation
/// order). Errors as DecodeFrames. `info` and `timings` may be null.
/// Thread-safe.
Status HashVideoVpdq(const VideoInput& input, const VpdqOptions& options, const VideoLimits& limits,
                     std::vector<VpdqFrame>* frames, VideoInfo* info, VpdqTimings* timings = nullptr);

/// Returns the reference's text form: one line `frame,quality,pdq,timestamp`
/// per frame, the timestamp with three decimals.
std::string VpdqToText(const std::vector<VpdqFrame>& frames);

/// Parses the text form (blank lines ignored). Returns kInvalidArgument
/// naming the first bad line.
Status ParseVpdqText(std::string_view text, std::vector<VpdqFrame>* frames);

/// Returns the distinct hashes of frames with quality >= min_quality, in
/// order of first appearance: the frames vPDQ matching counts.
std::vector<pdq::Hash256> VpdqMatchableHashes(const std::vector<VpdqFrame>& frames,
                                              int min_quality = kVpdqMinQuality);

/// The result of comparing two videos' vPDQ.
struct VpdqComparison {
  double query_match_percent = 0;   ///< Share of the query's frames found in the target.
  double target_match_percent = 0;  ///< Share of the target's frames found in the query.
  int query_frames = 0;             ///< Matchable frames of the query.
  int target_frames = 0;            ///< Matchable frames of the target.
  bool match = false;               ///< Either share >= the threshold.
};

/// Compares two hash lists as vPDQ defines it (brute force over every pair:
/// the plain reference; banks match through the index). A side without a
/// matchable frame matches nothing (both percents 0).
VpdqComparison CompareVpdq(const std::vector<VpdqFrame>& query, const std::vector<VpdqFrame>& target,
                           int max_distance = kVpdqMaxDistance, int min_quality = kVpdqMinQuality,
                           double match_percent = kVpdqMatchPercent);

}  // namespace safeguard::video

#endif  // SAFEGUARD_VIDEO_VPDQ_H_
