// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "video/av_input.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>

extern "C" {
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

namespace safeguard::video::internal {
namespace {

constexpr int kIoBufferSize = 64 * 1024;

// Demuxers that read other files or URLs named inside the input (playlists,
// concatenation lists) or that are not media at all. Our reader already
// refuses every nested open; naming them gives the user a clear message.
bool RefusedDemuxer(const char* name) {
  static const char* const kRefused[] = {"hls",    "applehttp", "dash", "concat", "ffmetadata", "tee",
                                         "image2", "sdp",       "rtsp", "rtp",    "data",       "tty"};
  for (const char* r : kRefused) {
    if (std::strcmp(name, r) == 0) return true;
  }
  return false;
}

void SilenceFfmpeg() {
  // FFmpeg logs to stderr by default, naming files and streams; matched media
  // must never reach a log, so its log is off.
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

}  // namespace

std::string AvError(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  return buf;
}

AvInput::~AvInput() {
  av_packet_free(&packet_);
  avcodec_free_context(&decoder_);
  if (format_ != nullptr) avformat_close_input(&format_);
  if (io_ != nullptr) {
    av_freep(&io_->buffer);
    avio_context_free(&io_);
  }
  if (file_ != nullptr) std::fclose(file_);
}

int AvInput::Read(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<AvInput*>(opaque);
  if (self->file_ != nullptr) {
    const size_t n = std::fread(buf, 1, static_cast<size_t>(size), self->file_);
    if (n == 0) return std::ferror(self->file_) ? AVERROR(EIO) : AVERROR_EOF;
    self->pos_ += static_cast<int64_t>(n);
    return static_cast<int>(n);
  }
  const int64_t left = static_cast<int64_t>(self->bytes_.size()) - self->pos_;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, size));
  std::memcpy(buf, self->bytes_.data() + self->pos_, static_cast<size_t>(n));
  self->pos_ += n;
  return n;
}

int64_t AvInput::Seek(void* opaque, int64_t offset, int whence) {
  auto* self = static_cast<AvInput*>(opaque);
  const int64_t size = self->file_ != nullptr ? self->file_size_ : static_cast<int64_t>(self->bytes_.size());
  if (whence & AVSEEK_SIZE) return size;
  whence &= ~AVSEEK_FORCE;
  int64_t target;
  switch (whence) {
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = self->pos_ + offset;
      break;
    case SEEK_END:
      target = size + offset;
      break;
    default:
      return AVERROR(EINVAL);
  }
  if (target < 0 || target > size) return AVERROR(EINVAL);
  if (self->file_ != nullptr && fseeko(self->file_, target, SEEK_SET) != 0) return AVERROR(errno);
  self->pos_ = target;
  return target;
}

int AvInput::Interrupt(void* opaque) { return static_cast<AvInput*>(opaque)->PastDeadline() ? 1 : 0; }

Status AvInput::Open(const VideoInput& input, const VideoLimits& limits, VideoInfo* info) {
  SilenceFfmpeg();
  limits_ = limits;
  deadline_ = std::chrono::steady_clock::now() +
              std::chrono::milliseconds(static_cast<int64_t>(limits.max_decode_seconds * 1000));
  std::string label;
  if (!input.path.empty()) {
    label = input.path;
    file_ = std::fopen(input.path.c_str(), "rb");
    if (file_ == nullptr) {
      if (errno == ENOENT) return Status::NotFound(input.path + ": no such file");
      return Status::IoError(input.path + ": " + std::strerror(errno));
    }
    if (fseeko(file_, 0, SEEK_END) != 0 || (file_size_ = ftello(file_)) < 0 ||
        fseeko(file_, 0, SEEK_SET) != 0) {
      return Status::IoError(input.path + ": cannot read its size (is it a regular file?)");
    }
  } else {
    label = "video";
    bytes_ = input.bytes;
  }
  if ((file_ != nullptr ? file_size_ : static_cast<int64_t>(bytes_.size())) == 0) {
    return Status::UnsupportedFormat(label + ": empty input, not a video");
  }

  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return Status::Internal("out of memory for the video reader");
  io_ = avio_alloc_context(buffer, kIoBufferSize, 0, this, &AvInput::Read, nullptr, &AvInput::Seek);
  if (io_ == nullptr) {
    av_free(buffer);
    return Status::Internal("out of memory for the video reader");
  }
  format_ = avformat_alloc_context();
  if (format_ == nullptr) return Status::Internal("out of memory for the demuxer");
  format_->pb = io_;
  format_->flags |= AVFMT_FLAG_CUSTOM_IO;
  format_->interrupt_callback = AVIOInterruptCB{&AvInput::Interrupt, this};
  // Nothing inside a file may open another file or URL.
  format_->io_open = [](AVFormatContext*, AVIOContext**, const char*, int, AVDictionary**) {
    return AVERROR(EPERM);
  };
  AVDictionary* opts = nullptr;
  av_dict_set(&opts, "protocol_whitelist", "none", 0);
  int rc = avformat_open_input(&format_, nullptr, nullptr, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    // avformat_open_input frees the context on failure.
    format_ = nullptr;
    if (PastDeadline()) return Status::Unavailable(label + ": decode time limit reached while probing");
    return Status::UnsupportedFormat(label + ": not a video FFmpeg can read (" + AvError(rc) + ")");
  }
  if (info != nullptr) info->container = format_->iformat->name;
  if (RefusedDemuxer(format_->iformat->name)) {
    return Status::UnsupportedFormat(label + ": " + format_->iformat->name +
                                     " input is refused (playlists, lists and patterns name other files)");
  }
  rc = avformat_find_stream_info(format_, nullptr);
  if (rc < 0) {
    if (PastDeadline()) return Status::Unavailable(label + ": decode time limit reached while probing");
    return Status::Corrupt(label + ": cannot read the stream information (" + AvError(rc) + ")");
  }
  // The reference hashers take the first video stream; so do we.
  stream_index_ = -1;
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if (format_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
        !(format_->streams[i]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      stream_index_ = static_cast<int>(i);
      break;
    }
  }
  if (stream_index_ < 0) return Status::UnsupportedFormat(label + ": has no video stream");
  for (unsigned i = 0; i < format_->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index_) format_->streams[i]->discard = AVDISCARD_ALL;
  }
  AVStream* st = format_->streams[stream_index_];
  const AVCodecParameters* par = st->codecpar;
  if (par->width > limits.max_width || par->height > limits.max_height) {
    return Status::TooLarge(label + ": video is " + std::to_string(par->width) + "x" +
                            std::to_string(par->height) + ", over the limit of " +
                            std::to_string(limits.max_width) + "x" + std::to_string(limits.max_height));
  }
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (codec == nullptr) {
    return Status::UnsupportedFormat(label + ": no decoder for its video codec (" +
                                     avcodec_get_name(par->codec_id) + ")");
  }
  decoder_ = avcodec_alloc_context3(codec);
  if (decoder_ == nullptr) return Status::Internal("out of memory for the decoder");
  rc = avcodec_parameters_to_context(decoder_, par);
  if (rc < 0) return Status::Corrupt(label + ": bad codec parameters (" + AvError(rc) + ")");
  // One thread: the service parallelises across uploads, and a call's cost
  // stays on the core that made it.
  decoder_->thread_count = 1;
  decoder_->max_pixels = static_cast<int64_t>(limits.max_width) * limits.max_height;
  decoder_->pkt_timebase = st->time_base;
  rc = avcodec_open2(decoder_, codec, nullptr);
  if (rc < 0) return Status::UnsupportedFormat(label + ": cannot open its decoder (" + AvError(rc) + ")");
  packet_ = av_packet_alloc();
  if (packet_ == nullptr) return Status::Internal("out of memory for a packet");
  if (info != nullptr) {
    info->codec = codec->name;
    info->width = par->width;
    info->height = par->height;
    const AVRational rate = st->avg_frame_rate.num != 0 ? st->avg_frame_rate : st->r_frame_rate;
    info->frame_rate = rate.den != 0 ? av_q2d(rate) : 0;
    size_t size = 0;
    const uint8_t* matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (matrix != nullptr && size >= 9 * sizeof(int32_t)) {
      double theta = -std::round(av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix)));
      theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
      info->rotation_degrees = static_cast<int>(theta);
    }
  }
  return Status::Ok();
}

double AvInput::Seconds(const AVFrame& frame) const {
  const AVStream* st = stream();
  int64_t pts = frame.best_effort_timestamp;
  if (pts == AV_NOPTS_VALUE) pts = frame.pts;
  if (pts == AV_NOPTS_VALUE) return -1;
  const int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  return static_cast<double>(pts - start) * av_q2d(st->time_base);
}

Status AvInput::NextFrame(AVFrame* frame, bool* eof) {
  *eof = false;
  if (finished_) {
    *eof = true;
    return Status::Ok();
  }
  while (true) {
    if (PastDeadline()) {
      return Status::Unavailable("decode time limit of " + std::to_string(limits_.max_decode_seconds) +
                                 " s reached after " + std::to_string(frames_decoded_) + " frames");
    }
    int rc = avcodec_receive_frame(decoder_, frame);
    if (rc == 0) {
      if (frame->width > limits_.max_width || frame->height > limits_.max_height) {
        return Status::TooLarge("a frame is " + std::to_string(frame->width) + "x" +
                                std::to_string(frame->height) + ", over the limit of " +
                                std::to_string(limits_.max_width) + "x" + std::to_string(limits_.max_height));
      }
      if (++frames_decoded_ > limits_.max_frames) {
        return Status::TooLarge("more than " + std::to_string(limits_.max_frames) +
                                " frames (the frame limit)");
      }
      const double t = Seconds(*frame);
      if (t > limits_.max_duration_seconds) {
        return Status::TooLarge("a frame at " + std::to_string(t) + " s, past the duration limit of " +
                                std::to_string(limits_.max_duration_seconds) + " s");
      }
      return Status::Ok();
    }
    if (rc == AVERROR_EOF || (rc != AVERROR(EAGAIN) && draining_)) {
      finished_ = true;
      if (frames_decoded_ == 0) return Status::Corrupt("no video frame could be decoded");
      *eof = true;
      return Status::Ok();
    }
    if (rc != AVERROR(EAGAIN)) {
      // A decode error on one frame: go on with the next packet, as the
      // ffmpeg tool does.
    }
    // The decoder wants input.
    rc = av_read_frame(format_, packet_);
    if (rc < 0) {
      if (PastDeadline()) continue;  // reported at the top of the loop
      // End of the file, or a read error part way (a truncated file): drain
      // what the decoder holds.
      draining_ = true;
      avcodec_send_packet(decoder_, nullptr);
      continue;
    }
    if (packet_->stream_index != stream_index_) {
      av_packet_unref(packet_);
      continue;
    }
    if (timestamp_offset != 0) {
      if (packet_->pts != AV_NOPTS_VALUE) packet_->pts += timestamp_offset;
      if (packet_->dts != AV_NOPTS_VALUE) packet_->dts += timestamp_offset;
    }
    decoder_->skip_frame = may_skip && may_skip(*packet_) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    rc = avcodec_send_packet(decoder_, packet_);
    av_packet_unref(packet_);
    // A packet the decoder rejects (damaged data) is skipped, not fatal.
    (void)rc;
  }
}

}  // namespace safeguard::video::internal
