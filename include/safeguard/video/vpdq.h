// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// vPDQ, Meta's video hash: one PDQ hash per sampled frame, and video-to-video
// matching by the share of frames that find a near-identical frame in the
// other video. Compatible with Meta's reference (ThreatExchange vpdq/): the
// same frames (RGB at the coded size, no display rotation), the same per-frame
// PDQ, the same text form `frame,quality,pdq,timestamp`. Hashing a video is in
// video_hasher.h; this header has no FFmpeg behind it.
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
