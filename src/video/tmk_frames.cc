// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The TMK+PDQF reference hashes the frames the ffmpeg tool writes for
//   ffmpeg -i VIDEO -s 64:64 -an -f rawvideo -c:v rawvideo -pix_fmt rgb24 -r 15 -
// and its .tmk files are byte-exact only for exactly those frames. This file
// rebuilds that stream from FFmpeg's libraries, step by step as the tool
// (FFmpeg 5.1, fftools/ffmpeg.c and ffmpeg_filter.c) does it:
//  1. timestamps shifted so the file starts at 0 (the tool's input offset);
//  2. a filter graph buffer -> [rotation] -> scale=64:64:flags=bicubic ->
//     format=rgb24 -> buffersink, with the tool's default scaler flags;
//  3. the tool's constant-frame-rate output: each filtered frame's time in
//     units of 1/15 s decides whether it is dropped, written once or
//     written several times (do_video_out with vsync "cfr").
// tests/tmk_test.cc compares the result with the reference's .tmk files.

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/display.h>
#include <libavutil/frame.h>
#include <libavutil/mathematics.h>
#include <libavutil/pixdesc.h>
}

#include "safeguard/video/video_decoder.h"
#include "video/av_input.h"

namespace safeguard::video {
namespace {

using internal::FramePtr;

struct GraphDeleter {
  void operator()(AVFilterGraph* g) const { avfilter_graph_free(&g); }
};

// The filter graph of the tool's simple video graph for our output.
class TmkGraph {
 public:
  // Builds the graph for frames like `frame` from `stream`.
  Status Build(const AVStream* stream, AVRational frame_rate, const AVFrame& frame) {
    graph_.reset(avfilter_graph_alloc());
    if (graph_ == nullptr) return Status::Internal("out of memory for the filter graph");
    graph_->nb_threads = 1;
    // The tool's default scaler flags (cmdutils: sws flags "bicubic"), also
    // for any scaler the graph inserts by itself.
    graph_->scale_sws_opts = av_strdup("flags=bicubic");
    width_ = frame.width;
    height_ = frame.height;
    format_ = frame.format;
    AVRational sar = frame.sample_aspect_ratio;
    if (sar.den == 0) sar = AVRational{0, 1};
    char args[512];
    std::snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
                  frame.width, frame.height, frame.format, stream->time_base.num, stream->time_base.den,
                  sar.num, sar.den);
    int rc = avfilter_graph_create_filter(&src_, avfilter_get_by_name("buffer"), "in", args, nullptr,
                                          graph_.get());
    if (rc < 0) return Status::Internal("cannot create the filter graph input: " + internal::AvError(rc));
    if (frame_rate.num > 0 && frame_rate.den > 0) {
      AVBufferSrcParameters* par = av_buffersrc_parameters_alloc();
      if (par == nullptr) return Status::Internal("out of memory for the filter graph");
      par->format = -1;
      par->frame_rate = frame_rate;
      rc = av_buffersrc_parameters_set(src_, par);
      av_free(par);
      if (rc < 0) return Status::Internal("cannot set the frame rate: " + internal::AvError(rc));
    }
    AVFilterContext* last = src_;
    // Display rotation as the tool applies it (autorotate).
    size_t size = 0;
    const uint8_t* side = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    const int32_t* m =
        side != nullptr && size >= 9 * sizeof(int32_t) ? reinterpret_cast<const int32_t*>(side) : nullptr;
    double theta = 0;
    if (m != nullptr) {
      theta = -std::round(av_display_rotation_get(m));
      theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
    }
    Status s;
    if (m != nullptr) {
      if (std::fabs(theta - 90) < 1.0) {
        s = Insert(&last, "transpose", m[3] > 0 ? "cclock_flip" : "clock");
      } else if (std::fabs(theta - 180) < 1.0) {
        if (m[0] < 0) s = Insert(&last, "hflip", nullptr);
        if (s.ok() && m[4] < 0) s = Insert(&last, "vflip", nullptr);
      } else if (std::fabs(theta - 270) < 1.0) {
        s = Insert(&last, "transpose", m[3] < 0 ? "clock_flip" : "cclock");
      } else if (std::fabs(theta) > 1.0) {
        char rotate[64];
        std::snprintf(rotate, sizeof(rotate), "%f*PI/180", theta);
        s = Insert(&last, "rotate", rotate);
      } else if (m[4] < 0) {
        s = Insert(&last, "vflip", nullptr);
      }
      if (!s.ok()) return s;
    }
    char scale[64];
    std::snprintf(scale, sizeof(scale), "%d:%d:flags=bicubic", kTmkFrameSide, kTmkFrameSide);
    s = Insert(&last, "scale", scale);
    if (s.ok()) s = Insert(&last, "format", "rgb24");
    if (!s.ok()) return s;
    rc = avfilter_graph_create_filter(&sink_, avfilter_get_by_name("buffersink"), "out", nullptr, nullptr,
                                      graph_.get());
    if (rc < 0) return Status::Internal("cannot create the filter graph output: " + internal::AvError(rc));
    rc = avfilter_link(last, 0, sink_, 0);
    if (rc >= 0) rc = avfilter_graph_config(graph_.get(), nullptr);
    if (rc < 0) return Status::Internal("cannot configure the filter graph: " + internal::AvError(rc));
    return Status::Ok();
  }

  // True when `frame` no longer fits the graph (the tool rebuilds it then).
  bool Changed(const AVFrame& frame) const {
    return frame.width != width_ || frame.height != height_ || frame.format != format_;
  }

  AVFilterContext* source() const { return src_; }
  AVFilterContext* sink() const { return sink_; }
  bool built() const { return graph_ != nullptr; }

 private:
  Status Insert(AVFilterContext** last, const char* name, const char* args) {
    AVFilterContext* f = nullptr;
    char label[32];
    std::snprintf(label, sizeof(label), "f%d", count_++);
    int rc = avfilter_graph_create_filter(&f, avfilter_get_by_name(name), label, args, nullptr, graph_.get());
    if (rc >= 0) rc = avfilter_link(*last, 0, f, 0);
    if (rc < 0)
      return Status::Internal(std::string("cannot add the ") + name + " filter: " + internal::AvError(rc));
    *last = f;
    return Status::Ok();
  }

  std::unique_ptr<AVFilterGraph, GraphDeleter> graph_;
  AVFilterContext* src_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  int width_ = 0, height_ = 0, format_ = -1, count_ = 0;
};

// The tool's constant-frame-rate writer (do_video_out, vsync cfr), for an
// output time base of 1/15 s.
class CfrWriter {
 public:
  CfrWriter(const AVStream* stream, const TmkFrameCallback* emit) : stream_(stream), emit_(emit) {}

  // Writes `frame` (filtered; pts in `filter_tb`) zero or more times, or at
  // the end (frame == nullptr) repeats the last frame as the tool does.
  Status Write(AVFrame* frame, AVRational filter_tb, AVRational filter_rate) {
    const AVRational enc_tb{1, kTmkFrameRate};
    int64_t nb_frames = 1, nb0_frames = 0;
    if (frame == nullptr) {
      nb0_frames = nb_frames = Median(last_nb0_[0], last_nb0_[1], last_nb0_[2]);
    } else {
      double duration = 0;
      if (filter_rate.num > 0 && filter_rate.den > 0) duration = 1 / (av_q2d(filter_rate) * av_q2d(enc_tb));
      if (stream_->start_time != AV_NOPTS_VALUE) duration = std::min(duration, 1.0);
      // With no filter options the tool trusts the input frame's duration.
      // The tool rounds in float (lrintf, llrintf); so do we.
      const long from_packet = lrintf(static_cast<float>(static_cast<double>(frame->pkt_duration) *
                                                         av_q2d(stream_->time_base) / av_q2d(enc_tb)));
      if (from_packet > 0) duration = static_cast<double>(from_packet);
      double delta0 = FloatPts(*frame, filter_tb) - static_cast<double>(sync_opts_);
      const double delta = delta0 + duration;
      // A frame that starts before the next output slot but reaches into it
      // is clipped to the slot.
      if (delta0 < 0 && delta > 0) delta0 = 0;
      if (delta < -1.1) {
        nb_frames = 0;
      } else if (delta > 1.1) {
        nb_frames = llrintf(static_cast<float>(delta));
        if (delta0 > 1.1) nb0_frames = llrintf(static_cast<float>(delta0 - 0.6));
      }
    }
    nb0_frames = std::min(nb0_frames, nb_frames);
    last_nb0_[2] = last_nb0_[1];
    last_nb0_[1] = last_nb0_[0];
    last_nb0_[0] = nb0_frames;
    for (int64_t i = 0; i < nb_frames; ++i) {
      const bool previous = i < nb0_frames && have_last_;
      if (!previous && frame == nullptr) break;
      Status s = Emit(previous ? last_ : *frame);
      if (!s.ok()) return s;
      ++sync_opts_;
    }
    if (frame != nullptr) {
      Keep(*frame);
    }
    return Status::Ok();
  }

  int64_t written() const { return sync_opts_; }

 private:
  // The frame's time in output frames, with the tool's extra precision and
  // its nudge away from exact midpoints.
  static double FloatPts(const AVFrame& frame, AVRational filter_tb) {
    AVRational tb{1, kTmkFrameRate};
    int extra_bits = 29 - av_log2(static_cast<unsigned>(tb.den));
    extra_bits = std::max(0, std::min(16, extra_bits));
    tb.den <<= extra_bits;
    double pts = static_cast<double>(av_rescale_q(frame.pts, filter_tb, tb));
    pts /= static_cast<double>(1 << extra_bits);
    pts += (pts > 0 ? 1.0 : -1.0) / (1 << 17);
    return pts;
  }

  static int64_t Median(int64_t a, int64_t b, int64_t c) {
    return std::max(std::min(a, b), std::min(std::max(a, b), c));
  }

  Status Emit(const AVFrame& f) {
    // rgb24 rows may be padded; the callback takes them packed.
    constexpr int kRow = kTmkFrameSide * 3;
    for (int r = 0; r < kTmkFrameSide; ++r) {
      std::memcpy(packed_ + r * kRow, f.data[0] + static_cast<ptrdiff_t>(r) * f.linesize[0], kRow);
    }
    return (*emit_)(packed_);
  }

  void Keep(const AVFrame& f) {
    constexpr int kRow = kTmkFrameSide * 3;
    last_.width = kTmkFrameSide;
    last_.height = kTmkFrameSide;
    last_.data[0] = last_pixels_;
    last_.linesize[0] = kRow;
    for (int r = 0; r < kTmkFrameSide; ++r) {
      std::memcpy(last_pixels_ + r * kRow, f.data[0] + static_cast<ptrdiff_t>(r) * f.linesize[0], kRow);
    }
    have_last_ = true;
  }

  const AVStream* stream_;
  const TmkFrameCallback* emit_;
  int64_t sync_opts_ = 0;
  int64_t last_nb0_[3] = {0, 0, 0};
  AVFrame last_{};
  bool have_last_ = false;
  uint8_t last_pixels_[kTmkFrameSide * kTmkFrameSide * 3];
  uint8_t packed_[kTmkFrameSide * kTmkFrameSide * 3];
};

}  // namespace

Status DecodeTmkFrames(const VideoInput& input, const VideoLimits& limits, const TmkFrameCallback& on_frame,
                       VideoInfo* info) {
  VideoInfo local;
  VideoInfo* out = info != nullptr ? info : &local;
  *out = VideoInfo();
  internal::AvInput in;
  Status s = in.Open(input, limits, out);
  if (!s.ok()) return s;
  const AVStream* st = in.stream();
  // The tool's input offset: the file's start time moves to 0.
  if (in.format()->start_time != AV_NOPTS_VALUE) {
    in.timestamp_offset = av_rescale_q(-in.format()->start_time, AV_TIME_BASE_Q, st->time_base);
  }
  const AVRational rate = av_guess_frame_rate(in.format(), const_cast<AVStream*>(st), nullptr);

  FramePtr decoded(av_frame_alloc());
  FramePtr filtered(av_frame_alloc());
  if (decoded == nullptr || filtered == nullptr) return Status::Internal("out of memory for a frame");
  auto writer = std::make_unique<CfrWriter>(st, &on_frame);
  TmkGraph graph;

  // Takes every frame the graph has ready and writes it.
  auto reap = [&]() -> Status {
    while (true) {
      const int rc =
          av_buffersink_get_frame_flags(graph.sink(), filtered.get(), AV_BUFFERSINK_FLAG_NO_REQUEST);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
      if (rc < 0) return Status::Internal("filter graph failed: " + internal::AvError(rc));
      Status w = writer->Write(filtered.get(), av_buffersink_get_time_base(graph.sink()),
                               av_buffersink_get_frame_rate(graph.sink()));
      av_frame_unref(filtered.get());
      if (!w.ok()) return w;
    }
  };
  // Ends the current graph: drains it into the writer.
  auto drain = [&]() -> Status {
    const int rc = av_buffersrc_add_frame(graph.source(), nullptr);
    if (rc < 0) return Status::Internal("filter graph failed: " + internal::AvError(rc));
    while (true) {
      const int got = av_buffersink_get_frame(graph.sink(), filtered.get());
      if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return Status::Ok();
      if (got < 0) return Status::Internal("filter graph failed: " + internal::AvError(got));
      Status w = writer->Write(filtered.get(), av_buffersink_get_time_base(graph.sink()),
                               av_buffersink_get_frame_rate(graph.sink()));
      av_frame_unref(filtered.get());
      if (!w.ok()) return w;
    }
  };

  double last_t = 0;
  while (true) {
    bool eof = false;
    s = in.NextFrame(decoded.get(), &eof);
    if (!s.ok()) return s;
    if (eof) break;
    ++out->frames_decoded;
    last_t = std::max(last_t, in.Seconds(*decoded));
    // The tool stamps a decoded frame with its best-effort timestamp.
    decoded->pts = decoded->best_effort_timestamp;
    if (!graph.built() || graph.Changed(*decoded)) {
      if (graph.built()) {
        s = drain();
        if (!s.ok()) return s;
      }
      s = graph.Build(st, rate, *decoded);
      if (!s.ok()) return s;
    }
    const int rc = av_buffersrc_add_frame_flags(graph.source(), decoded.get(), AV_BUFFERSRC_FLAG_PUSH);
    av_frame_unref(decoded.get());
    if (rc < 0) return Status::Internal("filter graph failed: " + internal::AvError(rc));
    s = reap();
    if (!s.ok()) return s;
  }
  if (graph.built()) {
    s = drain();
    if (!s.ok()) return s;
    s = writer->Write(nullptr, AVRational{1, 1}, AVRational{0, 1});
    if (!s.ok()) return s;
  }
  out->frames_output = writer->written();
  out->duration_seconds = last_t + (out->frame_rate > 0 ? 1 / out->frame_rate : 0);
  return Status::Ok();
}

}  // namespace safeguard::video
