// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "synthetic_video.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "safeguard/media/decode.h"

namespace safeguard::bench {
namespace {

namespace fs = std::filesystem;

// The deepest zoom: the window is this share of the widest 16:9 window the
// photo holds. Photos are first shrunk (area filter) so that this window is
// about the output size, so no frame is minified by more than 1/kMinZoom
// with the bilinear sampler below (more would alias and shimmer, which
// costs bits real footage does not spend).
constexpr double kMinZoom = 0.7;

std::string AvErr(int rc) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(rc, buf, sizeof(buf));
  return buf;
}

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // tightly packed RGB24
};

// Decodes `path` with the project's decoder and shrinks it (SWS_AREA) so
// that its widest window of the output aspect is at most out_w / kMinZoom
// pixels wide. Returns false when the photo cannot be decoded or is so small
// that even the widest window would be upscaled by more than 1/0.9.
bool LoadPhoto(const std::string& path, int out_w, int out_h, RgbImage* out) {
  std::vector<uint8_t> bytes;
  if (!media::ReadFileBytes(path, 256u << 20, &bytes).ok()) return false;
  media::Image image;
  if (!media::DecodeImage(bytes, media::DecodeOptions(), &image).ok()) return false;
  const double aspect = static_cast<double>(out_w) / out_h;
  const double widest = std::min<double>(image.width, image.height * aspect);
  if (widest < 0.9 * out_w) return false;
  const double shrink = std::min(1.0, (out_w / kMinZoom) / widest);
  out->width = std::max(1, static_cast<int>(std::lround(image.width * shrink)));
  out->height = std::max(1, static_cast<int>(std::lround(image.height * shrink)));
  const AVPixelFormat in_fmt = image.channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  SwsContext* sws = sws_getContext(image.width, image.height, in_fmt, out->width, out->height,
                                   AV_PIX_FMT_RGB24, SWS_AREA, nullptr, nullptr, nullptr);
  if (sws == nullptr) return false;
  // swscale may write a little past the last row in its vector code.
  out->rgb.assign(static_cast<size_t>(out->width) * out->height * 3 + 64, 0);
  const uint8_t* src[4] = {image.pixels.data(), nullptr, nullptr, nullptr};
  const int src_stride[4] = {image.width * image.channels, 0, 0, 0};
  uint8_t* dst[4] = {out->rgb.data(), nullptr, nullptr, nullptr};
  const int dst_stride[4] = {out->width * 3, 0, 0, 0};
  sws_scale(sws, src, src_stride, 0, image.height, dst, dst_stride);
  sws_freeContext(sws);
  return true;
}

// Photo files, largest first (the most texture), then by path, so every run
// picks the same ones.
std::vector<std::string> CandidatePhotos(const std::string& dir) {
  std::vector<std::pair<uintmax_t, std::string>> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".webp") continue;
    files.emplace_back(it->file_size(ec), it->path().string());
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> out;
  for (auto& f : files) out.push_back(std::move(f.second));
  return out;
}

// Renders one frame of a pan/zoom over `photo` into a YUV 4:2:0 frame
// (BT.601, limited range: what x264 and FFmpeg's decoders assume when a file
// says nothing). (x0, y0, win_w, win_h) is the window in photo pixels.
void RenderFrame(const RgbImage& photo, double x0, double y0, double win_w, double win_h, AVFrame* frame) {
  const int w = frame->width;
  const int h = frame->height;
  std::vector<int> xi(w), fx(w);
  for (int x = 0; x < w; ++x) {
    double sx = x0 + (x + 0.5) * win_w / w - 0.5;
    sx = std::clamp(sx, 0.0, photo.width - 1.001);
    xi[x] = static_cast<int>(sx);
    fx[x] = static_cast<int>((sx - xi[x]) * 256);
  }
  std::vector<int> rows[2] = {std::vector<int>(3 * w), std::vector<int>(3 * w)};
  const int pstride = photo.width * 3;
  for (int y = 0; y < h; y += 2) {
    for (int k = 0; k < 2; ++k) {
      const int yy = std::min(y + k, h - 1);
      double sy = y0 + (yy + 0.5) * win_h / h - 0.5;
      sy = std::clamp(sy, 0.0, photo.height - 1.001);
      const int iy = static_cast<int>(sy);
      const int fy = static_cast<int>((sy - iy) * 256);
      const uint8_t* r0 = photo.rgb.data() + static_cast<size_t>(iy) * pstride;
      const uint8_t* r1 = r0 + pstride;
      int* out = rows[k].data();
      for (int x = 0; x < w; ++x) {
        const uint8_t* a = r0 + 3 * xi[x];
        const uint8_t* b = r1 + 3 * xi[x];
        for (int c = 0; c < 3; ++c) {
          const int top = a[c] * (256 - fx[x]) + a[c + 3] * fx[x];
          const int bottom = b[c] * (256 - fx[x]) + b[c + 3] * fx[x];
          out[3 * x + c] = (top * (256 - fy) + bottom * fy + (1 << 15)) >> 16;
        }
      }
      uint8_t* yrow = frame->data[0] + static_cast<size_t>(yy) * frame->linesize[0];
      for (int x = 0; x < w; ++x) {
        const int r = out[3 * x], g = out[3 * x + 1], bl = out[3 * x + 2];
        yrow[x] = static_cast<uint8_t>(((66 * r + 129 * g + 25 * bl + 128) >> 8) + 16);
      }
    }
    uint8_t* urow = frame->data[1] + static_cast<size_t>(y / 2) * frame->linesize[1];
    uint8_t* vrow = frame->data[2] + static_cast<size_t>(y / 2) * frame->linesize[2];
    for (int x = 0; x < w; x += 2) {
      const int x1 = std::min(x + 1, w - 1);
      int rgb[3];
      for (int c = 0; c < 3; ++c) {
        rgb[c] =
            (rows[0][3 * x + c] + rows[0][3 * x1 + c] + rows[1][3 * x + c] + rows[1][3 * x1 + c] + 2) >> 2;
      }
      urow[x / 2] = static_cast<uint8_t>(((-38 * rgb[0] - 74 * rgb[1] + 112 * rgb[2] + 128) >> 8) + 128);
      vrow[x / 2] = static_cast<uint8_t>(((112 * rgb[0] - 94 * rgb[1] - 18 * rgb[2] + 128) >> 8) + 128);
    }
  }
}

// Adds noise uniform in [-amplitude, amplitude] to every luma sample
// (xorshift64, seeded the same every run, so clips are reproducible).
void AddGrain(int amplitude, uint64_t* state, AVFrame* frame) {
  const int span = 2 * amplitude + 1;
  for (int y = 0; y < frame->height; ++y) {
    uint8_t* row = frame->data[0] + static_cast<size_t>(y) * frame->linesize[0];
    for (int x = 0; x < frame->width; ++x) {
      uint64_t v = *state;
      v ^= v << 13;
      v ^= v >> 7;
      v ^= v << 17;
      *state = v;
      const int n = static_cast<int>((v >> 32) % span) - amplitude;
      row[x] = static_cast<uint8_t>(std::clamp(row[x] + n, 16, 235));
    }
  }
}

struct CodecDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct OutputDeleter {
  void operator()(AVFormatContext* f) const {
    if (f->pb != nullptr) avio_closep(&f->pb);
    avformat_free_context(f);
  }
};

// Sends `frame` (nullptr: flush) and writes every packet that comes out.
Status EncodeAndWrite(AVCodecContext* enc, AVFrame* frame, AVPacket* pkt, AVFormatContext* out,
                      AVStream* st) {
  int rc = avcodec_send_frame(enc, frame);
  if (rc < 0) return Status::Internal("encoder refused a frame: " + AvErr(rc));
  while (true) {
    rc = avcodec_receive_packet(enc, pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Status::Ok();
    if (rc < 0) return Status::Internal("encoding failed: " + AvErr(rc));
    av_packet_rescale_ts(pkt, enc->time_base, st->time_base);
    pkt->stream_index = st->index;
    rc = av_interleaved_write_frame(out, pkt);
    if (rc < 0) return Status::IoError("cannot write a packet: " + AvErr(rc));
  }
}

Status Generate(const SyntheticClipSpec& spec, const std::string& photos_dir, const std::string& path,
                std::string* note) {
  const int segments = (spec.seconds + spec.seconds_per_photo - 1) / spec.seconds_per_photo;
  // Pick the photos first (decoding each once to see its size), so a photo
  // directory without enough large photos fails before any encoding.
  std::vector<std::string> photos;
  for (const std::string& candidate : CandidatePhotos(photos_dir)) {
    RgbImage probe;
    if (LoadPhoto(candidate, spec.width, spec.height, &probe)) photos.push_back(candidate);
    if (static_cast<int>(photos.size()) == segments) break;
  }
  if (photos.empty()) {
    return Status::NotFound("no photo under " + photos_dir + " is large enough for " +
                            std::to_string(spec.width) + "x" + std::to_string(spec.height));
  }

  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  std::string encoder = "libx264";
  if (codec == nullptr) {
    codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    encoder = "mpeg4 (FALLBACK: this libavcodec has no libx264; not H.264)";
  }
  if (codec == nullptr) return Status::Unavailable("libavcodec has neither libx264 nor mpeg4");

  AVFormatContext* raw_out = nullptr;
  int rc = avformat_alloc_output_context2(&raw_out, nullptr, "mp4", path.c_str());
  if (rc < 0 || raw_out == nullptr) return Status::Internal("cannot create an mp4 muxer: " + AvErr(rc));
  std::unique_ptr<AVFormatContext, OutputDeleter> out(raw_out);

  std::unique_ptr<AVCodecContext, CodecDeleter> enc(avcodec_alloc_context3(codec));
  if (enc == nullptr) return Status::Internal("out of memory for the encoder");
  enc->width = spec.width;
  enc->height = spec.height;
  enc->time_base = AVRational{1, spec.fps};
  enc->framerate = AVRational{spec.fps, 1};
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->thread_count = 1;
  if (out->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  if (encoder == "libx264") {
    // GOP length, B-frames and scene cuts are left to x264 (FFmpeg's
    // wrapper passes x264's defaults through when g/bf are not set).
    av_dict_set(&opts, "preset", spec.preset.c_str(), 0);
    av_dict_set(&opts, "crf", "23", 0);
  } else {
    enc->gop_size = 250;
    enc->max_b_frames = 2;
    enc->bit_rate = static_cast<int64_t>(spec.width) * spec.height * spec.fps / 10;
  }
  rc = avcodec_open2(enc.get(), codec, &opts);
  av_dict_free(&opts);
  if (rc < 0) return Status::Internal("cannot open the encoder " + encoder + ": " + AvErr(rc));

  AVStream* st = avformat_new_stream(out.get(), nullptr);
  if (st == nullptr) return Status::Internal("cannot add a stream");
  rc = avcodec_parameters_from_context(st->codecpar, enc.get());
  if (rc < 0) return Status::Internal("cannot copy codec parameters: " + AvErr(rc));
  st->time_base = enc->time_base;
  st->avg_frame_rate = enc->framerate;
  rc = avio_open(&out->pb, path.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) return Status::IoError("cannot open " + path + ": " + AvErr(rc));
  rc = avformat_write_header(out.get(), nullptr);
  if (rc < 0) return Status::IoError("cannot write the mp4 header: " + AvErr(rc));

  std::unique_ptr<AVFrame, FrameDeleter> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketDeleter> pkt(av_packet_alloc());
  if (frame == nullptr || pkt == nullptr) return Status::Internal("out of memory for a frame");
  frame->format = AV_PIX_FMT_YUV420P;
  frame->width = spec.width;
  frame->height = spec.height;
  rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return Status::Internal("cannot allocate a frame: " + AvErr(rc));

  const double aspect = static_cast<double>(spec.width) / spec.height;
  const int total_frames = spec.seconds * spec.fps;
  const int frames_per_segment = spec.seconds_per_photo * spec.fps;
  RgbImage photo;
  int loaded_segment = -1;
  uint64_t noise_state = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < total_frames; ++i) {
    const int segment = i / frames_per_segment;
    if (segment != loaded_segment) {
      const std::string& p = photos[segment % photos.size()];
      if (!LoadPhoto(p, spec.width, spec.height, &photo))
        return Status::Corrupt("cannot load " + p + " again");
      loaded_segment = segment;
    }
    const int first = segment * frames_per_segment;
    const int count = std::min(frames_per_segment, total_frames - first);
    const double u = count > 1 ? static_cast<double>(i - first) / (count - 1) : 0;
    // Even segments zoom in and pan right and down, odd ones zoom out and
    // pan back, so that motion never stops.
    const bool even = segment % 2 == 0;
    const double zoom = even ? 1.0 - (1.0 - kMinZoom) * u : kMinZoom + (1.0 - kMinZoom) * u;
    const double widest = std::min<double>(photo.width, photo.height * aspect);
    const double win_w = widest * zoom;
    const double win_h = win_w / aspect;
    const double px = even ? 0.15 + 0.7 * u : 0.85 - 0.7 * u;
    const double py = even ? 0.3 + 0.4 * u : 0.7 - 0.4 * u;
    const double x0 = (photo.width - win_w) * px;
    const double y0 = (photo.height - win_h) * py;
    rc = av_frame_make_writable(frame.get());
    if (rc < 0) return Status::Internal("cannot write a frame: " + AvErr(rc));
    RenderFrame(photo, x0, y0, win_w, win_h, frame.get());
    if (spec.grain > 0) AddGrain(spec.grain, &noise_state, frame.get());
    frame->pts = i;
    Status s = EncodeAndWrite(enc.get(), frame.get(), pkt.get(), out.get(), st);
    if (!s.ok()) return s;
  }
  Status s = EncodeAndWrite(enc.get(), nullptr, pkt.get(), out.get(), st);
  if (!s.ok()) return s;
  rc = av_write_trailer(out.get());
  if (rc < 0) return Status::IoError("cannot finish the mp4: " + AvErr(rc));

  *note = encoder +
          (encoder == "libx264" ? ", preset " + spec.preset + ", crf 23, threads 1, x264 default GOP" : "") +
          (spec.grain > 0 ? "; luma noise +-" + std::to_string(spec.grain) + " levels" : "") + "; " +
          std::to_string(segments) + " scenes of " + std::to_string(spec.seconds_per_photo) + " s over " +
          std::to_string(photos.size()) + " photos:";
  for (const std::string& p : photos) *note += " " + fs::path(p).filename().string();
  return Status::Ok();
}

}  // namespace

std::string SyntheticClipName(const SyntheticClipSpec& spec) {
  return "synthetic-" + std::to_string(spec.width) + "x" + std::to_string(spec.height) + "-" +
         std::to_string(spec.fps) + "fps-" + std::to_string(spec.seconds) + "s-x264-" + spec.preset +
         (spec.grain > 0 ? "-grain" + std::to_string(spec.grain) : "") + ".mp4";
}

Status EnsureSyntheticClip(const SyntheticClipSpec& spec, const std::string& photos_dir,
                           const std::string& work_dir, std::string* path, std::string* note) {
  note->clear();
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  if (ec) return Status::IoError("cannot create " + work_dir + ": " + ec.message());
  *path = (fs::path(work_dir) / SyntheticClipName(spec)).string();
  // What the generator did is kept beside the clip, for later runs to print.
  const std::string note_path = *path + ".txt";
  if (fs::exists(*path, ec)) {
    if (std::FILE* f = std::fopen(note_path.c_str(), "rb")) {
      char buf[4096];
      const size_t n = std::fread(buf, 1, sizeof(buf), f);
      std::fclose(f);
      note->assign(buf, n);
      while (!note->empty() && note->back() == '\n') note->pop_back();
    }
    return Status::Ok();
  }
  const std::string tmp = *path + ".part.mp4";
  Status s = Generate(spec, photos_dir, tmp, note);
  if (!s.ok()) {
    fs::remove(tmp, ec);
    return s;
  }
  if (std::FILE* f = std::fopen(note_path.c_str(), "wb")) {
    std::fprintf(f, "%s\n", note->c_str());
    std::fclose(f);
  }
  fs::rename(tmp, *path, ec);
  if (ec) return Status::IoError("cannot rename " + tmp + ": " + ec.message());
  return Status::Ok();
}

}  // namespace safeguard::bench
