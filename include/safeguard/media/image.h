// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Image is a decoded 8-bit raster: grey or RGB, row-major, tightly packed.
// Alpha is never kept: Safeguard hashes what the encoder stored in the
// colour channels, as the PDQ reference does.

#ifndef SAFEGUARD_MEDIA_IMAGE_H_
#define SAFEGUARD_MEDIA_IMAGE_H_

#include <cstdint>
#include <vector>

namespace safeguard::media {

/// Encoded image formats Safeguard recognises from their leading bytes.
enum class ImageFormat : uint8_t {
  kUnknown = 0,
  kJpeg,
  kPng,
  kWebp,
  kGif,
  kBmp,
  kTiff,
  kPnm,   ///< PBM, PGM, PPM (P1-P6)
  kHeif,  ///< HEIF/HEIC and AVIF (ISO-BMFF with an image brand)
};

/// A decoded image. A value type; thread-compatible.
struct Image {
  /// Width and height of `pixels`. Both are >= 1 after a successful decode.
  int width = 0;
  int height = 0;
  /// 1 (grey) or 3 (R, G, B). Each row is width * channels bytes, no padding.
  int channels = 0;
  /// Row-major samples, 8 bits each.
  std::vector<uint8_t> pixels;
  /// True when every pixel of the whole encoded image (not only the ones kept
  /// after sampling) has R == G == B, or the image is stored as grey. The PDQ
  /// reference then takes luma as the grey value itself rather than through
  /// the RGB weights, and so must we to stay bit-exact.
  bool all_grey = false;
  /// Size of the encoded image before any sampling or reduced-resolution
  /// decoding. Equal to width/height when neither happened.
  int source_width = 0;
  int source_height = 0;
  /// The format the bytes were decoded as.
  ImageFormat format = ImageFormat::kUnknown;
};

}  // namespace safeguard::media

#endif  // SAFEGUARD_MEDIA_IMAGE_H_
