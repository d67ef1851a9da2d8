// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/video/video_decoder.h"

#include <cmath>
#include <memory>
#include <vector>

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "video/av_input.h"

namespace safeguard::video {
namespace {

// Timestamps are compared with this slack: a frame at 2.9999999 s stands for
// the sample at 3 s.
constexpr double kTimeSlack = 1e-6;

// Owns the converter sws_getCachedContext reuses from frame to frame.
struct SwsHolder {
  SwsContext* context = nullptr;
  ~SwsHolder() { sws_freeContext(context); }
};

}  // namespace

Status DecodeFrames(const VideoInput& input, const FrameSampling& sampling, const VideoLimits& limits,
                    const FrameCallback& on_frame, VideoInfo* info) {
  VideoInfo local;
  VideoInfo* out = info != nullptr ? info : &local;
  *out = VideoInfo();
  const double step = sampling.seconds_between_frames;
  if (!(step >= 0) || !std::isfinite(step)) {
    return Status::InvalidArgument("seconds between frames must be 0 (every frame) or positive");
  }
  if (sampling.width < 0 || sampling.height < 0 || (sampling.width == 0) != (sampling.height == 0)) {
    return Status::InvalidArgument("output size must be both 0 (coded size) or both positive");
  }
  internal::AvInput in;
  Status s = in.Open(input, limits, out);
  if (!s.ok()) return s;

  const double rate = out->frame_rate;
  const bool skipping = step > 0 && sampling.skip_unneeded && rate > 0;
  if (skipping) {
    // Packets within this window after a sampling time are decoded in full:
    // the first frame at or after the time falls in it whenever the frame
    // rate holds, so sampling picks the frame a full decode would pick.
    const double window = 2.5 / rate;
    const AVStream* st = in.stream();
    const double tb = av_q2d(st->time_base);
    const int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    in.may_skip = [step, window, tb, start](const AVPacket& p) {
      if (p.pts == AV_NOPTS_VALUE) return false;
      const double t = static_cast<double>(p.pts - start) * tb;
      const double since = t - std::floor((t + kTimeSlack) / step) * step;
      return since >= window;
    };
  }

  internal::FramePtr frame(av_frame_alloc());
  if (frame == nullptr) return Status::Internal("out of memory for a frame");
  SwsHolder sws;
  std::vector<uint8_t> rgb;
  double next_sample = 0;
  double last_t = 0;
  while (true) {
    bool eof = false;
    s = in.NextFrame(frame.get(), &eof);
    if (!s.ok()) return s;
    if (eof) break;
    ++out->frames_decoded;
    double t = in.Seconds(*frame);
    if (t < 0) t = rate > 0 ? static_cast<double>(out->frames_decoded - 1) / rate : 0;
    last_t = t;
    if (step > 0) {
      if (t + kTimeSlack < next_sample) {
        av_frame_unref(frame.get());
        continue;
      }
      next_sample = (std::floor((t + kTimeSlack) / step) + 1) * step;
    }
    const int w = sampling.width > 0 ? sampling.width : frame->width;
    const int h = sampling.height > 0 ? sampling.height : frame->height;
    // SWS_AREA, as the vPDQ reference converts (it matters only when scaling;
    // at the coded size it is the chroma upsampling).
    sws.context = sws_getCachedContext(sws.context, frame->width, frame->height,
                                       static_cast<AVPixelFormat>(frame->format), w, h, AV_PIX_FMT_RGB24,
                                       SWS_AREA, nullptr, nullptr, nullptr);
    if (sws.context == nullptr) {
      return Status::UnsupportedFormat(std::string("cannot convert frames of pixel format ") +
                                       (av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format))
                                            ? av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format))
                                            : "unknown") +
                                       " to RGB");
    }
    // swscale's vector code writes whole blocks: rows aligned, and slack
    // after the last one.
    const int stride = (3 * w + 63) & ~63;
    rgb.resize(static_cast<size_t>(stride) * h + 64);
    uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
    const int dst_stride[4] = {stride, 0, 0, 0};
    sws_scale(sws.context, frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
    RgbFrame f;
    f.rgb = rgb.data();
    f.width = w;
    f.height = h;
    f.stride = stride;
    f.index = skipping && rate > 0 ? std::llround(t * rate) : out->frames_decoded - 1;
    f.timestamp = t;
    av_frame_unref(frame.get());
    ++out->frames_output;
    s = on_frame(f);
    if (!s.ok()) return s;
  }
  out->duration_seconds = last_t + (rate > 0 ? 1 / rate : 0);
  return Status::Ok();
}

}  // namespace safeguard::video
