// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Video decoding with FFmpeg's libraries (libavformat, libavcodec, libswscale,
// libavfilter from Debian): every container and codec they support, bounded
// in memory and time for hostile files. Two frame streams come out of it:
//
//  - DecodeFrames: RGB frames at the video's own size (or a size the caller
//    asks for), every frame or one per N seconds, for vPDQ.
//  - DecodeTmkFrames: 64x64 RGB frames at 15 frames per second, the exact
//    stream the TMK+PDQF reference hashes (it pipes the ffmpeg command-line
//    tool: `-s 64:64 -pix_fmt rgb24 -r 15`), for TMK.
//
// Nothing here writes to a log; FFmpeg's own logging is silenced.
// Every function is thread-safe (each call owns its decoder).

#ifndef SAFEGUARD_VIDEO_VIDEO_DECODER_H_
#define SAFEGUARD_VIDEO_VIDEO_DECODER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::video {

/// Where a video comes from: a file, or bytes in memory (an upload). Either
/// way FFmpeg reads it through Safeguard's own reader, so a playlist or
/// reference inside the file can never make FFmpeg open another file or URL.
struct VideoInput {
  std::string path;        ///< Used when non-empty.
  std::string_view bytes;  ///< Used when path is empty; not owned, must outlive the call.

  /// Returns an input that reads the file at `path`.
  static VideoInput File(std::string path) { return VideoInput{std::move(path), {}}; }
  /// Returns an input over `bytes`, which the caller keeps alive.
  static VideoInput Memory(std::string_view bytes) { return VideoInput{{}, bytes}; }
};

/// Bounds for hostile files. A file over a bound is refused with kTooLarge
/// (dimensions, frame count, duration) or kUnavailable (decode time), with a
/// message that names the bound.
struct VideoLimits {
  int max_width = 8192;                    ///< Coded or displayed width.
  int max_height = 8192;                   ///< Coded or displayed height.
  int64_t max_frames = 1'000'000;          ///< Frames decoded (about 9 hours at 30 fps).
  double max_duration_seconds = 6 * 3600;  ///< Declared or decoded duration.
  double max_decode_seconds = 900;         ///< Wall-clock budget for one call.
};

/// What the decoder learned about a video. Filled as far as decoding got,
/// also when a call fails.
struct VideoInfo {
  std::string container;        ///< FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
  std::string codec;            ///< FFmpeg's decoder name, e.g. "h264".
  int width = 0;                ///< Coded width of the first frame.
  int height = 0;               ///< Coded height of the first frame.
  double frame_rate = 0;        ///< Average frame rate the container declares (0 if none).
  double duration_seconds = 0;  ///< Timestamp of the last decoded frame plus one frame.
  int rotation_degrees = 0;     ///< Display rotation from the container, 0/90/180/270.
  int64_t frames_decoded = 0;   ///< Frames the decoder produced.
  int64_t frames_output = 0;    ///< Frames passed to the callback.
};

/// One decoded frame in RGB24 (3 bytes a pixel, R first).
struct RgbFrame {
  const uint8_t* rgb = nullptr;  ///< width x height pixels; row r starts at rgb + r * stride.
  int width = 0;
  int height = 0;
  int stride = 0;        ///< Bytes from one row to the next (>= 3 * width, may be more).
  int64_t index = 0;     ///< Position among all decoded frames, from 0 (presentation order).
  double timestamp = 0;  ///< Seconds from the start of the video.
};

/// Which frames DecodeFrames passes on, and at what size.
struct FrameSampling {
  /// 0: every frame. Otherwise the first frame at or after each multiple of
  /// this many seconds.
  double seconds_between_frames = 0;
  /// When sampling, let the decoder skip frames nothing refers to and that
  /// are not near a sampling time (H.264, HEVC and others allow it). A frame
  /// it skipped is never returned, so the frame returned for a sampling time
  /// can be a later one than a full decode returns (by a frame or two).
  /// false decodes every frame: the exact reference for this fast path.
  bool skip_unneeded = true;
  /// Output size; 0 keeps the coded size. Scaling uses SWS_AREA, as the vPDQ
  /// reference does.
  int width = 0;
  int height = 0;
};

/// Called for each frame passed on. The frame is valid only during the call.
/// A non-OK return stops decoding; DecodeFrames then returns that status.
using FrameCallback = std::function<Status(const RgbFrame&)>;

/// Decodes the first video stream of `input` and calls `on_frame` for the
/// sampled frames in presentation order. Display rotation is not applied
/// (the vPDQ reference does not apply it, and hash lists come from it).
/// Returns kUnsupportedFormat for bytes that are not a video FFmpeg reads,
/// kCorrupt for a video with no decodable frame, kTooLarge / kUnavailable
/// over a limit. A stream that breaks off after some frames is not an
/// error: the frames before the break are passed on. `info` may be null.
Status DecodeFrames(const VideoInput& input, const FrameSampling& sampling, const VideoLimits& limits,
                    const FrameCallback& on_frame, VideoInfo* info);

/// Side of the frames DecodeTmkFrames passes on.
inline constexpr int kTmkFrameSide = 64;
/// Frame rate of the stream DecodeTmkFrames passes on.
inline constexpr int kTmkFrameRate = 15;

/// Called with each 64x64 frame of the TMK stream: kTmkFrameSide^2 * 3 bytes,
/// tightly packed RGB24, valid only during the call.
using TmkFrameCallback = std::function<Status(const uint8_t* rgb)>;

/// Produces the frame stream of the TMK+PDQF reference's ffmpeg command
/// (`ffmpeg -i VIDEO -s 64:64 -an -f rawvideo -pix_fmt rgb24 -r 15`) with
/// FFmpeg's libraries: display rotation applied as that command does, a
/// bicubic scale to 64x64, and its constant-frame-rate duplication and
/// dropping of frames. Errors as DecodeFrames.
Status DecodeTmkFrames(const VideoInput& input, const VideoLimits& limits, const TmkFrameCallback& on_frame,
                       VideoInfo* info);

}  // namespace safeguard::video

#endif  // SAFEGUARD_VIDEO_VIDEO_DECODER_H_
