// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "decode_alone.h"

#include <chrono>
#include <cmath>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

namespace safeguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Kept equal to video_decoder.cc's kTimeSlack and its skipping window, so
// that this pass decodes the frames the library decodes (the benchmark
// prints both counts).
constexpr double kTimeSlack = 1e-6;
constexpr double kWindowFrames = 2.5;

struct Resources {
  AVFormatContext* format = nullptr;
  AVCodecContext* decoder = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  SwsContext* sws = nullptr;
  ~Resources() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&decoder);
    avformat_close_input(&format);
  }
};

}  // namespace

Status DecodeAlone(const std::string& path, double seconds_between_frames, bool skip_unneeded, bool convert,
                   DecodeAloneResult* result) {
  *result = DecodeAloneResult();
  const Clock::time_point start = Clock::now();
  Resources r;
  if (avformat_open_input(&r.format, path.c_str(), nullptr, nullptr) < 0) {
    return Status::UnsupportedFormat("cannot open " + path);
  }
  if (avformat_find_stream_info(r.format, nullptr) < 0) return Status::Corrupt("no stream info in " + path);
  int index = -1;
  for (unsigned i = 0; i < r.format->nb_streams; ++i) {
    const AVStream* s = r.format->streams[i];
    if (index < 0 && s->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(s->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      index = static_cast<int>(i);
    }
  }
  if (index < 0) return Status::UnsupportedFormat("no video stream in " + path);
  for (unsigned i = 0; i < r.format->nb_streams; ++i) {
    if (static_cast<int>(i) != index) r.format->streams[i]->discard = AVDISCARD_ALL;
  }
  AVStream* st = r.format->streams[index];
  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (codec == nullptr) return Status::UnsupportedFormat("no decoder for " + path);
  r.decoder = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(r.decoder, st->codecpar);
  r.decoder->thread_count = 1;
  r.decoder->pkt_timebase = st->time_base;
  if (avcodec_open2(r.decoder, codec, nullptr) < 0)
    return Status::UnsupportedFormat("cannot open the decoder");
  r.packet = av_packet_alloc();
  r.frame = av_frame_alloc();

  const AVRational avg = st->avg_frame_rate.num != 0 ? st->avg_frame_rate : st->r_frame_rate;
  const double rate = avg.den != 0 ? av_q2d(avg) : 0;
  const double step = seconds_between_frames;
  const double tb = av_q2d(st->time_base);
  const int64_t start_pts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  const bool skipping = step > 0 && skip_unneeded && rate > 0;
  const double window = rate > 0 ? kWindowFrames / rate : 0;
  auto may_skip = [&](const AVPacket& p) {
    if (!skipping || p.pts == AV_NOPTS_VALUE) return false;
    const double t = static_cast<double>(p.pts - start_pts) * tb;
    return t - std::floor((t + kTimeSlack) / step) * step >= window;
  };

  std::vector<uint8_t> rgb;
  double next_sample = 0;
  bool draining = false;
  while (true) {
    int rc = avcodec_receive_frame(r.decoder, r.frame);
    if (rc == 0) {
      ++result->frames_decoded;
      if (r.frame->pict_type == AV_PICTURE_TYPE_I) ++result->i_frames;
      if (r.frame->pict_type == AV_PICTURE_TYPE_P) ++result->p_frames;
      if (r.frame->pict_type == AV_PICTURE_TYPE_B) ++result->b_frames;
      int64_t pts = r.frame->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE) pts = r.frame->pts;
      double t = pts != AV_NOPTS_VALUE ? static_cast<double>(pts - start_pts) * tb : -1;
      if (t < 0) t = rate > 0 ? static_cast<double>(result->frames_decoded - 1) / rate : 0;
      bool sampled = true;
      if (step > 0) {
        if (t + kTimeSlack < next_sample) {
          sampled = false;
        } else {
          next_sample = (std::floor((t + kTimeSlack) / step) + 1) * step;
        }
      }
      if (sampled) {
        ++result->frames_sampled;
        if (convert) {
          const Clock::time_point c0 = Clock::now();
          const int w = r.frame->width, h = r.frame->height;
          r.sws = sws_getCachedContext(r.sws, w, h, static_cast<AVPixelFormat>(r.frame->format), w, h,
                                       AV_PIX_FMT_RGB24, SWS_AREA, nullptr, nullptr, nullptr);
          if (r.sws == nullptr) return Status::UnsupportedFormat("cannot convert to RGB");
          const int stride = (3 * w + 63) & ~63;
          rgb.resize(static_cast<size_t>(stride) * h + 64);
          uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
          const int dst_stride[4] = {stride, 0, 0, 0};
          sws_scale(r.sws, r.frame->data, r.frame->linesize, 0, h, dst, dst_stride);
          result->convert_seconds += Since(c0);
        }
      }
      av_frame_unref(r.frame);
      continue;
    }
    if (rc == AVERROR_EOF || (rc != AVERROR(EAGAIN) && draining)) break;
    rc = av_read_frame(r.format, r.packet);
    if (rc < 0) {
      if (draining) break;
      draining = true;
      avcodec_send_packet(r.decoder, nullptr);
      continue;
    }
    if (r.packet->stream_index != index) {
      av_packet_unref(r.packet);
      continue;
    }
    r.decoder->skip_frame = may_skip(*r.packet) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    avcodec_send_packet(r.decoder, r.packet);
    av_packet_unref(r.packet);
  }
  if (result->frames_decoded == 0) return Status::Corrupt("no frame decoded from " + path);
  result->decode_seconds = Since(start) - result->convert_seconds;
  return Status::Ok();
}

}  // namespace safeguard::bench
