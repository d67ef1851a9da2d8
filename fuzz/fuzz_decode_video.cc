// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libFuzzer target for the video decoder (docs/video.md): the input is a
// whole file in memory, decoded by both frame streams under small limits.
// Beyond not crashing, it checks the decoder's promises: every frame passed
// on is within the limits and has the size asked for, and a failure says why.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "safeguard/video/video_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace safeguard::video;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  VideoLimits limits;
  limits.max_width = 512;
  limits.max_height = 512;
  limits.max_frames = 64;
  limits.max_duration_seconds = 60;
  limits.max_decode_seconds = 2;
  FrameSampling sampling;
  sampling.seconds_between_frames = (size & 1) ? 0.0 : 0.5;
  sampling.skip_unneeded = (size & 2) != 0;
  VideoInfo info;
  safeguard::Status s = DecodeFrames(
      VideoInput::Memory(bytes), sampling, limits,
      [&](const RgbFrame& f) {
        if (f.width <= 0 || f.height <= 0 || f.width > 512 || f.height > 512 || f.stride < 3 * f.width) {
          __builtin_trap();
        }
        // Touch the first and the last pixel: the whole frame must be there.
        volatile uint8_t sink =
            f.rgb[0] ^ f.rgb[static_cast<size_t>(f.height - 1) * f.stride + 3 * f.width - 1];
        (void)sink;
        return safeguard::Status::Ok();
      },
      &info);
  if (!s.ok() && s.message().empty()) __builtin_trap();
  if (info.frames_output > info.frames_decoded) __builtin_trap();
  int64_t tmk_frames = 0;
  s = DecodeTmkFrames(
      VideoInput::Memory(bytes), limits,
      [&](const uint8_t* rgb) {
        volatile uint8_t sink = rgb[0] ^ rgb[kTmkFrameSide * kTmkFrameSide * 3 - 1];
        (void)sink;
        ++tmk_frames;
        return safeguard::Status::Ok();
      },
      nullptr);
  if (!s.ok() && s.message().empty()) __builtin_trap();
  return 0;
}
