// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Internal to the video block: an opened FFmpeg demuxer and decoder for the
// first video stream of a VideoInput, read through our own I/O callbacks,
// with the limits of VideoLimits enforced while packets are read and frames
// decoded. Used by the two frame streams (video_decoder.cc, tmk_frames.cc).

#ifndef SAFEGUARD_VIDEO_AV_INPUT_H_
#define SAFEGUARD_VIDEO_AV_INPUT_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "safeguard/common/status.h"
#include "safeguard/video/video_decoder.h"

namespace safeguard::video::internal {

/// Owns the demuxer, the decoder and the reader behind them. Not copyable;
/// one thread at a time.
class AvInput {
 public:
  AvInput() = default;
  ~AvInput();
  AvInput(const AvInput&) = delete;
  AvInput& operator=(const AvInput&) = delete;

  /// Opens `input`, finds its first video stream and opens a one-thread
  /// decoder for it. Fills the container, codec, size, rate and rotation of
  /// *info. Returns kNotFound / kIoError for a file that cannot be read,
  /// kUnsupportedFormat for bytes no demuxer takes or without a video stream
  /// or decoder, kTooLarge for dimensions over the limits.
  Status Open(const VideoInput& input, const VideoLimits& limits, VideoInfo* info);

  /// Decides, per packet, whether the decoder may skip frames nothing refers
  /// to (AVDISCARD_NONREF) while decoding it. Unset: never skip.
  std::function<bool(const AVPacket&)> may_skip;

  /// Added to every packet's timestamps (in the stream's time base) before
  /// decoding; the ffmpeg tool shifts a file to start at 0 this way.
  int64_t timestamp_offset = 0;

  /// Decodes the next frame into `frame` (presentation order). Sets *eof and
  /// returns OK at the end of the stream, also when the stream breaks off
  /// after at least one frame (FFmpeg's tool keeps what it decoded too).
  /// Returns kCorrupt when no frame at all could be decoded, kTooLarge over
  /// the frame-count, size or duration limits, kUnavailable past the time
  /// budget.
  Status NextFrame(AVFrame* frame, bool* eof);

  /// The demuxer; valid after Open.
  AVFormatContext* format() const { return format_; }
  /// The video stream; valid after Open.
  AVStream* stream() const { return format_->streams[stream_index_]; }
  /// The decoder; valid after Open.
  AVCodecContext* decoder() const { return decoder_; }
  /// Frames decoded so far.
  int64_t frames_decoded() const { return frames_decoded_; }
  /// Seconds of the frame's presentation time from the start of the stream
  /// (its best-effort timestamp less the stream's start time).
  double Seconds(const AVFrame& frame) const;

  /// True when the time budget is spent (also read by FFmpeg's interrupt
  /// callback, which aborts a blocking read).
  bool PastDeadline() const { return std::chrono::steady_clock::now() > deadline_; }

 private:
  static int Read(void* opaque, uint8_t* buf, int size);
  static int64_t Seek(void* opaque, int64_t offset, int whence);
  static int Interrupt(void* opaque);

  VideoLimits limits_;
  std::chrono::steady_clock::time_point deadline_;
  // Source: a file or bytes.
  std::FILE* file_ = nullptr;
  int64_t file_size_ = -1;
  std::string_view bytes_;
  int64_t pos_ = 0;

  AVIOContext* io_ = nullptr;
  AVFormatContext* format_ = nullptr;
  AVCodecContext* decoder_ = nullptr;
  AVPacket* packet_ = nullptr;
  int stream_index_ = -1;
  bool draining_ = false;
  bool finished_ = false;
  int64_t frames_decoded_ = 0;
  int64_t start_pts_ = AV_NOPTS_VALUE;
};

/// Frees an AVFrame (for std::unique_ptr).
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
/// An owned AVFrame.
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

/// Returns a message for an FFmpeg error code.
std::string AvError(int code);

}  // namespace safeguard::video::internal

#endif  // SAFEGUARD_VIDEO_AV_INPUT_H_
