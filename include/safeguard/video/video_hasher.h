// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Every hash Safeguard computes for a video in one call: MD5 and SHA-256 of
// the file bytes (what NCMEC and StopNCII video lists carry), vPDQ (one PDQ
// per sampled frame) and TMK+PDQF. Used by `safeguard hash`, `safeguard
// compare`, `safeguard match` and the service's /v1/scan.

#ifndef SAFEGUARD_VIDEO_VIDEO_HASHER_H_
#define SAFEGUARD_VIDEO_VIDEO_HASHER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/video/tmk.h"
#include "safeguard/video/video_decoder.h"
#include "safeguard/video/vpdq.h"

namespace safeguard::video {

/// How frames are sampled for vPDQ.
struct VpdqOptions {
  /// 0 hashes every frame (the reference's expected files, and what a bank
  /// entry made from a video uses); the default, one frame a second, is what
  /// uploads are scanned with. A sparse query matches a dense bank entry of
  /// a longer or trimmed video; two sparse lists match only when their
  /// frames line up in time (docs/video.md).
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

/// What HashVideo computes.
struct VideoHashOptions {
  /// Compute vPDQ (sampling as vpdq_options says).
  bool vpdq = true;
  VpdqOptions vpdq_options;
  /// Compute TMK+PDQF.
  bool tmk = true;
  VideoLimits limits;
  /// Files larger than this are refused (kTooLarge) before any decoding.
  uint64_t max_file_bytes = uint64_t{4} << 30;
};

/// The hashes of one video.
struct VideoHashes {
  std::array<uint8_t, 16> md5{};
  std::array<uint8_t, 32> sha256{};
  uint64_t file_bytes = 0;
  /// The sampled frames' PDQ (empty when not asked for).
  std::vector<VpdqFrame> vpdq;
  /// The TMK+PDQF features (absent when not asked for).
  std::optional<TmkFeatures> tmk;
  /// What the decoder learned (from the vPDQ pass, else the TMK pass).
  VideoInfo info;
  /// Seconds spent: vPDQ decode and hash, TMK decode+scale and features.
  VpdqTimings vpdq_seconds;
  double tmk_decode_seconds = 0;
  double tmk_feature_seconds = 0;
};

/// Hashes the video `input`. Returns the decoder's errors (see
/// DecodeFrames), kTooLarge over max_file_bytes, kNotFound / kIoError for a
/// file that cannot be read. Thread-safe.
Status HashVideo(const VideoInput& input, const VideoHashOptions& options, VideoHashes* out);

/// Returns true when `head` (the first bytes of a file; 64 are enough) is an
/// image format Safeguard's image decoders read, so the file goes to the
/// image hasher and everything else to the video decoder.
bool LooksLikeImage(std::span<const uint8_t> head);

}  // namespace safeguard::video

#endif  // SAFEGUARD_VIDEO_VIDEO_HASHER_H_
