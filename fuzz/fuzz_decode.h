// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The body shared by the per-format libFuzzer targets (fuzz_decode_<fmt>.cc).
// Each target feeds the input unchanged to DecodeImage, the same entry point
// uploads take, but only when its signature matches the target's format:
// that keeps each fuzzer, and the corpus it grows, inside one decoder.

#ifndef SAFEGUARD_FUZZ_FUZZ_DECODE_H_
#define SAFEGUARD_FUZZ_FUZZ_DECODE_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "safeguard/media/decode.h"

namespace safeguard::fuzz {

/// Decodes `data` if it is `format`, with small limits so that a declared
/// size can cost at most a few tens of MB. The last byte picks the options:
/// full decode, sampling to 64x64, or reduced-resolution luma (JPEG's DCT
/// scaling), so every decoder's interplay with the builder is exercised.
inline int FuzzDecode(media::ImageFormat format, const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  if (media::DetectFormat(bytes) != format) return 0;
  media::DecodeOptions options;
  options.limits.max_pixels = 4'000'000;
  options.limits.max_side = 16'384;
  options.limits.max_file_bytes = 8u << 20;
  switch (data[size - 1] % 3) {
    case 1:
      options.sample_to = 64;
      break;
    case 2:
      options.reduce_to = 64;
      options.luma_only = true;
      break;
    default:
      break;
  }
  media::Image image;
  const Status status = media::DecodeImage(bytes, options, &image);
  if (status.ok()) {
    // A successful decode must be self-consistent; anything else is a bug.
    const size_t expected = static_cast<size_t>(image.width) * image.height * image.channels;
    if (image.width < 1 || image.height < 1 || image.pixels.size() != expected) __builtin_trap();
  } else if (status.message().empty() || !image.pixels.empty()) {
    __builtin_trap();  // every error must say what went wrong and leave no pixels
  }
  return 0;
}

}  // namespace safeguard::fuzz

#endif  // SAFEGUARD_FUZZ_FUZZ_DECODE_H_
