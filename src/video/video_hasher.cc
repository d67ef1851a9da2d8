// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "safeguard/video/video_hasher.h"

#include <openssl/evp.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "safeguard/media/decode.h"

namespace safeguard::video {
namespace {

using Clock = std::chrono::steady_clock;

struct MdDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// MD5 and SHA-256 of a file read in chunks (a video may not fit in memory).
Status DigestInput(const VideoInput& input, uint64_t max_bytes, VideoHashes* out) {
  std::unique_ptr<EVP_MD_CTX, MdDeleter> md5(EVP_MD_CTX_new()), sha(EVP_MD_CTX_new());
  if (!md5 || !sha || EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr) != 1 ||
      EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr) != 1) {
    return Status::Internal("cannot start the file digests");
  }
  auto update = [&](const void* p, size_t n) {
    EVP_DigestUpdate(md5.get(), p, n);
    EVP_DigestUpdate(sha.get(), p, n);
    out->file_bytes += n;
  };
  out->file_bytes = 0;
  if (input.path.empty()) {
    if (input.bytes.size() > max_bytes) {
      return Status::TooLarge("video is " + std::to_string(input.bytes.size()) +
                              " bytes, over the limit of " + std::to_string(max_bytes));
    }
    update(input.bytes.data(), input.bytes.size());
  } else {
    std::FILE* f = std::fopen(input.path.c_str(), "rb");
    if (f == nullptr) {
      if (errno == ENOENT) return Status::NotFound(input.path + ": no such file");
      return Status::IoError(input.path + ": " + std::strerror(errno));
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
    std::vector<char> buf(1 << 20);
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
      update(buf.data(), n);
      if (out->file_bytes > max_bytes) {
        return Status::TooLarge(input.path + ": over the limit of " + std::to_string(max_bytes) + " bytes");
      }
    }
    if (std::ferror(f)) return Status::IoError(input.path + ": read error");
  }
  unsigned int len = 0;
  EVP_DigestFinal_ex(md5.get(), out->md5.data(), &len);
  EVP_DigestFinal_ex(sha.get(), out->sha256.data(), &len);
  return Status::Ok();
}

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

Status HashVideoVpdq(const VideoInput& input, const VpdqOptions& options, const VideoLimits& limits,
                     std::vector<VpdqFrame>* frames, VideoInfo* info, VpdqTimings* timings) {
  frames->clear();
  FrameSampling sampling;
  sampling.seconds_between_frames = options.seconds_between_frames;
  sampling.skip_unneeded = options.skip_unneeded;
  sampling.width = options.width;
  sampling.height = options.height;
  std::vector<float> luma, scratch;
  double hash_seconds = 0;
  const Clock::time_point start = Clock::now();
  Status s = DecodeFrames(
      input, sampling, limits,
      [&](const RgbFrame& f) {
        const Clock::time_point t0 = Clock::now();
        const size_t n = static_cast<size_t>(f.width) * f.height;
        luma.resize(n);
        scratch.resize(pdq::ScratchFloats(f.height, f.width));
        for (int r = 0; r < f.height; ++r) {
          pdq::LumaFromRgb(f.rgb + static_cast<size_t>(r) * f.stride, 1, f.width,
                           luma.data() + static_cast<size_t>(r) * f.width);
        }
        VpdqFrame v;
        v.index = f.index;
        v.timestamp = f.timestamp;
        pdq::HashLuma(luma.data(), scratch.data(), f.height, f.width, &v.hash, &v.quality, nullptr);
        frames->push_back(v);
        hash_seconds += Since(t0);
        return Status::Ok();
      },
      info);
  if (timings != nullptr) {
    timings->hash = hash_seconds;
    timings->decode = Since(start) - hash_seconds;
  }
  return s;
}

Status HashVideo(const VideoInput& input, const VideoHashOptions& options, VideoHashes* out) {
  *out = VideoHashes();
  Status s = DigestInput(input, options.max_file_bytes, out);
  if (!s.ok()) return s;
  if (options.vpdq) {
    s = HashVideoVpdq(input, options.vpdq_options, options.limits, &out->vpdq, &out->info,
                      &out->vpdq_seconds);
    if (!s.ok()) return s;
  }
  if (options.tmk) {
    TmkBuilder builder;
    double feature = 0;
    VideoInfo info;
    const Clock::time_point start = Clock::now();
    s = DecodeTmkFrames(
        input, options.limits,
        [&](const uint8_t* rgb) {
          const Clock::time_point t0 = Clock::now();
          builder.AddFrame(rgb);
          feature += Since(t0);
          return Status::Ok();
        },
        &info);
    if (!s.ok()) return s;
    out->tmk = builder.Finish();
    out->tmk_feature_seconds = feature;
    out->tmk_decode_seconds = Since(start) - feature;
    if (!options.vpdq) out->info = info;
  }
  return Status::Ok();
}

bool LooksLikeImage(std::span<const uint8_t> head) {
  return media::DetectFormat(head) != media::ImageFormat::kUnknown;
}

}  // namespace safeguard::video
