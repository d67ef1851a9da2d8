// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Decoding untrusted image bytes. Every function here treats its input as
// hostile: sizes are checked against DecodeLimits before any allocation that
// depends on them, and damaged data yields kCorrupt, never a crash or a hang.
// All functions are thread-safe (no shared mutable state).

#ifndef SAFEGUARD_MEDIA_DECODE_H_
#define SAFEGUARD_MEDIA_DECODE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/media/image.h"

namespace safeguard::media {

/// Limits a platform sets on what it is willing to decode.
struct DecodeLimits {
  /// Largest width * height accepted. A file declaring more is refused with
  /// kTooLarge before its pixels are allocated. Default: 100 megapixels.
  uint64_t max_pixels = 100'000'000;
  /// Largest width or height accepted, whatever the pixel count.
  uint32_t max_side = 65'000;
  /// Largest encoded file accepted. Default: 100 MiB.
  uint64_t max_file_bytes = 100ull << 20;
};

/// How to decode.
struct DecodeOptions {
  DecodeLimits limits;
  /// When > 0 and the image is wider or taller than this, return exactly
  /// sample_to x sample_to pixels picked by nearest neighbour with source
  /// index floor(i * W / sample_to), ignoring aspect: the PDQ reference's
  /// resize to 512 x 512. Only the sampled rows are kept, so memory stays
  /// bounded whatever the image size. 0 keeps every pixel.
  int sample_to = 0;
  /// When > 0, a decoder that can decode at reduced resolution cheaply
  /// (JPEG DCT scaling) may return an image with both sides still >= this
  /// (or the full image when it is smaller). The result is close to, not
  /// identical with, the full-resolution decode. 0 = full resolution.
  int reduce_to = 0;
  /// When true a decoder may return grey luma instead of colour where that is
  /// cheaper (JPEG: the Y channel, skipping chroma). Used with reduce_to.
  bool luma_only = false;
};

/// Returns the format of `bytes` judged from its signature (magic bytes),
/// never from a file name. kUnknown when nothing matches.
ImageFormat DetectFormat(std::span<const uint8_t> bytes);

/// Returns a short lowercase name ("jpeg", "png", ...) for `format`.
std::string_view ImageFormatName(ImageFormat format);

/// Decodes `bytes` into *out. On error *out is left empty and the status is
/// kUnsupportedFormat, kCorrupt or kTooLarge with a message that names the
/// format and what was wrong.
Status DecodeImage(std::span<const uint8_t> bytes, const DecodeOptions& options, Image* out);

/// Reads the whole file at `path` into *out, refusing files larger than
/// `max_bytes` (kTooLarge) before reading them. Returns kNotFound or
/// kIoError with the path in the message on failure.
Status ReadFileBytes(const std::string& path, uint64_t max_bytes, std::vector<uint8_t>* out);

}  // namespace safeguard::media

#endif  // SAFEGUARD_MEDIA_DECODE_H_
